"""Timed pose trajectories built from action chunks: linear in position, slerp in rotation."""

from __future__ import annotations

import bisect
import copy

import numpy as np

from fdvla_drivers import quat
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
        # Per segment: linear velocity (m/s), rotation vector rate (rad/s), and the path length
        # left after each knot, for the limiter's feedforward, speed cap and stop at the end.
        n = len(times)
        self._seg_v = np.zeros((max(n - 1, 1), 3))
        self._seg_w = np.zeros((max(n - 1, 1), 3))
        if n > 1:
            dts = np.diff(times)[:, None]
            self._seg_v = np.diff(self.positions, axis=0) / dts
            self._seg_w = np.array([quat.to_rotvec(quat.mul(q[i + 1], quat.conj(q[i])))
                                    for i in range(n - 1)]) / dts
        seg_len = np.linalg.norm(np.diff(self.positions, axis=0), axis=1) if n > 1 else \
            np.zeros(0)
        self._len_after = np.concatenate([np.cumsum(seg_len[::-1])[::-1], [0.0]])

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

    def segment_at(self, t: float) -> int:
        """Index of the segment that holds time t (clamped to the first/last one)."""
        i = bisect.bisect_right(self._times_list, t) - 1
        return min(max(i, 0), max(len(self._times_list) - 2, 0))

    def velocity_at(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(linear m/s, angular rad/s) of the path at t; zero outside its time span."""
        if len(self._times_list) < 2 or not self._times_list[0] <= t < self._times_list[-1]:
            return np.zeros(3), np.zeros(3)
        i = self.segment_at(t)
        return self._seg_v[i], self._seg_w[i]

    def remaining_length(self, t: float) -> float:
        """Path length from the sample at t to the end."""
        if len(self._times_list) < 2 or t >= self._times_list[-1]:
            return 0.0
        if t <= self._times_list[0]:
            return float(self._len_after[0])
        i = self.segment_at(t)
        pos, _ = self.sample_arrays(t)
        return float(self._len_after[i + 1] + np.linalg.norm(self.positions[i + 1] - pos))

    def end_direction(self) -> np.ndarray:
        """Unit direction of the last segment that moves (zero if the path does not move)."""
        d = np.diff(self.positions, axis=0)
        for v in d[::-1]:
            n = np.linalg.norm(v)
            if n > 1e-9:
                return v / n
        return np.zeros(3)

    def shifted(self, delay: float) -> "PoseTrajectory":
        """The same path, every knot `delay` seconds later (no recomputation: cheap under a lock)."""
        if delay == 0.0:
            return self
        other = copy.copy(self)
        other.times = self.times + delay
        other._times_list = other.times.tolist()
        return other

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
