"""Issue 16 item 5: a slow rotation about the tool axis is not slowed by the reach guard.

Turning the tool about its own axis (the tool pointing down: about base z) moves wrist 3 only and
leaves the flange Jacobian's condition number unchanged, so it never approaches the reach limit
or a singularity, even at the reach limit itself. The outside run saw such a rotation (180 deg
over 4 s) stall at 38 deg with `reach_limited`: the guard took the roundoff-level change of the
condition number along the motion (from the arm's tiny tilt) as an approach. Over DDS against the
real-time sim: the arm first rises to the reach limit (where the guard brings it to rest), then
rotates 180 deg one way and back.
"""

import time

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from fdvla_drivers.control.safety import SafetyLimits
from fdvla_msgs import conversions as conv
from fdvla_msgs.types import ActionChunk
from helpers.sim_graph import line_chunk
from helpers.cell import Cell, settle, tcp

pytestmark = pytest.mark.slow


def rotation_chunk(stamp, start, angle, duration, n=50):
    """Hold the position, turn the orientation by `angle` about base z over `duration`."""
    s = np.linspace(1.0 / n, 1.0, n)
    r0 = Rotation.from_quat(start.quat_xyzw)
    quats = np.array([(Rotation.from_rotvec([0.0, 0.0, angle * si]) * r0).as_quat() for si in s])
    return ActionChunk.from_arrays(stamp, s * duration, np.tile(start.position, (n, 1)), quats)


def turned(cell, r0) -> float:
    """Signed angle (rad) about base z from orientation r0 to the measured TCP's."""
    rv = (Rotation.from_quat(tcp(cell.probe).quat_xyzw) * r0.inv()).as_rotvec()
    return float(rv[2])


def test_slow_rotation_about_the_tool_axis_completes_at_the_reach_limit():
    cell = Cell("sim", name="rotation_probe")
    try:
        cell.ensure_armed()
        before = settle(cell.probe, 0.3)
        # Straight up at 0.1 m/s towards a point out of reach: the guard brings the target to
        # rest near `singularity_stop`. A chunk, not a twist stream: no dead-man to time out on
        # a loaded machine.
        cell.chunk_pub.publish(conv.chunk_to_msg(
            line_chunk(time.time(), before, [0.0, 0.0, 0.6], 6.0)))
        slow = SafetyLimits().singularity_slow
        cell.probe.wait_for(lambda: float(cell.diag().get("reach_condition", 0)) > slow + 5,
                            60.0, "the reach limit")
        top = settle(cell.probe, 0.5)
        for _ in range(40):  # until the arm is at rest there (bounded)
            here = settle(cell.probe, 0.5)
            if here.distance_to(top)[0] < 0.5e-3:
                break
            top = here
        d = cell.fresh_diag()
        assert d["fault"] == "", d["fault"]
        assert top.position[2] > before.position[2] + 0.3  # at the reach limit, not short of it
        assert float(d["reach_condition"]) > slow, d
        # 180 deg over 4 s one way, then back: whichever way the arm's tilt makes the
        # condition number's change come out, one of the two used to stall.
        start = top
        for angle in (np.pi, -np.pi):
            r0 = Rotation.from_quat(start.quat_xyzw)
            cell.chunk_pub.publish(conv.chunk_to_msg(rotation_chunk(time.time(), start, angle,
                                                                     4.0)))
            # Generous: the chunk lasts 4 s; a loaded machine's loop may run slow.
            try:
                cell.probe.wait_for(lambda: abs(turned(cell, r0) - angle) < np.radians(3.0),
                                    20.0, f"a {np.degrees(angle):.0f} deg turn")
            except AssertionError as e:
                raise AssertionError(
                    f"{e}: turned {np.degrees(turned(cell, r0)):.1f} deg, "
                    f"diagnostics {cell.diag()}") from None
            start = settle(cell.probe, 0.5)
            here = start.distance_to(top)[0]
            assert here < 2e-3, f"the TCP moved {here * 1e3:.1f} mm while turning"
        assert cell.diag()["fault"] == ""
    finally:
        cell.close()


