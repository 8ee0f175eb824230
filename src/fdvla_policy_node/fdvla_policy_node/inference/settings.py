"""The policy's settings: the one source of their defaults.

The setup YAMLs (`policy:` section) and `--set policy.KEY=VALUE` override them by the same flat
keys; the chunking keys (threshold, guidance, ...) fill `chunking`, the rest this class.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Optional

from .chunking import SchedulerConfig

LOCALISERS = ("learned", "oracle")


@dataclass
class PolicySettings:
    checkpoint: str = "default"
    instruction: Optional[str] = None
    device: str = "auto"  # auto: CUDA (bf16) when present, else CPU (fp32)
    #: Initial flow noise scale: 1 samples the learned distribution, 0 integrates from its
    #: centre (a deterministic chunk).
    noise_scale: float = 1.0
    #: s: the camera frames of one observation agree within this (two free-running 10 Hz
    #: cameras are up to one period apart, plus jitter).
    sync_tolerance: float = 0.15
    #: s: no input older than this (else no chunk, counted): a 10 Hz frame is up to 0.1 s old
    #: when the next arrives, plus rendering and transport on a loaded machine.
    max_age: float = 0.3
    warmup: int = 3  # inferences before the node reports ready
    #: CPU threads for torch (0: torch's default); the servo loop needs a core.
    torch_threads: int = 1
    #: SCHED_FIFO priority of the inference thread on CPU with one torch thread: above the
    #: cameras, DDS and executors (which otherwise take its core mid-chunk), below the servo
    #: thread (FDVLA_RT_PRIORITY, 80; capped one below it). It runs ~40 ms a chunk, about once
    #: a second, and sleeps in between. 0, FDVLA_RT_PRIORITY=0 or no permission: normal
    #: scheduling.
    inference_priority: int = 10
    seed: int = 0
    #: s added to every inference before its chunk is published: tests robustness to a slower
    #: model or GPU (`fdvla eval --latency`), never needed in a deployment.
    extra_latency: float = 0.0
    #: False on a setup without a force/torque sensor (no /wrench anywhere).
    wrench_available: bool = True
    setup: str = ""  # the robot setup's name, for messages
    #: ViTaL checkpoints: "learned" (the checkpoint's localiser) or "oracle" (simulation only:
    #: the sim's true target plus `localiser_noise`, an ablation; `fdvla eval --localiser`).
    localiser: str = "learned"
    localiser_noise: float = 0.0  # m (OracleLocaliser.with_noise)
    chunking: SchedulerConfig = field(default_factory=SchedulerConfig)

    def __post_init__(self):
        if not 0.0 <= float(self.extra_latency) <= 10.0:
            raise ValueError(f"policy.extra_latency must be in [0, 10] s, got {self.extra_latency}")
        if self.localiser not in LOCALISERS:
            raise ValueError(f"policy.localiser must be one of {', '.join(LOCALISERS)}, got "
                             f"{self.localiser!r}")
        if not 0.0 <= float(self.localiser_noise) <= 1.0:
            raise ValueError("policy.localiser_noise is a standard deviation in m, in [0, 1], "
                             f"got {self.localiser_noise}")
        if not 0 <= int(self.inference_priority) <= 98:
            raise ValueError("policy.inference_priority must be in [0, 98] (below the servo "
                             f"thread's), got {self.inference_priority}")

    @classmethod
    def keys(cls) -> list[str]:
        own = [f.name for f in fields(cls) if f.name != "chunking"]
        return sorted(own + [f.name for f in fields(SchedulerConfig)])

    @classmethod
    def from_dict(cls, d: dict) -> "PolicySettings":
        d = dict(d or {})
        unknown = sorted(set(d) - set(cls.keys()))
        if unknown:
            raise ValueError(f"unknown policy settings {unknown}; known: {cls.keys()}")
        chunk_keys = {f.name for f in fields(SchedulerConfig)}
        chunking = SchedulerConfig(**{k: d.pop(k) for k in list(d) if k in chunk_keys})
        return cls(**d, chunking=chunking)

    def to_dict(self) -> dict:
        """Flat keys, as in the YAML."""
        d = asdict(self)
        return {**{k: v for k, v in d.items() if k != "chunking"}, **d["chunking"]}
