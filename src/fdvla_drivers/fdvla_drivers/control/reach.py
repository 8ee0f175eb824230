"""Reach and singularity guard: slow motion that heads into the arm's reach limit or a singularity.

Like MoveIt Servo: the condition number of the UR5e's flange Jacobian at the measured joint
angles grows as the elbow straightens (the reach limit), the wrist centre nears the base axis
(shoulder singularity) or wrist 2 nears 0/pi (wrist singularity). When a commanded velocity would
raise it, the speed is scaled down linearly from `singularity_slow` to zero at `singularity_stop`;
motion that lowers it (backing away) or leaves it unchanged (turning the tool about its own axis,
turning the whole arm about the base axis) is never slowed. The servo target therefore comes to
rest before the robot's own IK or protective stop would be reached.
"""

from __future__ import annotations

import numpy as np

from fdvla_drivers import ur5e_kinematics as kin

#: How far ahead (s) the commanded velocity is projected to see whether it approaches.
LOOKAHEAD = 0.05

#: Joint-space step (rad) along the commanded joint velocity's direction over which the change
#: of the condition number is judged (direction only: slow motion is judged like fast).
STEP = 0.01

#: A motion approaches the limit only if it raises the condition number by more than this
#: fraction of it over STEP (10 % per radian of joint travel). Heading straight into the reach
#: limit raises it by 1-2 % over STEP, sideways by 0.3-1 %; wrist 3 alone (a turn about the tool
#: axis) or the shoulder pan alone leave it unchanged, and a measured arm tilted a few mrad from
#: that motion changes it by 1e-5 or less, either sign (the 180 deg turn about the tool axis that
#: stalled at the reach limit, issue 16 item 5, was slowed on that roundoff).
APPROACH_TOL = 1e-3


def condition(q) -> float:
    s = np.linalg.svd(kin.jacobian(q)[0], compute_uv=False)
    return float(s[0] / max(s[-1], 1e-12))


def _cross(a, b) -> np.ndarray:
    # np.cross costs ~10 us; this runs every servo cycle.
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                     a[0] * b[1] - a[1] * b[0]])


def reach_scale(q, v_lin, v_ang, slow: float, stop: float,
                lead=None, tcp=None) -> tuple[float, float]:
    """(speed scale in [0, 1], condition number) for moving the TCP at (v_lin, v_ang) from q.

    `tcp`: the measured TCP position (base); the TCP twist is carried to the flange, whose
    Jacobian is judged (a turn about a TCP off the flange moves the flange). None: TCP = flange.
    `lead`: how far the servo target is ahead of the measured TCP, (3,) metres or (6,) metres and
    a rotation vector (rad, base axes); the joints are extrapolated there first (one Newton
    step), so a lagging arm does not hide how close the target already is to the limit."""
    v_lin = np.asarray(v_lin, dtype=np.float64)
    v_ang = np.asarray(v_ang, dtype=np.float64)
    if not (np.any(v_lin) or np.any(v_ang)):
        return 1.0, float("nan")  # not moving: nothing to slow (and no cost in the hold)
    q = np.asarray(q, dtype=np.float64)
    J, T = kin.jacobian(q)
    # From the TCP to the flange: v_flange = v_tcp + w x (p_flange - p_tcp).
    arm = np.zeros(3) if tcp is None else T[:3, 3] - np.asarray(tcp, dtype=np.float64)
    s = np.linalg.svd(J, compute_uv=False)
    c = float(s[0] / max(s[-1], 1e-12))
    if lead is not None and np.any(lead) and c > 0.5 * slow:
        # Only near the limit is the extrapolation to the target worth its cost.
        lead = np.asarray(lead, dtype=np.float64)
        d_lin, d_ang = lead[:3], (lead[3:6] if lead.size >= 6 else np.zeros(3))
        q = q + np.linalg.lstsq(J, np.concatenate([d_lin + _cross(d_ang, arm), d_ang]),
                                rcond=None)[0]
        J, T = kin.jacobian(q)
        if tcp is not None:
            arm = T[:3, 3] - (np.asarray(tcp, dtype=np.float64) + d_lin)
        s = np.linalg.svd(J, compute_uv=False)
        c = float(s[0] / max(s[-1], 1e-12))
    if c <= slow:
        return 1.0, c
    v = np.concatenate([v_lin + _cross(v_ang, arm), v_ang])
    qd = np.linalg.lstsq(J, v, rcond=None)[0]
    # Direction only: a fixed joint step along qd, so that slow motion is judged like fast.
    n = np.linalg.norm(qd)
    if n < 1e-12:
        return 1.0, c
    c_next = condition(q + qd / n * STEP)
    if c_next - c <= APPROACH_TOL * c:
        return 1.0, c
    return float(np.clip((stop - c) / (stop - slow), 0.0, 1.0)), c
