"""Timed pose trajectories built from action chunks: linear in position, slerp in rotation."""

from __future__ import annotations

import bisect

import numpy as np

from fdvla_drivers.control import quat
from fdvla_msgs.types import ActionChunk, Pose


class PoseTrajectory:
    """Piecewise pose interpolation over absolute knot times; holds the end poses outside."""

    def __init__(self, times: np.ndarray, positions: np.ndarray, quats_xyzw: np.ndarray):
        times = np.asarray(times, dtype=np.float64)
        if times.ndim != 1 or len(times) == 0:
            raise ValueError("a trajectory needs at least one knot")
        if len(times) > 1 and np.any(np.diff(times) <= 0):
            raise ValueError("knot times must increase strictly")
        self.times = times
        self._times_list = times.tolist()
        self.positions = np.asarray(positions, dtype=np.float64)
        q = np.asarray(quats_xyzw, dtype=np.float64)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        # Same hemisphere as the previous knot, so every segment slerps the short way.
        for i in range(1, len(q)):
            if q[i] @ q[i - 1] < 0:
                q[i] = -q[i]
        self.quats = q

    @classmethod
    def from_chunk(cls, chunk: ActionChunk) -> "PoseTrajectory":
        return cls(chunk.absolute_times, chunk.positions(), chunk.quats())

    @property
    def start_time(self) -> float:
        return float(self.times[0])

    @property
    def end_time(self) -> float:
        return float(self.times[-1])

    def sample_arrays(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(position, quaternion) at time t; the servo loop's hot path."""
        if t <= self._times_list[0]:
            return self.positions[0], self.quats[0]
        if t >= self._times_list[-1]:
            return self.positions[-1], self.quats[-1]
        i = bisect.bisect_right(self._times_list, t) - 1
        t0, t1 = self._times_list[i], self._times_list[i + 1]
        s = (t - t0) / (t1 - t0)
        pos = (1.0 - s) * self.positions[i] + s * self.positions[i + 1]
        return pos, quat.slerp(self.quats[i], self.quats[i + 1], s)

    def sample(self, t: float) -> Pose:
        return Pose(*self.sample_arrays(t))

    def starting_from(self, t_now: float, current: Pose) -> "PoseTrajectory":
        """The part of this trajectory after `t_now`, starting at `current`.

        Points already in the past are dropped. If the chunk has begun, its own interpolated pose
        at `t_now` is the first knot (the caller checks it is close to `current`); if it has not,
        the robot moves from `current` to the first point.
        """
        future = self.times > t_now
        if not np.any(future):
            raise ValueError("every point of the trajectory is in the past")
        start = self.sample(t_now) if t_now >= self.times[0] else current
        times = np.concatenate([[t_now], self.times[future]])
        positions = np.vstack([start.position, self.positions[future]])
        quats = np.vstack([start.quat_xyzw, self.quats[future]])
        return PoseTrajectory(times, positions, quats)

    def max_speeds(self) -> tuple[float, float]:
        """Largest linear (m/s) and angular (rad/s) speed between consecutive knots."""
        if len(self.times) < 2:
            return 0.0, 0.0
        dt = np.diff(self.times)
        lin = np.linalg.norm(np.diff(self.positions, axis=0), axis=1) / dt
        ang = np.array([quat.angle_between(self.quats[i], self.quats[i + 1])
                        for i in range(len(dt))]) / dt
        return float(lin.max()), float(ang.max())
