"""Tiny FD-VLA checkpoints made in the tests (random weights; the action normaliser pins the
chunk near a chosen pose, so the controller's safety checks accept it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fdvla_msgs.types import Pose
from fdvla_model.action_space import action_vector
from fdvla_model.model import FDVLAConfig, FDVLAPolicy, NormalizationStats


def make_checkpoint(directory: Path, target: Pose, variant: str = "fdvla", chunk_size: int = 10,
                    fps: float = 10.0, camera_hw=(48, 64), spread: float = 1e-4,
                    cameras=("kinect", "wrist"), **config) -> Path:
    """`target`: where the chunk's poses are pinned, in the policy's frame (`config`, e.g.
    action_frame="target" for a ViTaL local policy: relative to the target)."""
    cfg = FDVLAConfig.tiny(variant=variant, chunk_size=chunk_size, state_dim=15, action_dim=9,
                           camera_names=list(cameras), num_steps=2, **config)
    policy = FDVLAPolicy(cfg)
    stats = NormalizationStats.identity(15, 9)
    stats.action_mean = action_vector(target).astype(np.float32)
    stats.action_std = np.full(9, spread, np.float32)
    stats.wrench_std = np.full(6, 10.0, np.float32)
    policy.set_normalization_stats(stats)
    policy.save(directory)
    h, w = camera_hw
    cams = {c: {"height": h, "width": w, "channels": 3, "dtype": "uint8", "encoding": "rgb"}
            for c in cameras}
    (directory / "dataset_meta.json").write_text(json.dumps({"fps": fps, "cameras": cams}))
    return directory


def sim_start_pose(task: str = "button", seed: int = 0, sensorless: bool = False) -> Pose:
    from fdvla_drivers.robot.sim_backend import SimRobotBackend

    return SimRobotBackend(task, seed=seed, realtime=False,
                           has_wrench=not sensorless).read_state().tcp_pose


def below(pose: Pose, dz: float) -> Pose:
    return Pose(pose.position + np.array([0.0, 0.0, -dz]), pose.quat_xyzw)
