"""The servo controller's rules, checked cycle by cycle on synthetic robot states.

The robot here is ideal (it is exactly where the last servo target put it), which isolates the
controller's own behaviour; tests/integration/graph/ check the same rules on the simulated arm over DDS.
"""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from fdvla_drivers.control import ControllerConfig, Mode, SafetyLimits, ServoController
from fdvla_drivers.control.controller import TWIST_HEADROOM
from fdvla_msgs.types import ActionChunk, Pose, RobotState, Twist

DT = 0.002
DOWN = Rotation.from_euler("x", 180, degrees=True).as_quat()


class IdealArm:
    """Follows every servo target exactly; lets tests set faults and wrenches."""

    def __init__(self, pose=None):
        self.pose = pose or Pose([0.4, 0.0, 0.3], DOWN)
        self.t = 0.0
        self.wrench = None
        self.protective_stop = False

    def state(self):
        return RobotState(self.t, np.zeros(6), np.zeros(6), self.pose, self.wrench,
                          protective_stop=self.protective_stop)

    def run(self, ctl, seconds):
        targets = []
        for _ in range(int(round(seconds / DT))):
            tgt = ctl.step(self.state(), self.t)
            if tgt is not None:
                self.pose = tgt
            targets.append(tgt)
            self.t += DT
        return targets


def line_chunk(stamp, start, delta, duration=1.0, n=50, quat=DOWN):
    s = np.linspace(1.0 / n, 1.0, n)
    return ActionChunk.from_arrays(stamp, s * duration, np.asarray(start) + np.outer(s, delta),
                                   np.tile(quat, (n, 1)))


@pytest.fixture
def armed():
    ctl = ServoController(ControllerConfig(servo_period=DT), SafetyLimits())
    arm = IdealArm()
    arm.run(ctl, 0.01)
    assert ctl.set_enabled(True)
    return ctl, arm


def test_disarmed_controller_commands_nothing():
    ctl = ServoController(ControllerConfig(servo_period=DT), SafetyLimits())
    arm = IdealArm()
    assert all(t is None for t in arm.run(ctl, 0.05))
    v = ctl.submit_chunk(line_chunk(arm.t, arm.pose.position, [0.05, 0, 0]), arm.t)
    assert not v and v.reason == "disarmed"


def test_chunk_is_tracked_linearly_and_holds_at_the_end(armed):
    ctl, arm = armed
    start = arm.pose.position.copy()
    assert ctl.submit_chunk(line_chunk(arm.t, start, [0.05, 0.02, -0.03]), arm.t)
    t0 = arm.t
    errs = []
    for _ in range(int(1.0 / DT)):
        arm.run(ctl, DT)
        s = min((arm.t - t0) / 1.0, 1.0)
        errs.append(np.linalg.norm(arm.pose.position - (start + s * np.array([0.05, 0.02, -0.03]))))
    assert max(errs) < 2e-3  # mm-level tracking, limited only by the acceleration limit at start
    arm.run(ctl, 0.3)
    np.testing.assert_allclose(arm.pose.position, start + [0.05, 0.02, -0.03], atol=1e-6)
    assert ctl.mode is Mode.HOLD


def test_rotation_is_slerped(armed):
    ctl, arm = armed
    goal = (Rotation.from_euler("z", 20, degrees=True) * Rotation.from_quat(DOWN)).as_quat()
    n = 50
    quats = [(Rotation.from_euler("z", 20 * k / n, degrees=True) * Rotation.from_quat(DOWN))
             .as_quat() for k in range(1, n + 1)]
    chunk = ActionChunk.from_arrays(arm.t, np.linspace(1 / n, 1, n),
                                    np.tile(arm.pose.position, (n, 1)), quats)
    assert ctl.submit_chunk(chunk, arm.t)
    arm.run(ctl, 1.3)
    assert (arm.pose.rotation.inv() * Rotation.from_quat(goal)).magnitude() < 1e-6


