"""Statistics over a dataset: streaming moments of state, action and wrench, and the model's
normalisation statistics built from them."""

from __future__ import annotations

from typing import Iterable, Optional

import numpy as np

from .meta import _EPISODE_DIR_RE, DatasetError, episode_dirs, load_meta
from .reader import load_episode_arrays

# Below this a dimension counts as constant in the normalisation statistics.
MIN_STD = 1e-6


class _RunningMoments:
    """Mean/variance/min/max merged chunk by chunk (Chan et al.'s parallel update), float64."""

    def __init__(self, dim: int):
        self.n = 0
        self.mean = np.zeros(dim)
        self.m2 = np.zeros(dim)
        self.min = np.full(dim, np.inf)
        self.max = np.full(dim, -np.inf)

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        x = x[np.isfinite(x).all(axis=1)]
        if len(x) == 0:
            return
        n_b = len(x)
        mean_b = x.mean(axis=0)
        m2_b = ((x - mean_b) ** 2).sum(axis=0)
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + delta ** 2 * (self.n * n_b / n)
        self.n = n
        self.min = np.minimum(self.min, x.min(axis=0))
        self.max = np.maximum(self.max, x.max(axis=0))

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / max(self.n, 1))


def compute_dataset_moments(root, episodes: Optional[Iterable[int]] = None) -> dict:
    """Streaming mean/std/min/max of state, action and wrench over every frame of the dataset.

    Returns {"state"|"action"|"wrench": {"mean", "std", "min", "max", "count"}} as float64
    numpy arrays; frames whose wrench is NaN (no sensor) are left out of the wrench moments.
    """
    meta = load_meta(root)
    dirs = episode_dirs(root)
    if episodes is not None:
        wanted = set(int(e) for e in episodes)
        dirs = [d for d in dirs if int(_EPISODE_DIR_RE.match(d.name).group(1)) in wanted]
    if not dirs:
        raise DatasetError(f"{root} holds no finished episodes")
    moments = {"state": _RunningMoments(meta.state_dim), "action": _RunningMoments(meta.action_dim),
               "wrench": _RunningMoments(meta.wrench_dim)}
    for d in dirs:
        arrays = load_episode_arrays(d)
        for key, m in moments.items():
            m.update(arrays[key])
    return {key: {"mean": m.mean, "std": m.std, "min": m.min, "max": m.max, "count": m.n}
            for key, m in moments.items()}


def compute_normalization_stats(root, episodes: Optional[Iterable[int]] = None):
    """Dataset moments as the model's NormalizationStats (MEAN_STD normalisation).

    A dimension that never changes (std below MIN_STD, e.g. a torque axis the contact cannot
    excite) gets std 1: it is only centred, instead of having float noise blown up by 1/eps.
    Without any measured wrench the wrench statistics are left out (None).
    """
    from fdvla_model.model.normalize import NormalizationStats

    m = compute_dataset_moments(root, episodes)

    def std(key):
        s = m[key]["std"].copy()
        s[s < MIN_STD] = 1.0
        return s.astype(np.float32)

    has_wrench = m["wrench"]["count"] > 0
    return NormalizationStats(
        state_mean=m["state"]["mean"].astype(np.float32), state_std=std("state"),
        action_mean=m["action"]["mean"].astype(np.float32), action_std=std("action"),
        wrench_mean=m["wrench"]["mean"].astype(np.float32) if has_wrench else None,
        wrench_std=std("wrench") if has_wrench else None,
    )
