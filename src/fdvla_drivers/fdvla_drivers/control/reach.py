"""Reach and singularity guard: slow motion that heads into the arm's reach limit or a singularity.

Like MoveIt Servo: the condition number of the UR5e's flange Jacobian at the measured joint
angles grows as the elbow straightens (the reach limit), the wrist centre nears the base axis
(shoulder singularity) or wrist 2 nears 0/pi (wrist singularity). When a commanded velocity would
raise it, the speed is scaled down linearly from `singularity_slow` to zero at `singularity_stop`;
motion that lowers it (backing away) is never slowed. The servo target therefore comes to rest
before the robot's own IK or protective stop would be reached.
"""

from __future__ import annotations

import numpy as np

from fdvla_drivers.sim import ur5e_kinematics as kin

#: How far ahead (s) the commanded velocity is projected to see whether it approaches.
LOOKAHEAD = 0.05


def condition(q) -> float:
    s = np.linalg.svd(kin.jacobian(q)[0], compute_uv=False)
    return float(s[0] / max(s[-1], 1e-12))


def reach_scale(q, v_lin, v_ang, slow: float, stop: float,
                lead=None) -> tuple[float, float]:
    """(speed scale in [0, 1], condition number) for moving at (v_lin, v_ang) from q.

    `lead`: how far (m, base frame) the servo target is ahead of the measured TCP; the joints
    are extrapolated there first (one Newton step), so a lagging arm does not hide how close
    the target already is to the limit."""
    v = np.concatenate([v_lin, v_ang])
    if not np.any(v):
        return 1.0, float("nan")  # not moving: nothing to slow (and no cost in the hold)
    q = np.asarray(q, dtype=np.float64)
    J, _ = kin.jacobian(q)
    s = np.linalg.svd(J, compute_uv=False)
    c = float(s[0] / max(s[-1], 1e-12))
    if lead is not None and np.any(lead) and c > 0.5 * slow:
        # Only near the limit is the extrapolation to the target worth its cost.
        q = q + np.linalg.lstsq(J, np.concatenate([lead, np.zeros(3)]), rcond=None)[0]
        J, _ = kin.jacobian(q)
        s = np.linalg.svd(J, compute_uv=False)
        c = float(s[0] / max(s[-1], 1e-12))
    if c <= slow:
        return 1.0, c
    qd = np.linalg.lstsq(J, v, rcond=None)[0]
    # Direction only: a fixed joint step along qd, so that slow motion is judged like fast.
    n = np.linalg.norm(qd)
    if n < 1e-12:
        return 1.0, c
    c_next = condition(q + qd / n * 0.01)
    if c_next <= c:
        return 1.0, c
    return float(np.clip((stop - c) / (stop - slow), 0.0, 1.0)), c
