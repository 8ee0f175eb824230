"""The residual's networks: a tanh-Gaussian actor (features -> an offset of at most `max_offset`
per axis) and SAC's twin critics. Only the actor is saved; weights are safetensors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .configuration_residual import ResidualConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
OFFSET_DIM = 3
LOG_STD_RANGE = (-5.0, 2.0)


class ResidualLoadError(ValueError):
    """A saved residual folder is missing, incomplete or corrupt."""


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                         nn.ReLU(), nn.Linear(hidden, outputs))


class ResidualActor(nn.Module):
    """features (B, F) -> a squashed Gaussian over offsets in [-1, 1]^3 (times max_offset)."""

    def __init__(self, config: ResidualConfig):
        super().__init__()
        self.config = config
        self.net = _mlp(config.feature_dim, config.hidden, 2 * OFFSET_DIM)
        last = self.net[-1]
        with torch.no_grad():  # start as no correction, with small exploration
            last.weight.mul_(1e-2)
            last.bias.zero_()
            last.bias[OFFSET_DIM:] = config.init_log_std

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.net(features).chunk(2, dim=-1)
        return mean, log_std.clamp(*LOG_STD_RANGE)

    def sample(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(action in [-1, 1]^3, its log-probability (B,)), reparameterised."""
        mean, log_std = self(features)
        std = log_std.exp()
        u = mean + std * torch.randn_like(mean)
        a = torch.tanh(u)
        # Gaussian log density of u, less the tanh's log |Jacobian|.
        logp = (-0.5 * ((u - mean) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        logp = logp - torch.log1p(-a.pow(2) + 1e-6).sum(-1)
        return a, logp

    @torch.no_grad()
    def offset(self, features, explore: bool = False) -> np.ndarray:
        """One decision: features (F,) -> offset (3,) in metres, the mean (or a sample)."""
        x = torch.as_tensor(np.asarray(features, dtype=np.float32)).reshape(1, -1)
        a = self.sample(x)[0] if explore else torch.tanh(self(x)[0])
        return a[0].numpy().astype(np.float64) * self.config.max_offset


class TwinCritic(nn.Module):
    """Q1, Q2 (features, action in [-1, 1]^3) -> (B,) each."""

    def __init__(self, config: ResidualConfig):
        super().__init__()
        self.q1 = _mlp(config.feature_dim + OFFSET_DIM, config.hidden, 1)
        self.q2 = _mlp(config.feature_dim + OFFSET_DIM, config.hidden, 1)

    def forward(self, features, actions) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([features, actions], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)


def save_residual(actor: ResidualActor, directory) -> Path:
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in actor.state_dict().items()}
    tmp = directory / (WEIGHTS_FILE + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": "fdvla-residual",
                                           "version": str(actor.config.format_version)})
    tmp.replace(directory / WEIGHTS_FILE)
    actor.config.to_json(directory / CONFIG_FILE)
    return directory


def load_residual(directory) -> ResidualActor:
    """The actor saved in `directory`, in eval mode; ResidualLoadError saying what is wrong."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(directory)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (directory / name).is_file():
            raise ResidualLoadError(f"{directory} is not a saved residual: no {name}")
    try:
        config = ResidualConfig.from_json(directory / CONFIG_FILE)
    except (ValueError, TypeError) as e:
        raise ResidualLoadError(f"{directory / CONFIG_FILE}: {e}") from None
    actor = ResidualActor(config)
    try:
        actor.load_state_dict(load_file(str(directory / WEIGHTS_FILE)))
    except (SafetensorError, RuntimeError) as e:
        raise ResidualLoadError(f"{directory / WEIGHTS_FILE} does not fit {CONFIG_FILE}: "
                                f"{str(e).splitlines()[0]}") from None
    return actor.eval()
