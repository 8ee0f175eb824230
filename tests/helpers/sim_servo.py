"""Servoing helper shared by the sim tests (lockstep backends)."""

import numpy as np

from fdvla_msgs.types import Pose


def servo_to(backend, target: Pose, duration: float, hold: float = 0.3) -> float:
    """Move the servo target smoothly to `target` over `duration`, then hold it `hold` seconds.

    Returns the worst TCP tracking error seen during the move (m).
    """
    start = backend.read_state().tcp_pose
    n = int(duration / backend.servo_period)
    worst = 0.0
    for k in range(1, n + 1):
        s = k / n
        s = s * s * (3 - 2 * s)
        goal = Pose((1 - s) * start.position + s * target.position, target.quat_xyzw)
        t = backend.begin_cycle()
        backend.servo_tcp(goal)
        backend.end_cycle(t)
        worst = max(worst, np.linalg.norm(backend.read_state().tcp_pose.position - goal.position))
    for _ in range(int(round(hold / backend.servo_period))):
        t = backend.begin_cycle()
        backend.servo_tcp(target)
        backend.end_cycle(t)
    return worst
