"""The MuJoCo robot backend: servo tracking, contact force, sensorless mode, faults, clocks."""

import time

import numpy as np
import pytest

from fdvla_msgs.types import Pose
from fdvla_drivers.robot import make_robot_backend
from fdvla_drivers.robot.base import RobotBackend
from fdvla_drivers.robot.sim_backend import SimFaultLimits, SimRobotBackend
from helpers.sim_servo import servo_to



@pytest.fixture
def wipe():
    b = SimRobotBackend("wipe", seed=4, realtime=False)
    b.connect()
    yield b
    b.close()


def test_is_a_robot_backend_made_by_the_factory():
    b = make_robot_backend("sim", task="plug", realtime=False)
    assert isinstance(b, RobotBackend)
    assert b.task.name == "plug" and b.task.instruction
    assert b.servo_period == 0.002


def test_lockstep_clock_advances_by_one_servo_period(wipe):
    t0 = wipe.now()
    t = wipe.begin_cycle()
    wipe.end_cycle(t)
    assert wipe.now() == pytest.approx(t0 + 0.002)
    assert wipe.read_state().stamp == pytest.approx(t0 + 0.002)


def test_free_space_tracking_within_a_few_mm_and_no_force(wipe):
    start = wipe.read_state().tcp_pose
    target = Pose(start.position + [0.08, -0.05, -0.06], start.quat_xyzw)
    worst = servo_to(wipe, target, 1.0)
    state = wipe.read_state()
    assert worst < 0.003
    assert np.linalg.norm(state.tcp_pose.position - target.position) < 0.5e-3
    assert np.linalg.norm(state.wrench[:3]) < 1.0


def test_pressing_into_the_board_gives_tens_of_newtons_upwards(wipe):
    surface = wipe.task.surface_z
    centre = wipe.task.object_poses()["board_surface"].position
    q = wipe.read_state().tcp_pose.quat_xyzw
    servo_to(wipe, Pose([centre[0], centre[1], surface + 0.01], q), 1.0)
    servo_to(wipe, Pose([centre[0], centre[1], surface + 0.001], q), 1.0)
    assert abs(wipe.read_state().wrench[2]) < 1.0  # hovering: no contact yet
    servo_to(wipe, Pose([centre[0], centre[1], surface - 0.01], q), 1.0)
    state = wipe.read_state()
    # UR convention: the table pushes the tool up, fz > 0; 1 cm into it is tens of newtons.
    assert 20.0 < state.wrench[2] < 100.0
    assert abs(state.tcp_pose.position[2] - surface) < 0.002  # the board stops the tool
    assert not state.protective_stop


@pytest.mark.parametrize("depth", [0.005, 0.009])
def test_contact_estimate_reads_the_true_force_in_a_press(wipe, depth):
    """The sensorless estimate (joint servo torque through J^-T) against the cell's true force:
    a stop on it must act near max_force, not 5-8 % past it as the Cartesian-error estimate did."""
    surface = wipe.task.surface_z
    centre = wipe.task.object_poses()["board_surface"].position
    q = wipe.read_state().tcp_pose.quat_xyzw
    assert wipe.contact_estimate() < 2.0  # at rest in free space
    servo_to(wipe, Pose([centre[0] + 0.05, centre[1], surface - depth], q), 1.0)
    true = float(np.linalg.norm(wipe.cell.external_force()))
    assert true > 15.0
    assert wipe.contact_estimate() == pytest.approx(true, rel=0.02)


@pytest.mark.parametrize("physics", ["nominal", "force"])
def test_contact_estimate_does_not_read_the_arms_own_acceleration_as_contact(physics):
    """Free motion with a jerk every 0.1 s at 0.25 m/s: the servo's torque alone reads the
    stiff force cell's accelerating torque as far more than safety.max_force (60 N) of contact;
    the estimate, its own motion taken off, reads none."""
    b = SimRobotBackend("wipe", seed=5000, realtime=False, has_wrench=False,
                        task_physics=physics)
    start = b.read_state().tcp_pose
    rng = np.random.default_rng(0)
    pos, worst, travel = start.position.copy(), 0.0, 0.0
    for _ in range(20):
        v = rng.choice([-0.25, 0.25]) * np.eye(3)[rng.integers(3)]
        for _ in range(50):
            pos = pos + v * b.servo_period
            t = b.begin_cycle()
            b.servo_tcp(Pose(pos, start.quat_xyzw))
            b.end_cycle(t)
            worst = max(worst, b.contact_estimate())
            travel = max(travel, np.linalg.norm(b.read_state().tcp_pose.position
                                                - start.position))
    assert travel > 0.02  # it did move
    assert worst < 2.0, f"{worst:.1f} N of contact read in free motion"


def test_sensorless_backend_reports_no_wrench():
    b = SimRobotBackend("button", realtime=False, has_wrench=False)
    assert b.has_wrench is False
    assert b.read_state().wrench is None


def test_protective_stop_holds_pose_and_ignores_servo_until_unlocked(wipe):
    start = wipe.read_state().tcp_pose
    wipe.trigger_protective_stop("test")
    away = Pose(start.position + [0.05, 0.0, 0.0], start.quat_xyzw)
    servo_to(wipe, away, 0.3)
    state = wipe.read_state()
    assert state.protective_stop and state.faulted
    assert np.linalg.norm(state.tcp_pose.position - start.position) < 1e-3
    wipe.unlock_protective_stop()
    servo_to(wipe, away, 0.5)
    assert np.linalg.norm(wipe.read_state().tcp_pose.position - away.position) < 1e-3


def test_excessive_contact_force_triggers_protective_stop():
    b = SimRobotBackend("wipe", seed=1, realtime=False,
                        fault_limits=SimFaultLimits(max_force=30.0))
    surface = b.task.surface_z
    centre = b.task.object_poses()["board_surface"].position
    q = b.read_state().tcp_pose.quat_xyzw
    servo_to(b, Pose([centre[0], centre[1], surface + 0.01], q), 1.0)
    assert not b.read_state().protective_stop
    servo_to(b, Pose([centre[0], centre[1], surface - 0.02], q), 1.0)
    assert b.read_state().protective_stop
    assert "force" in b.fault_reason


def test_unreachable_target_protective_stops():
    b = SimRobotBackend("plug", realtime=False)
    b.servo_tcp(Pose([2.0, 0.0, 0.3]))
    assert b.read_state().protective_stop


def test_reset_rerandomises_the_task():
    b = SimRobotBackend("plug", seed=0, realtime=False)
    first = b.task.object_poses()["socket_hole_top"].position.copy()
    b.reset(seed=1)
    assert np.linalg.norm(b.task.object_poses()["socket_hole_top"].position - first) > 1e-3
    b.reset(seed=0)
    assert np.allclose(b.task.object_poses()["socket_hole_top"].position, first)


def test_realtime_mode_runs_physics_on_the_wall_clock():
    b = SimRobotBackend("button", realtime=True)
    b.connect()
    try:
        s0 = b.read_state()
        time.sleep(0.3)
        s1 = b.read_state()
        assert s1.stamp > s0.stamp  # physics advanced by itself
        assert abs(b.now() - time.time()) < 0.05  # stamps are wall-clock times
        assert abs(s1.stamp - time.time()) < b.max_lag + 0.05
        t = b.begin_cycle()
        b.servo_tcp(s1.tcp_pose)
        b.end_cycle(t)
    finally:
        b.close()
    assert b._thread is None
