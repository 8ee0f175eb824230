"""MEAN_STD normalisation of state, action and wrench, kept as buffers so checkpoints carry it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

_EPS = 1e-8


def _as_tensor(values) -> torch.Tensor:
    if torch.is_tensor(values):
        return values.detach().to(device="cpu", dtype=torch.float32)
    return torch.from_numpy(np.asarray(values, dtype=np.float32))


@dataclass
class NormalizationStats:
    """Per-dimension mean and std computed from the training data (numpy arrays or tensors)."""

    state_mean: np.ndarray | torch.Tensor
    state_std: np.ndarray | torch.Tensor
    action_mean: np.ndarray | torch.Tensor
    action_std: np.ndarray | torch.Tensor
    wrench_mean: np.ndarray | torch.Tensor | None = None
    wrench_std: np.ndarray | torch.Tensor | None = None

    @classmethod
    def identity(cls, state_dim: int, action_dim: int, wrench_dim: int = 6) -> NormalizationStats:
        return cls(
            state_mean=np.zeros(state_dim, np.float32), state_std=np.ones(state_dim, np.float32),
            action_mean=np.zeros(action_dim, np.float32), action_std=np.ones(action_dim, np.float32),
            wrench_mean=np.zeros(wrench_dim, np.float32), wrench_std=np.ones(wrench_dim, np.float32),
        )


class Normalizer(nn.Module):
    _NAMES = ("state", "action", "wrench")

    def __init__(self, state_dim: int, action_dim: int, wrench_dim: int) -> None:
        super().__init__()
        for name, dim in zip(self._NAMES, (state_dim, action_dim, wrench_dim)):
            self.register_buffer(f"{name}_mean", torch.zeros(dim))
            self.register_buffer(f"{name}_std", torch.ones(dim))

    def _apply(self, fn, recurse: bool = True):
        # Statistics stay float32 whatever the model's dtype: in bfloat16 a 0.5 m mean would be
        # off by millimetres after unnormalisation.
        super()._apply(fn, recurse)
        for name, buffer in self._buffers.items():
            if buffer is not None and buffer.dtype != torch.float32:
                self._buffers[name] = buffer.float()
        return self

    def set_stats(self, stats: NormalizationStats) -> None:
        for name in self._NAMES:
            mean, std = getattr(stats, f"{name}_mean"), getattr(stats, f"{name}_std")
            if mean is None or std is None:
                if name == "wrench":  # a dataset without a sensor: keep the identity
                    continue
                raise ValueError(f"normalisation stats lack {name} mean/std")
            for suffix, values in (("mean", mean), ("std", std)):
                buffer = getattr(self, f"{name}_{suffix}")
                tensor = _as_tensor(values).reshape(-1)
                if tensor.shape != buffer.shape:
                    raise ValueError(
                        f"{name}_{suffix} has {tuple(tensor.shape)} values, the model expects {tuple(buffer.shape)}"
                    )
                if suffix == "std" and bool((tensor < 0).any()):
                    raise ValueError(f"{name}_std must be non-negative")
                buffer.copy_(tensor.to(buffer.device))

    def stats(self) -> NormalizationStats:
        values = {f"{n}_{s}": getattr(self, f"{n}_{s}").detach().cpu().numpy().copy()
                  for n in self._NAMES for s in ("mean", "std")}
        return NormalizationStats(**values)

    def normalize(self, name: str, x: torch.Tensor) -> torch.Tensor:
        mean, std = getattr(self, f"{name}_mean"), getattr(self, f"{name}_std")
        return (x - mean.to(x.dtype)) / (std.to(x.dtype) + _EPS)

    def unnormalize(self, name: str, x: torch.Tensor) -> torch.Tensor:
        mean, std = getattr(self, f"{name}_mean"), getattr(self, f"{name}_std")
        return x * (std.to(x.dtype) + _EPS) + mean.to(x.dtype)
