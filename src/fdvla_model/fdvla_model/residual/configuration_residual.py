"""The residual's configuration: what it reads, how far it may move a chunk, and SAC's settings.
Stored as JSON beside the weights, so a saved residual is self-contained."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

#: What the residual reads, in the localised target's frame (no image, no force: it corrects
#: where the frozen local policy goes from where the arm is relative to the target):
FEATURES = ("tcp_x", "tcp_y", "tcp_z",  # the TCP's position, / position_scale
            "step_x", "step_y", "step_z",  # the local chunk's first target less the TCP, / scale
            "local_time")  # s since the hand-over, / time_scale


@dataclass
class ResidualConfig:
    #: m: the largest offset per axis the residual adds to a chunk's positions (tanh-bounded);
    #: the controller's safety layer checks the corrected chunk like any other.
    max_offset: float = 0.004
    hidden: int = 64
    position_scale: float = 0.05  # m
    time_scale: float = 10.0  # s
    #: Initial log standard deviation of the exploration noise (before the tanh, in units of
    #: max_offset): the residual starts near zero and small, the frozen policy's behaviour.
    init_log_std: float = -1.0
    # SAC
    #: Initial entropy temperature: small against a reward of at most about 2 an episode (the
    #: task's progress plus the success bonus), so exploration does not drown the task at first.
    init_alpha: float = 0.05
    gamma: float = 0.9  # per decision (a chunk); an episode is 10-30 decisions
    tau: float = 0.01
    lr: float = 3e-4
    batch_size: int = 128
    buffer_size: int = 50_000
    #: Gradient steps per recorded decision (lock-step: the sim waits for them).
    updates_per_decision: int = 2
    #: Decisions recorded before the first update.
    warmup_decisions: int = 200
    format_version: int = 1

    def __post_init__(self):
        for name in ("max_offset", "hidden", "position_scale", "time_scale", "lr",
                     "batch_size", "buffer_size"):
            if not getattr(self, name) > 0:
                raise ValueError(f"residual.{name} must be positive, got {getattr(self, name)}")
        if not self.init_alpha > 0:
            raise ValueError(f"residual.init_alpha must be positive, got {self.init_alpha}")
        if not 0.0 <= self.gamma < 1.0 or not 0.0 < self.tau <= 1.0:
            raise ValueError("residual.gamma must be in [0, 1) and tau in (0, 1]")
        if self.max_offset > 0.02:
            raise ValueError(f"residual.max_offset {self.max_offset} m: a residual corrects by "
                             "millimetres (at most 0.02 m)")

    @property
    def feature_dim(self) -> int:
        return len(FEATURES)

    def to_json(self, path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def from_json(cls, path) -> "ResidualConfig":
        d = json.loads(Path(path).read_text())
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown residual config fields {unknown}")
        return cls(**d)
