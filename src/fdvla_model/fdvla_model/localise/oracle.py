"""An oracle localiser: the true target pose plus seeded Gaussian noise.

For ablations of the ViTaL split (learned localiser against a perfect or a known-noisy one): the
local policy's success as a function of how well the target was found, with the localisation
error a controlled variable instead of whatever the network happened to learn.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np


class OracleLocaliser:
    """`localise(true_position, true_yaw)` -> the truth with N(0, sigma^2) noise added: `noise_xy`
    (m, each of x and y), `noise_z` (m), `noise_yaw` (rad). Seeded: two oracles with one seed give
    the same sequence of answers."""

    def __init__(self, noise_xy: float = 0.0, noise_z: float = 0.0, noise_yaw: float = 0.0,
                 seed: Optional[int] = None):
        for name, value in (("noise_xy", noise_xy), ("noise_z", noise_z), ("noise_yaw", noise_yaw)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
            if value < 0:
                raise ValueError(f"{name} is a standard deviation and must be >= 0, got {value}")
        self.noise_xy = float(noise_xy)
        self.noise_z = float(noise_z)
        self.noise_yaw = float(noise_yaw)
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    @classmethod
    def with_noise(cls, noise: float, seed: Optional[int] = None) -> "OracleLocaliser":
        """One knob (`fdvla eval --localiser-noise`, `policy.localiser_noise`): `noise` m in x
        and y, half of it in z, and 0.05 rad of yaw per cm."""
        return cls(noise, noise / 2, 5.0 * noise, seed=seed)

    def localise(self, true_position, true_yaw: Optional[float] = None
                 ) -> tuple[np.ndarray, Optional[float]]:
        """(position (3,) m, yaw rad or None when `true_yaw` is None), noise added."""
        p = np.asarray(true_position, dtype=np.float64).reshape(-1)
        if p.shape != (3,) or not np.all(np.isfinite(p)):
            raise ValueError(f"true_position must be 3 finite numbers, got {true_position!r}")
        # Always draw four numbers, so the position noise of answer n does not depend on
        # whether earlier calls asked for a yaw.
        draw = self._rng.standard_normal(4)
        noisy = p + draw[:3] * np.array([self.noise_xy, self.noise_xy, self.noise_z])
        if true_yaw is None:
            return noisy, None
        yaw = float(true_yaw) + float(draw[3]) * self.noise_yaw
        return noisy, yaw

    def localise_target(self, target: dict) -> tuple[np.ndarray, Optional[float]]:
        """The same from a task's target as the sim reports it (`SimTask.target()`, the
        "target" of /sim/task_state); a target whose yaw is not seen (symmetry 0) gets none."""
        from fdvla_model.dataset.target_label import target_from_dict

        truth = target_from_dict(target)
        return self.localise(truth.position, truth.yaw if truth.yaw_symmetry else None)

    def __repr__(self) -> str:
        return (f"OracleLocaliser(noise_xy={self.noise_xy}, noise_z={self.noise_z}, "
                f"noise_yaw={self.noise_yaw}, seed={self.seed})")
