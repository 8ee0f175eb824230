"""Learning-rate schedule: linear warmup, then cosine decay to a floor."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class WarmupCosineSchedule:
    """Multiplier on the base learning rate as a function of the optimizer step.

    Steps [0, warmup_steps) ramp linearly from 1/(warmup_steps+1) up to 1 (never exactly 0, so
    step 0 still learns); afterwards a half cosine falls to `min_ratio` at `total_steps` and stays
    there. A pure function of the step, so resuming needs only the step count.
    """

    warmup_steps: int
    total_steps: int
    min_ratio: float = 0.1

    def __post_init__(self):
        if self.warmup_steps < 0 or self.total_steps < 1:
            raise ValueError("warmup_steps must be >= 0 and total_steps >= 1")
        if not 0.0 <= self.min_ratio <= 1.0:
            raise ValueError("min_ratio must be in [0, 1]")

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        decay_steps = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / decay_steps)
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