def test_past_points_are_dropped_and_latency_compensated():
    ctl = ServoController(ControllerConfig(servo_period=DT, action_latency=0.1), SafetyLimits())
    arm = IdealArm()
    arm.run(ctl, 0.01)
    ctl.set_enabled(True)
    arm.run(ctl, 0.5)
    start = arm.pose.position.copy()
    # A chunk executes (holding still for 2 s), so the next one continues it on its own time:
    # a chunk that found the arm holding would be retimed instead (test_chunk_timing.py).
    assert ctl.submit_chunk(ActionChunk.from_arrays(arm.t, [0.0, 2.0], [start, start],
                                                    [DOWN, DOWN]), arm.t)
    arm.run(ctl, 0.05)
    chunk = line_chunk(arm.t - 0.3, start - [0.03 * 0.3, 0, 0], [0.03, 0, 0])  # 0.3 s old
    assert ctl.submit_chunk(chunk, arm.t)
    first = ctl.step(arm.state(), arm.t)
    # The target is sampled at now + latency, i.e. 0.4 s into the chunk, after the limiter.
    assert first.position[0] > start[0]


@pytest.mark.parametrize("make,reason", [
    (lambda t, p: ActionChunk(t, np.zeros(0), ()), "empty"),
    (lambda t, p: line_chunk(t, p + [np.nan, 0, 0], [0.01, 0, 0]), "not_finite"),
    (lambda t, p: ActionChunk.from_arrays(t, [0.2, 0.1], [p, p], [DOWN, DOWN]), "time_reversed"),
    (lambda t, p: line_chunk(t - 5.0, p, [0.01, 0, 0]), "stale"),
    (lambda t, p: line_chunk(t - 0.9, p, [0.01, 0, 0], duration=0.5), "past"),
    (lambda t, p: line_chunk(t, p, [0.0, 0.0, 0.7]), "workspace"),
    (lambda t, p: line_chunk(t, p, [0.0, 0.3, 0], duration=0.5), "speed"),
    (lambda t, p: line_chunk(t, p + [0.2, 0, 0], [0.01, 0, 0]), "start_far"),
])
def test_bad_chunks_are_rejected_and_the_arm_does_not_move(armed, make, reason):
    ctl, arm = armed
    before = arm.pose
    v = ctl.submit_chunk(make(arm.t, arm.pose.position.copy()), arm.t)
    assert not v and v.reason == reason, v
    assert ctl.rejections[reason] == 1
    arm.run(ctl, 0.2)
    dp, dr = arm.pose.distance_to(before)
    assert dp < 1e-9 and dr < 1e-9


def test_speed_and_acceleration_limits_bound_every_target(armed):
    ctl, arm = armed
    lim = ctl.limits
    # A twist at the speed limit, switched on abruptly: the limiter must ramp it.
    targets = []
    for _ in range(300):
        assert ctl.submit_twist(Twist(arm.t, [lim.max_linear_speed, 0, 0], [0, 0, 0.9]), arm.t)
        targets += arm.run(ctl, DT)
    pos = np.array([t.position for t in targets])
    v = np.diff(pos, axis=0) / DT
    speed = np.linalg.norm(v, axis=1)
    acc = np.linalg.norm(np.diff(v, axis=0), axis=1) / DT
    assert speed.max() <= lim.max_linear_speed + 1e-9
    assert acc.max() <= lim.max_linear_accel + 1e-6
    # and it gets there (teleop keeps TWIST_HEADROOM below the limit for the servo's overshoot)
    assert speed[-1] == pytest.approx(lim.max_linear_speed * (1 - TWIST_HEADROOM), rel=1e-3)


def test_twist_too_fast_is_scaled_nan_future_or_stale_rejected(armed):
    ctl, arm = armed
    assert ctl.submit_twist(Twist(arm.t, [1.0, 0, 0], [0, 0, 0]), arm.t)
    assert ctl.counters["twist_scaled"] == 1
    assert np.allclose(ctl._twist.linear,
                       [ctl.limits.max_linear_speed * (1 - TWIST_HEADROOM), 0, 0])
    assert ctl.submit_twist(Twist(arm.t + 1.0, [0.01, 0, 0], [0, 0, 0]), arm.t).reason == "future"
    assert ctl.submit_twist(Twist(arm.t, [np.nan, 0, 0], [0, 0, 0]), arm.t).reason == "not_finite"
    assert ctl.submit_twist(Twist(arm.t - 1.0, [0.01, 0, 0], [0, 0, 0]), arm.t).reason == "stale"


