"""What one evaluated episode produced, and figures computed from its servo targets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class EpisodeRecord:
    task: str
    episode: int
    seed: int
    success: bool
    duration: float  # s of simulated (lock-step) or wall (real-time) time
    success_time: float | None = None
    progress: float = 0.0
    failure: str = ""
    fault: str = ""
    chunks: int = 0
    chunks_rejected: dict = field(default_factory=dict)  # the controller's refusals, by reason
    safety_stops: dict = field(default_factory=dict)  # the controller's safety stops, by reason
    counters: dict = field(default_factory=dict)  # e.g. chunk_retimed, reach_limited
    #: The task's hidden physical parameters (physics "force"; empty otherwise) and the
    #: episode's contact force: peak, mean in contact, share inside the task's band, contact lost.
    hidden: dict = field(default_factory=dict)
    force_quality: dict = field(default_factory=dict)
    boundary_jerk: float = float("nan")  # m/s^3, p95 of |jerk| of the servo target at chunk switches
    jerk: float = float("nan")  # m/s^3, p95 of |jerk| of the servo target elsewhere
    # time series for the plots (not written to the JSON summary)
    wrench_t: list = field(default_factory=list)
    wrench: list = field(default_factory=list)  # measured (6,) rows, or empty on sensorless
    predicted_t: list = field(default_factory=list)
    predicted: list = field(default_factory=list)  # the force decoder's (6,) rows

    def summary(self) -> dict:
        d = asdict(self)
        for k in ("wrench_t", "wrench", "predicted_t", "predicted"):
            d.pop(k)
        return d


def target_jerk(times: np.ndarray, positions: np.ndarray, switch_times, window: float = 0.05):
    """(p95 |jerk| within `window` of a chunk switch, p95 |jerk| elsewhere) of a target path."""
    if len(times) < 8:
        return float("nan"), float("nan")
    dt = float(np.median(np.diff(times)))
    jerk = np.linalg.norm(np.diff(positions, n=3, axis=0), axis=1) / dt**3
    tj = times[3:]
    near = np.zeros(len(tj), bool)
    for s in switch_times:
        near |= np.abs(tj - s) <= window
    p95 = lambda a: float(np.percentile(a, 95)) if len(a) else float("nan")  # noqa: E731
    return p95(jerk[near]), p95(jerk[~near])