# ------------------------------------------------------------------ the guard itself, no DDS

def _at_reach_limit(tcp_offset, conds):
    """Joint angles (tool down) raised straight up from the task start until the flange
    Jacobian's condition number passes each of `conds`."""
    from fdvla_drivers.control.reach import condition
    from fdvla_drivers import ur5e_kinematics as kin
    from fdvla_drivers.sim.tasks.base import StartRegion

    start = StartRegion().sample(np.random.default_rng(0))
    T = kin.pose_matrix(start)
    q = kin.inverse(T, kin.UR5E_HOME_Q, tcp_offset).q
    out = []
    for c in conds:
        while condition(q) < c:
            T[2, 3] += 0.002
            ik = kin.inverse(T, q, tcp_offset)
            assert ik.converged
            q = ik.q
        out.append(q)
    return out


@pytest.mark.parametrize("tcp_offset", [0.0, 0.15])
def test_guard_never_slows_a_turn_about_the_tool_axis_but_slows_approach(tcp_offset):
    from fdvla_drivers.control.reach import condition, reach_scale
    from fdvla_drivers import ur5e_kinematics as kin

    slow, stop = SafetyLimits().singularity_slow, SafetyLimits().singularity_stop
    rng = np.random.default_rng(1)
    for q in _at_reach_limit(tcp_offset, [16.0, 20.0, 24.0, 26.0]):
        c = condition(q)
        for tilt in (0.0, 1e-4, 1e-3, 3e-3):  # the measured arm is never exactly still
            for _ in range(5):
                qm = q + np.r_[rng.normal(0.0, tilt, 5), 0.0]
                T = kin.forward(qm, tcp_offset)
                axis = T[:3, 2]  # the tool axis as measured
                for w in (0.8, -0.8, 0.05, -0.05):
                    for lead in (None, np.r_[1e-4, 0, 0, 0, 0, 0.3 * np.sign(w)]):
                        scale, _ = reach_scale(qm, np.zeros(3), w * axis, slow, stop, lead,
                                               tcp=T[:3, 3])
                        assert scale == 1.0, (c, tilt, w, lead)
        # Straight up (further out of reach) is slowed, and stopped past `stop`; down is free.
        T = kin.forward(q, tcp_offset)
        up, _ = reach_scale(q, [0, 0, 0.01], np.zeros(3), slow, stop, tcp=T[:3, 3])
        assert up == pytest.approx(np.clip((stop - c) / (stop - slow), 0.0, 1.0))
        assert up < 1.0
        down, _ = reach_scale(q, [0, 0, -0.01], np.zeros(3), slow, stop, tcp=T[:3, 3])
        assert down == 1.0


def test_guard_judges_a_turn_about_the_tcp_by_where_it_moves_the_flange():
    """Tilting the tool about a TCP 15 cm below the flange swings the flange out of reach one
    way (slowed) and back into it the other (free)."""
    from fdvla_drivers.control.reach import reach_scale
    from fdvla_drivers import ur5e_kinematics as kin

    slow, stop = SafetyLimits().singularity_slow, SafetyLimits().singularity_stop
    (q,) = _at_reach_limit(0.15, [20.0])
    T = kin.forward(q, 0.15)
    flange = kin.forward(q)[:3, 3]
    radial = np.r_[flange[:2], 0.0] / np.linalg.norm(flange[:2])  # out from the base axis
    w = np.cross([0.0, 0.0, 1.0], radial) * 0.3  # about the horizontal across the arm
    swing = np.cross(w, flange - T[:3, 3])  # the flange's velocity
    out = w if swing @ radial > 0 else -w
    assert reach_scale(q, np.zeros(3), out, slow, stop, tcp=T[:3, 3])[0] < 1.0
    assert reach_scale(q, np.zeros(3), -out, slow, stop, tcp=T[:3, 3])[0] == 1.0