def test_twist_timeout_decelerates_and_holds(armed):
    ctl, arm = armed
    for _ in range(100):
        ctl.submit_twist(Twist(arm.t, [0.1, 0, 0], [0, 0, 0]), arm.t)
        arm.run(ctl, DT)
    arm.run(ctl, 1.0)  # no more twists: timeout, decelerate, hold
    p = arm.pose.position.copy()
    arm.run(ctl, 0.5)
    np.testing.assert_allclose(arm.pose.position, p, atol=1e-9)
    assert ctl.mode is Mode.HOLD


def test_workspace_box_clamps_teleop(armed):
    ctl, arm = armed
    for _ in range(int(4.0 / DT)):
        ctl.submit_twist(Twist(arm.t, [0, 0, 0.2], [0, 0, 0]), arm.t)
        arm.run(ctl, DT)
    assert arm.pose.position[2] <= ctl.limits.workspace_max[2] + 1e-12
    assert arm.pose.position[2] == pytest.approx(ctl.limits.workspace_max[2], abs=1e-3)


def test_wrench_above_limit_stops_and_disarms(armed):
    ctl, arm = armed
    assert ctl.submit_chunk(line_chunk(arm.t, arm.pose.position, [0.05, 0, 0]), arm.t)
    arm.run(ctl, 0.2)
    arm.wrench = np.array([0, 0, 200.0, 0, 0, 0])  # the contact pushes the tool up (+z)
    z0 = arm.pose.position[2]
    # Stops, backs off along the contact normal (a force that never drops: retract_distance at
    # most), then holds.
    assert arm.run(ctl, 1.0)[-1] is None
    assert not ctl.armed and "force" in ctl.fault and ctl.rejections["wrench_limit"] == 1
    backed = arm.pose.position[2] - z0
    assert 0.5 * ctl.limits.retract_distance < backed <= ctl.limits.retract_distance + 1e-3
    assert ctl.counters["force_retract"] == 1
    # Cannot re-arm while the force persists; can once it is gone.
    assert ctl.set_enabled(True).reason == "wrench_limit"
    arm.wrench = np.zeros(6)
    arm.run(ctl, 0.01)
    assert ctl.set_enabled(True)


def test_protective_stop_and_stale_state_stop_motion(armed):
    ctl, arm = armed
    arm.protective_stop = True
    assert arm.run(ctl, 0.01)[-1] is None and not ctl.armed
    arm.protective_stop = False
    arm.run(ctl, 0.01)
    assert ctl.set_enabled(True)
    stale = arm.state()
    assert ctl.step(stale, stale.stamp + 0.5) is None
    assert ctl.rejections["state_stale"] == 1 and not ctl.armed


def test_stop_latches_until_enabled(armed):
    ctl, arm = armed
    assert ctl.submit_chunk(line_chunk(arm.t, arm.pose.position, [0.05, 0, 0]), arm.t)
    arm.run(ctl, 0.2)
    ctl.stop()
    assert arm.run(ctl, 0.1)[-1] is None
    assert ctl.submit_chunk(line_chunk(arm.t, arm.pose.position, [0.05, 0, 0]),
                            arm.t).reason == "disarmed"


def test_start_enabled_arms_only_after_the_state_has_been_healthy():
    ctl = ServoController(ControllerConfig(servo_period=DT, start_enabled=True,
                                           auto_arm_delay=0.2), SafetyLimits())
    arm = IdealArm()
    arm.run(ctl, 0.1)
    assert not ctl.armed
    # A stale sample before arming delays arming; it does not cancel it.
    stale = arm.state()
    assert ctl.step(stale, stale.stamp + 1.0) is None
    arm.run(ctl, 0.15)
    assert not ctl.armed
    arm.run(ctl, 0.1)
    assert ctl.armed and ctl.mode is Mode.HOLD and ctl.fault == ""
    # Once armed, the same hiccup stops and latches.
    stale = arm.state()
    assert ctl.step(stale, stale.stamp + 1.0) is None
    arm.run(ctl, 0.5)
    assert not ctl.armed


def test_disarm_request_cancels_the_automatic_arming():
    ctl = ServoController(ControllerConfig(servo_period=DT, start_enabled=True), SafetyLimits())
    arm = IdealArm()
    arm.run(ctl, 0.01)
    ctl.set_enabled(False)
    arm.run(ctl, 1.0)
    assert not ctl.armed


