"""Asynchronous chunking: when to start the next inference, and how the new chunk is joined to
the one the controller is executing.

The controller executes the current chunk while the next inference runs; the next inference
starts once the executed share of the current chunk passes `threshold` (SmolVLA's async
inference uses about 0.5-0.7), or `contact_threshold` while the arm lags the plan by more than
`contact_lead`: something holds it back (a press on its stop), so the plan, made before that
contact, keeps pushing deeper until the next one replaces it. On arrival the controller replaces the chunk from the current
time on (its latency compensation samples the chunk at now + action_latency). The join:

- `none`: the new chunk as predicted (the controller's acceleration limiter smooths the switch);
- `blend`: cross-fade from the old chunk to the new one over `blend_time` after the switch;
- `rtc`: real-time-chunking guidance (runner.Guide): the steps that execute during the inference
  are inpainted from the old chunk, with a decaying weight over the rest of the overlap.

Both joins assume the arm executes the old chunk. When it does not (the controller refused the
chunk, a reset or a stop moved or held the arm), the old chunk is dropped before the next
inference (`drop_if_not_followed`), which then starts from what the observation shows: otherwise
every new chunk would be inpainted from a plan the arm is not following, and refused in turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from fdvla_msgs.types import chunk_delay

from .runner import Guide

GUIDANCE = ("none", "blend", "rtc")


@dataclass
class SchedulerConfig:
    threshold: float = 0.5  # executed share of the current chunk that starts the next inference
    guidance: str = "rtc"  # none | blend | rtc
    blend_time: float = 0.3  # s of cross-fade (blend)
    #: RTC soft mask: the weight decays as exp(-k / rtc_decay_steps) after the committed prefix.
    rtc_decay_steps: float = 3.0
    #: Least-squares polynomial of this degree through each action dimension over the chunk's
    #: time (0: off): removes the step-to-step jitter of few-step flow sampling from a small
    #: model, which the controller's speed check would otherwise reject.
    smooth_degree: int = 3
    #: m: the arm follows the old chunk while the measured TCP is this close to the chunk's
    #: position at the observation's time (the sim controller refuses chunks that start 5 cm away).
    follow_tolerance: float = 0.05
    #: Re-plan sooner in hard contact: at this executed share while the measured TCP lags the
    #: plan by more than contact_lead (m). The sim's servo (4000 N/m) lags 6.5 mm at ~26 N,
    #: past the button's latch (~23 N): the presses that latched while a chunk made before
    #: the latch went on descending (issue 15). Free motion lags under 3 mm.
    contact_threshold: float = 0.25
    contact_lead: float = 0.0065

    def __post_init__(self):
        for name in ("threshold", "contact_threshold"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"policy.{name} must be in (0, 1], got {getattr(self, name)}")
        if not self.contact_lead > 0.0:
            raise ValueError(f"policy.contact_lead must be positive (m), got {self.contact_lead}")
        if self.guidance not in GUIDANCE:
            raise ValueError(f"policy.guidance must be one of {GUIDANCE}, got {self.guidance!r}")


def smooth(actions: np.ndarray, degree: int) -> np.ndarray:
    """Each column replaced by its least-squares polynomial of `degree` over the chunk index."""
    n = len(actions)
    if degree <= 0 or n <= degree + 1:
        return actions
    x = np.linspace(-1.0, 1.0, n)
    basis = np.polynomial.legendre.legvander(x, degree)  # well conditioned
    coef, *_ = np.linalg.lstsq(basis, actions, rcond=None)
    return basis @ coef


def resample(times: np.ndarray, actions: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Linear interpolation of action rows (held at the ends)."""
    return np.stack([np.interp(at, times, actions[:, j]) for j in range(actions.shape[1])], axis=1)


