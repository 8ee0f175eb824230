"""A small synthetic dataset a model can learn (a TCP pressing into a spring surface), for
tests and demos."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.spatial.transform import Rotation

from fdvla_model.action_space import poses_to_vectors

from .meta import DEFAULT_CAMERAS, DatasetMeta, create_dataset
from .writer import EpisodeWriter


@dataclass(frozen=True)
class SyntheticSurface:
    """A horizontal contact surface the synthetic TCP presses into (a spring, N/m)."""

    height: float = 0.20
    stiffness: float = 1500.0
    friction: float = 0.3


def _synthetic_trajectory(rng: np.random.Generator, length: int, fps: float, surface: SyntheticSurface):
    """Smooth TCP path that dips below the surface part of the time, with its joint angles."""
    t = np.arange(length + 1) / fps
    centre = np.array([0.45, 0.0, surface.height]) + rng.uniform([-0.05, -0.1, 0.0], [0.05, 0.1, 0.0])
    pos = np.repeat(centre[None], len(t), axis=0)
    for axis, amp in ((0, 0.06), (1, 0.06)):
        for _ in range(2):
            w = rng.uniform(0.3, 1.2)
            pos[:, axis] += amp / 2 * np.sin(2 * np.pi * w * t / 4 + rng.uniform(0, 2 * np.pi))
    # z: a slow dip through the surface so part of every episode is in contact
    pos[:, 2] += 0.025 * np.cos(2 * np.pi * t / (length / fps) + rng.uniform(0, 2 * np.pi)) + 0.005
    tool_down = Rotation.from_euler("x", np.pi)
    yaw = 0.3 * np.sin(2 * np.pi * t / (length / fps) * rng.uniform(0.5, 1.0) + rng.uniform(0, 2 * np.pi))
    tilt = 0.1 * np.sin(2 * np.pi * t / (length / fps) * rng.uniform(0.5, 1.0) + rng.uniform(0, 2 * np.pi))
    rot = Rotation.from_euler("zy", np.stack([yaw, tilt], axis=1)) * tool_down
    # joints: a fixed smooth (not kinematic) function of the pose, enough to be consistent
    mix = np.array([[2.0, 1.0, 0.0, 0.0, 0.0, 0.0],
                    [-1.0, 0.0, 3.0, 0.0, 0.0, 0.0],
                    [1.5, 0.0, -2.0, 0.0, 0.0, 0.0],
                    [0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
                    [0.0, 1.0, 0.0, 0.0, 1.0, 0.0],
                    [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]])
    features = np.concatenate([pos - centre, np.stack([yaw, tilt, yaw - tilt], axis=1)], axis=1)
    q = np.array([0.0, -1.57, 1.57, -1.57, -1.57, 0.0]) + features @ mix.T
    return t, pos, rot, q


def _synthetic_wrench(pos: np.ndarray, vel: np.ndarray, surface: SyntheticSurface) -> np.ndarray:
    """Spring contact normal force plus Coulomb-like friction opposing the sliding velocity."""
    depth = np.clip(surface.height - pos[:, 2], 0.0, None)
    fz = surface.stiffness * depth
    v_xy = vel[:, :2]
    speed = np.linalg.norm(v_xy, axis=1, keepdims=True)
    f_xy = -surface.friction * fz[:, None] * v_xy / np.sqrt(speed ** 2 + 1e-4)
    force = np.concatenate([f_xy, fz[:, None]], axis=1)
    lever = np.array([0.0, 0.0, -0.05])  # contact point 5 cm below the TCP
    torque = np.cross(lever, force)
    return np.concatenate([force, torque], axis=1)


def _render_blob(h: int, w: int, cy: np.ndarray, cx: np.ndarray, radius: float, color) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d2 = (yy - cy) ** 2 + (xx - cx) ** 2
    alpha = np.exp(-d2 / (2 * radius ** 2))[..., None]
    background = np.full((h, w, 3), 30, dtype=np.float32)
    img = background * (1 - alpha) + np.asarray(color, dtype=np.float32) * alpha
    return np.clip(img, 0, 255).astype(np.uint8)


def _render_synthetic_frames(pos, rot, wrench, image_sizes: dict, surface: SyntheticSurface) -> dict:
    """Scene camera: a dot at the TCP's xy, larger when higher, redder when pressing.
    Wrist camera: a dot that moves with the tool's yaw and height above the surface."""
    frames = {}
    fz = wrench[:, 2]
    yaw = rot.as_euler("zyx")[:, 0]
    for cam, (h, w) in image_sizes.items():
        out = np.empty((len(pos), h, w, 3), dtype=np.uint8)
        for i in range(len(pos)):
            red = 80 + min(175.0, 3.0 * fz[i])
            if cam == DEFAULT_CAMERAS[0] or not cam.startswith("wrist"):
                cx = (pos[i, 1] + 0.15) / 0.3 * (w - 1)
                cy = (pos[i, 0] - 0.35) / 0.2 * (h - 1)
                radius = max(1.5, (0.04 + pos[i, 2] - surface.height) * w * 1.5)
                out[i] = _render_blob(h, w, cy, cx, radius, (red, 200, 60))
            else:
                cx = (0.5 + 0.8 * np.sin(yaw[i] + np.pi) / 2) * (w - 1)
                cy = (0.5 + (pos[i, 2] - surface.height) / 0.06) * (h - 1)
                out[i] = _render_blob(h, w, cy, cx, w / 10, (red, 60, 220))
        frames[cam] = out
    return frames


def write_synthetic_dataset(root, *, episodes: int = 4, length: int = 40, fps: float = 10.0,
                            image_size: tuple = (64, 64),
                            cameras: Sequence[str] = DEFAULT_CAMERAS,
                            instructions: Sequence[str] = ("press the surface and slide along it",),
                            seed: int = 0, surface: SyntheticSurface = SyntheticSurface()) -> DatasetMeta:
    """A small dataset a model can learn, for tests and demos.

    The TCP follows a smooth random path that dips into a spring surface; the wrench is the
    contact force that path produces (so it is a function of the state and its velocity), the
    images show a dot that follows the pose and reddens under force, and the action at t is the
    pose at t+1. Deterministic for a given seed.
    """
    if episodes < 1 or length < 2:
        raise ValueError("need at least one episode of at least two frames")
    h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    meta = create_dataset(root, fps, {c: (h, w) for c in cameras},
                          extra={"synthetic": True, "seed": seed})
    rng = np.random.default_rng(seed)
    for e in range(episodes):
        t, pos, rot, q = _synthetic_trajectory(rng, length, fps, surface)
        vel = np.gradient(pos, t, axis=0)
        wrench = _synthetic_wrench(pos, vel, surface)
        pose_vectors = poses_to_vectors(pos, rot.as_quat())
        frames = _render_synthetic_frames(pos[:length], rot[:length], wrench[:length],
                                          {c: (h, w) for c in cameras}, surface)
        instruction = instructions[e % len(instructions)]
        with EpisodeWriter(root, instruction=instruction, task="synthetic",
                           extra={"synthetic": True}) as ep:
            for i in range(length):
                ep.append(float(t[i]), np.concatenate([pose_vectors[i], q[i]]), pose_vectors[i + 1],
                          wrench[i], {c: frames[c][i] for c in cameras})
            ep.success = True
    return meta