class SpringArm(IdealArm):
    """Pressing down into a stop at z_stop through the servo's stiffness: the tool stays at the
    stop and the force is k times how far the servo target is below it."""

    def __init__(self, z_stop, k=4000.0):
        super().__init__()
        self.z_stop, self.k = z_stop, k
        self.wrench = np.zeros(6)

    def run(self, ctl, seconds):
        targets, peak = [], 0.0
        for _ in range(int(round(seconds / DT))):
            tgt = ctl.step(self.state(), self.t)
            if tgt is not None:
                depth = max(self.z_stop - tgt.position[2], 0.0)
                self.pose = Pose([*tgt.position[:2], max(tgt.position[2], self.z_stop)],
                                 tgt.quat_xyzw)
                self.wrench = np.array([0, 0, self.k * depth, 0, 0, 0])  # pushes the tool up
                peak = max(peak, self.k * depth)
            targets.append(tgt)
            self.t += DT
        self.peak = peak
        return targets


@pytest.mark.parametrize("held_for,stops", [(0.5, False), (1.6, True)])
def test_a_press_is_held_at_the_press_limit_and_stopped_if_it_stays_there(held_for, stops):
    ctl = ServoController(ControllerConfig(servo_period=DT), SafetyLimits())
    lim = ctl.limits
    arm = SpringArm(z_stop=0.29)
    arm.run(ctl, 0.01)
    assert ctl.set_enabled(True)
    # A plan 3 cm into the stop at 2 cm/s: 120 N if followed; reaches the press limit after ~1.4 s.
    ctl.submit_chunk(line_chunk(arm.t, arm.pose.position, [0, 0, -0.04], duration=2.0), arm.t)
    arm.run(ctl, 1.0)
    reached = arm.t
    while arm.wrench[2] < lim.press_limit - 0.5 and arm.t < reached + 2.0:
        arm.run(ctl, 0.01)
    at_limit = arm.t
    arm.run(ctl, held_for)
    assert arm.peak < lim.press_limit * 1.02  # held there, far below max_force
    if not stops:
        assert ctl.armed and not ctl.fault
        # The plan turns back (a policy letting go): the press is free again.
        ctl.submit_chunk(line_chunk(arm.t, arm.pose.position, [0, 0, 0.02], duration=0.5), arm.t)
        arm.run(ctl, 0.6)
        assert arm.wrench[2] < lim.retract_force and ctl.armed
    else:
        assert not ctl.armed and ctl.rejections["wrench_limit"] == 1
        assert "press limit" in ctl.fault
        assert arm.t - at_limit >= lim.press_dwell


def test_press_limit_settings_are_checked():
    from fdvla_drivers.control.safety import LimitError

    with pytest.raises(LimitError, match="press_force"):
        SafetyLimits(press_force=4.0)  # below retract_force
    assert SafetyLimits(press_force=70.0).press_limit is None  # the stop is the only limit
    assert SafetyLimits(max_force=25.0).press_limit is None
    assert not SafetyLimits(max_force=25.0).at_press_limit(30.0)
    assert SafetyLimits(max_force=25.0).contact_speed_cap(25.0) > 0.0  # as before: to 1.05x
    assert SafetyLimits().contact_speed_cap(50.0) == 0.0 < SafetyLimits().contact_speed_cap(40.0)


def test_a_one_cycle_force_spike_is_no_press_a_held_force_is(armed):
    ctl, arm = armed
    arm.wrench = np.array([0, 0, 20.0, 0, 0, 0])
    arm.run(ctl, 0.1)
    arm.wrench = np.array([0, 0, 110.0, 0, 0, 0])  # one servo cycle: an impact's kick
    arm.run(ctl, DT)
    arm.wrench = np.array([0, 0, 20.0, 0, 0, 0])
    arm.run(ctl, 0.1)
    assert ctl.armed and not ctl.fault
    arm.wrench = np.array([0, 0, 70.0, 0, 0, 0])  # held: stopped within a few cycles
    cycles = 0
    while ctl.armed and cycles < 50:
        arm.run(ctl, DT)
        cycles += 1
    assert not ctl.armed and ctl.rejections["wrench_limit"] == 1
    assert cycles * DT <= 2 * 0.01, cycles  # within two filter time constants