class ChunkScheduler:
    def __init__(self, config: SchedulerConfig, action_dt: float):
        self.cfg = config
        self.dt = action_dt
        self.stamp: Optional[float] = None  # current chunk: observation stamp, times, actions
        self.times: Optional[np.ndarray] = None
        self.actions: Optional[np.ndarray] = None
        self.latency_estimate = 0.0  # s, observation -> chunk at the controller (EMA)

    # ---------------------------------------------------------------- timing
    def executed_share(self, now: float) -> float:
        if self.stamp is None:
            return 1.0
        return float(np.clip((now - self.stamp) / max(self.times[-1], 1e-9), 0.0, np.inf))

    def should_infer(self, now: float, tcp_position=None) -> bool:
        """Time for the next inference? `tcp_position`: the latest measured TCP position (None:
        the plain threshold)."""
        if self.stamp is None:
            return True
        share = self.executed_share(now)
        if share >= self.cfg.threshold:
            return True
        return share >= self.cfg.contact_threshold and tcp_position is not None \
            and self.lag(now, tcp_position) > self.cfg.contact_lead

    def lag(self, at: float, tcp_position) -> float:
        """How far (m) the measured TCP is from where the current plan has it at `at`."""
        planned = resample(self.stamp + self.times, self.actions, np.array([at]))[0, :3]
        return float(np.linalg.norm(planned - np.asarray(tcp_position, dtype=np.float64)))

    def observe_latency(self, seconds: float) -> None:
        a = 0.3 if self.latency_estimate > 0 else 1.0
        self.latency_estimate = (1 - a) * self.latency_estimate + a * float(seconds)

    # ---------------------------------------------------------------- joining
    def drop_if_not_followed(self, obs_stamp: float, tcp_position) -> bool:
        """Forget the old chunk if the arm is not executing it (see the module's text); True if
        it was dropped."""
        if self.stamp is None or self.lag(obs_stamp, tcp_position) <= self.cfg.follow_tolerance:
            return False
        self.reset()
        return True

    def _old_on_grid(self, obs_stamp: float, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(old actions on the new chunk's grid, mask of the grid points the old chunk covers)."""
        grid = obs_stamp + np.arange(n) * self.dt
        old_abs = self.stamp + self.times
        covered = grid <= old_abs[-1] + 1e-9
        return resample(old_abs, self.actions, grid), covered

    def guide(self, obs_stamp: float, n: int) -> Optional[Guide]:
        """The RTC guide for an inference on an observation taken at `obs_stamp` (or None)."""
        if self.cfg.guidance != "rtc" or self.stamp is None:
            return None
        old, covered = self._old_on_grid(obs_stamp, n)
        k = np.arange(n) * self.dt
        committed = k < self.latency_estimate
        after = np.maximum(k - self.latency_estimate, 0.0) / self.dt
        w = np.where(committed, 1.0, np.exp(-after / max(self.cfg.rtc_decay_steps, 1e-6)))
        w = np.where(covered, w, 0.0)
        return Guide(actions=old, weights=w) if covered.any() else None

    def join(self, obs_stamp: float, actions: np.ndarray) -> np.ndarray:
        """The chunk to publish: smoothed (smooth_degree), then `blend` cross-fades from the old
        chunk; other modes pass."""
        actions = smooth(np.asarray(actions, dtype=np.float64), self.cfg.smooth_degree)
        if self.cfg.guidance != "blend" or self.stamp is None:
            return actions
        old, covered = self._old_on_grid(obs_stamp, len(actions))
        k = np.arange(len(actions)) * self.dt
        a = np.clip((k - self.latency_estimate) / max(self.cfg.blend_time, 1e-6), 0.0, 1.0)
        a = np.where(covered, a, 1.0)[:, None]
        return (1 - a) * old + a * actions

    def accept(self, obs_stamp: float, actions: np.ndarray, published_at: float) -> float:
        """Make the published chunk current, on the timeline the controller executes it
        (fdvla_msgs.types.chunk_delay: a chunk that finds the arm holding starts from it);
        returns the idle time before it (s): how long the arm had been without a chunk."""
        idle, idle_since = 0.0, -np.inf  # no chunk: the arm holds since before the observation
        if self.stamp is not None:
            end = self.stamp + self.times[-1]
            idle = max(0.0, published_at - end)
            idle_since = end if end < published_at else None
        self.stamp = obs_stamp + chunk_delay(obs_stamp, published_at, idle_since)
        self.times = np.arange(len(actions)) * self.dt
        self.actions = np.asarray(actions, dtype=np.float64)
        return idle

    def reset(self) -> None:
        self.stamp = self.times = self.actions = None
