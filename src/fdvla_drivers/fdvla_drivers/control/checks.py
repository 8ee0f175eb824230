"""What can be decided about a command from the command alone: verdicts and chunk checks.

These run in the ROS callback thread, without the controller's lock, so a long chunk never
stalls the servo thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fdvla_drivers.control.safety import SafetyLimits
from fdvla_drivers.control.trajectory import PoseTrajectory
from fdvla_msgs.types import ActionChunk


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str = ""  # short key, counted in diagnostics
    detail: str = ""  # human-readable

    def __bool__(self) -> bool:
        return self.accepted


ACCEPTED = Verdict(True)


def check_chunk_shape(chunk: ActionChunk, limits: SafetyLimits):
    """(verdict, trajectory, (max linear, max angular speed)) from the chunk alone: no lock, no
    robot state needed."""
    if len(chunk) == 0:
        return Verdict(False, "empty", "chunk has no points"), None, None
    if len(chunk) > limits.max_chunk_points:
        return Verdict(False, "too_long", f"chunk has {len(chunk)} points "
                       f"(limit {limits.max_chunk_points})"), None, None
    if not np.isfinite(chunk.stamp) or not np.all(np.isfinite(chunk.times)) or not all(
            p.is_finite() for p in chunk.poses):
        return Verdict(False, "not_finite", "chunk contains NaN/inf"), None, None
    if len(chunk) > 1 and np.any(np.diff(chunk.times) <= 0):
        return Verdict(False, "time_reversed", "chunk times do not increase strictly"), None, None
    outside = [i for i, p in enumerate(chunk.poses) if not limits.in_workspace(p.position)]
    if outside:
        p = chunk.poses[outside[0]].position
        return Verdict(False, "workspace", f"point {outside[0]} at {np.round(p, 3).tolist()} "
                       "is outside the workspace box"), None, None
    traj = PoseTrajectory.from_chunk(chunk)
    lin, ang = traj.max_speeds()
    if lin > limits.max_linear_speed * 1.001 or ang > limits.max_angular_speed * 1.001:
        return Verdict(False, "speed", f"chunk needs {lin:.3f} m/s, {ang:.3f} rad/s; limits "
                       f"{limits.max_linear_speed} m/s, {limits.max_angular_speed} rad/s"), \
            None, None
    return ACCEPTED, traj, (lin, ang)
