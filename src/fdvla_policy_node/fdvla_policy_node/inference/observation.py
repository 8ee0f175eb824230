"""One observation from the latest sample of every input, or the reason there is none.

Inputs arrive asynchronously (two cameras at 10-30 Hz, the robot state at 500 Hz, the wrench
with it). An observation is built only from camera frames whose stamps agree within
`sync_tolerance` and the newest robot state, none older than `max_age` at assembly time; otherwise the assembler says which input is missing, stale
or out of sync, so the node can count the skip instead of predicting from old data.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass
class ObservationConfig:
    cameras: tuple = ("kinect", "wrist")
    needs_wrench: bool = False
    #: Wrench readings an observation carries, `wrench_spacing` s apart (PolicyInfo.force_history).
    wrench_history: int = 1
    wrench_spacing: float = 0.1
    #: Newest and oldest sample of an observation may differ by at most this (s).
    sync_tolerance: float = 0.05
    #: No sample may be older than this when the observation is assembled (s).
    max_age: float = 0.2
    #: Cameras whose depth (of the same frame as the image) and calibration observations carry
    #: when they have them: a frame without its depth yet goes without (the ViTaL agent waits).
    depth_cameras: tuple = ()


@dataclass
class Observation:
    stamp: float  # sampling time of the observation: the newest camera frame
    images: dict  # camera -> uint8 (H, W, 3)
    tcp_pose: object  # fdvla_msgs.types.Pose
    q: np.ndarray
    instruction: str
    wrench: Optional[np.ndarray] = None  # (6,), or (K, 6) oldest first with a force history
    stamps: dict = field(default_factory=dict)  # input -> stamp of the sample used
    #: camera -> float32 (H, W) depth of the same frame as its image (cameras asked for depth)
    depths: dict = field(default_factory=dict)
    #: camera -> (CameraIntrinsics, 4x4 pose of its optical frame in base), where known
    calibrations: dict = field(default_factory=dict)


class WrenchHistory:
    """The last `samples` wrench readings `spacing` s apart, ending at the newest, as a policy
    with a force history reads them (the training frames' `wrench_window`): each is the newest
    reading at or before its time, and the oldest reading kept stands in for times before it.

    Time going backwards (a new episode on a reset clock) starts the history afresh.
    """

    def __init__(self, samples: int, spacing: float):
        if int(samples) < 1 or not spacing > 0:
            raise ValueError("a wrench history needs at least one sample and a positive spacing")
        self.samples, self.spacing = int(samples), float(spacing)
        self._span = (self.samples - 1) * self.spacing
        self._stamps: deque = deque()
        self._wrenches: deque = deque()

    def add(self, stamp: float, wrench) -> None:
        stamp = float(stamp)
        if self._stamps and stamp < self._stamps[-1]:
            self.clear()
        self._stamps.append(stamp)
        self._wrenches.append(np.asarray(wrench, dtype=np.float64))
        # Keep one reading at or before the window's oldest time: it answers for that time.
        while len(self._stamps) > 1 and self._stamps[1] <= stamp - self._span:
            self._stamps.popleft()
            self._wrenches.popleft()

    def clear(self) -> None:
        self._stamps.clear()
        self._wrenches.clear()

    def window(self) -> Optional[np.ndarray]:
        """(samples, 6) ending at the newest reading, or None before the first."""
        if not self._stamps:
            return None
        stamps = list(self._stamps)
        end = stamps[-1]
        rows = []
        for i in range(self.samples):
            t = end - (self.samples - 1 - i) * self.spacing
            j = max(bisect.bisect_right(stamps, t + 1e-9) - 1, 0)
            rows.append(self._wrenches[j])
        return np.stack(rows)


class ObservationAssembler:
    """Thread-safe latest-sample store (callbacks write, the inference thread reads)."""

    def __init__(self, config: ObservationConfig):
        self.cfg = config
        self._lock = threading.Lock()
        self._images: dict = {}
        self._joints = None  # (stamp, q)
        self._tcp = None  # (stamp, Pose)
        self._wrench = None  # (stamp, wrench)
        self._wrench_history = (WrenchHistory(config.wrench_history, config.wrench_spacing)
                                if config.needs_wrench and config.wrench_history > 1 else None)
        self.instruction: Optional[str] = None
        self._depths: dict = {}  # camera -> (stamp, depth)
        self._intrinsics: dict = {}  # camera -> CameraIntrinsics
        self._extrinsics: dict = {}  # camera -> 4x4

    # writers --------------------------------------------------------------------------
    def set_image(self, camera: str, stamp: float, rgb: np.ndarray) -> None:
        with self._lock:
            self._images[camera] = (stamp, rgb)

    def set_depth(self, camera: str, stamp: float, depth: np.ndarray) -> None:
        with self._lock:
            self._depths[camera] = (stamp, depth)

    def set_intrinsics(self, camera: str, intrinsics) -> None:
        with self._lock:
            self._intrinsics[camera] = intrinsics

    def set_extrinsics(self, camera: str, pose_in_base: np.ndarray) -> None:
        with self._lock:
            self._extrinsics[camera] = np.asarray(pose_in_base, dtype=np.float64)

    def set_joints(self, stamp: float, q: np.ndarray) -> None:
        with self._lock:
            self._joints = (stamp, np.asarray(q, dtype=np.float64))

    def set_tcp(self, stamp: float, pose) -> None:
        with self._lock:
            self._tcp = (stamp, pose)

    def set_wrench(self, stamp: float, wrench) -> None:
        with self._lock:
            self._wrench = (stamp, np.asarray(wrench, dtype=np.float64))
            if self._wrench_history is not None:
                self._wrench_history.add(stamp, wrench)

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
                if self._wrench is not None and self._wrench_history is not None:
                    samples["wrench"] = (self._wrench[0], self._wrench_history.window())
            instruction = self.instruction
            depths = {c: self._depths.get(c) for c in self.cfg.depth_cameras}
            calibrations = {c: (self._intrinsics[c], self._extrinsics[c])
                            for c in self.cfg.depth_cameras
                            if c in self._intrinsics and c in self._extrinsics}
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
            wrench=samples["wrench"][1] if self.cfg.needs_wrench else None, stamps=stamps,
            calibrations=calibrations,
            # The depth of the very frame (the camera stamps both alike), never an older one.
            depths={c: d[1] for c, d in depths.items()
                    if d is not None and c in cams and abs(d[0] - cams[c][0]) < 1e-6})
        return obs, ""
