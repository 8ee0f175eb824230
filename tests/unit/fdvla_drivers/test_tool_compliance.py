"""Physics "force": a position-stiff servo with the give in a compliant tool, so that the arm's
pose does not carry the contact force (issue 18); nominal keeps the rigid tool on the compliant
servo. Lock-step, over the button's hard stop."""

import numpy as np
import pytest

from fdvla_msgs.types import Pose
from fdvla_drivers.robot.sim_backend import SimRobotBackend
from fdvla_drivers.sim import ur5e_model as mdl
from fdvla_drivers.sim.cell import ServoGains, press_stiffness
from helpers.sim_servo import servo_to


def backend(physics, seed=5002):
    return SimRobotBackend("button", seed=seed, realtime=False, task_physics=physics)


def hold(b, target: Pose, duration: float) -> None:
    for _ in range(int(round(duration / b.servo_period))):
        t = b.begin_cycle()
        b.servo_tcp(target)
        b.end_cycle(t)


def press_on_the_stop(b, force: float) -> Pose:
    """Lower the servo target onto the cap at 2 mm/s until the F/T reads `force` (the cap then
    on its stop); returns the target, held 0.3 s."""
    top = b.task.cap_top()
    rot = b.read_state().tcp_pose.quat_xyzw
    servo_to(b, Pose(top + [0, 0, 0.005], rot), 1.5, hold=0.1)
    depth = -0.005
    while b.read_state().wrench[2] < force:
        depth += 0.0002
        assert depth < 0.04, "never reached the force"
        hold(b, Pose(top - [0, 0, depth], rot), 0.1)
    target = Pose(top - [0, 0, depth], rot)
    hold(b, target, 0.3)
    return target


def test_force_physics_puts_a_compliant_tool_on_a_stiff_servo_and_nominal_does_not():
    f, n = backend("force"), backend("nominal")
    for name in mdl.COMPLIANCE_JOINTS:
        assert f.model.joint(name).type == 2  # slide
        with pytest.raises(KeyError):
            n.model.joint(name)
    assert f.cell.gains == ServoGains.position_stiff()
    assert n.cell.gains == ServoGains()
    assert f.cell.gains.cartesian_stiffness[2] >= 20 * n.cell.gains.cartesian_stiffness[2]
    # In series, servo and tool meet a press about as the compliant servo alone did.
    assert press_stiffness(f.task) == pytest.approx(3846, rel=0.01)
    assert press_stiffness(n.task) == pytest.approx(4000)


def test_the_compliant_tool_rests_still_and_the_zeroed_sensor_reads_nothing():
    """Reset puts the tool where its weight holds it: no bounce for the F/T zeroing to catch."""
    b = backend("force")
    target = b.read_state().tcp_pose
    worst = 0.0
    for _ in range(250):
        hold(b, target, b.servo_period)
        worst = max(worst, float(np.abs(b.read_state().wrench[:3]).max()))
    assert worst < 0.3


@pytest.mark.parametrize("physics, pose_tells_force", [("force", False), ("nominal", True)])
def test_only_the_compliant_servo_lets_the_pose_tell_the_force(physics, pose_tells_force):
    """30 N on the cap's stop: the nominal servo's TCP lags its target by force / 4000 N/m
    (~7.5 mm), a force sensor in the pose; the stiff servo holds the TCP within 0.5 mm while
    the tool's spring takes the press."""
    b = backend(physics)
    target = press_on_the_stop(b, 30.0)
    state = b.read_state()
    fz = float(state.wrench[2])
    assert 29.0 < fz < 36.0
    lag = float(state.tcp_pose.position[2] - target.position[2])
    if pose_tells_force:
        assert lag == pytest.approx(fz / 4000.0, rel=0.15)
    else:
        assert abs(lag) < 0.0005
        give = -float(b.cell.data.qpos[b.model.joint(mdl.COMPLIANCE_JOINTS[2]).qposadr[0]])
        k = mdl.ToolCompliance().stiffness[2]
        assert give == pytest.approx(fz / k, rel=0.15)  # pressed: the tip pushed towards the flange
        assert b.task.tool_give(fz) == pytest.approx(fz / k)
