"""One observation from the latest sample of every input, or the reason there is none.

Inputs arrive asynchronously (two cameras at 10-30 Hz, the robot state at 500 Hz, the wrench
with it). An observation is built only from camera frames whose stamps agree within
`sync_tolerance` and the newest robot state, none older than `max_age` at assembly time; otherwise the assembler says which input is missing, stale
or out of sync, so the node can count the skip instead of predicting from old data.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass
class ObservationConfig:
    cameras: tuple = ("kinect", "wrist")
    needs_wrench: bool = False
    #: Newest and oldest sample of an observation may differ by at most this (s).
    sync_tolerance: float = 0.05
    #: No sample may be older than this when the observation is assembled (s).
    max_age: float = 0.2


@dataclass
class Observation:
    stamp: float  # sampling time of the observation: the newest camera frame
    images: dict  # camera -> uint8 (H, W, 3)
    tcp_pose: object  # fdvla_msgs.types.Pose
    q: np.ndarray
    instruction: str
    wrench: Optional[np.ndarray] = None
    stamps: dict = field(default_factory=dict)  # input -> stamp of the sample used


class ObservationAssembler:
    """Thread-safe latest-sample store (callbacks write, the inference thread reads)."""

    def __init__(self, config: ObservationConfig):
        self.cfg = config
        self._lock = threading.Lock()
        self._images: dict = {}
        self._joints = None  # (stamp, q)
        self._tcp = None  # (stamp, Pose)
        self._wrench = None  # (stamp, wrench)
        self.instruction: Optional[str] = None

    # writers --------------------------------------------------------------------------
    def set_image(self, camera: str, stamp: float, rgb: np.ndarray) -> None:
        with self._lock:
            self._images[camera] = (stamp, rgb)

    def set_joints(self, stamp: float, q: np.ndarray) -> None:
        with self._lock:
            self._joints = (stamp, np.asarray(q, dtype=np.float64))

    def set_tcp(self, stamp: float, pose) -> None:
        with self._lock:
            self._tcp = (stamp, pose)

    def set_wrench(self, stamp: float, wrench) -> None:
        with self._lock:
            self._wrench = (stamp, np.asarray(wrench, dtype=np.float64))

    def set_instruction(self, text: str) -> None:
        with self._lock:
            self.instruction = text.strip() or None

    # reader ---------------------------------------------------------------------------
    def latest_tcp(self):
        """The newest TCP pose (or None)."""
        with self._lock:
            return None if self._tcp is None else self._tcp[1]

    def assemble(self, now: float) -> tuple[Optional[Observation], str]:
        """(observation, "") or (None, reason) with reason like 'stale:wrist' or 'unsynced'."""
        with self._lock:
            samples = {f"camera:{c}": self._images.get(c) for c in self.cfg.cameras}
            samples["joint_states"] = self._joints
            samples["tcp_pose"] = self._tcp
            if self.cfg.needs_wrench:
                samples["wrench"] = self._wrench
            instruction = self.instruction
        if instruction is None:
            return None, "no_instruction"
        for name, s in samples.items():
            if s is None:
                return None, f"missing:{name}"
        stamps = {name: float(s[0]) for name, s in samples.items()}
        for name, t in stamps.items():
            if now - t > self.cfg.max_age:
                return None, f"stale:{name}"
        # The cameras must show one moment; the robot state (500 Hz) is simply the newest
        # sample, read when the observation is assembled: the pose the next chunk starts from.
        cam_stamps = [t for name, t in stamps.items() if name.startswith("camera:")]
        if max(cam_stamps) - min(cam_stamps) > self.cfg.sync_tolerance:
            return None, "unsynced"
        cams = {c: samples[f"camera:{c}"] for c in self.cfg.cameras}
        obs = Observation(
            stamp=max(s[0] for s in cams.values()),
            images={c: s[1] for c, s in cams.items()},
            tcp_pose=samples["tcp_pose"][1], q=samples["joint_states"][1],
            instruction=instruction,
            wrench=samples["wrench"][1] if self.cfg.needs_wrench else None, stamps=stamps)
        return obs, ""
