"""The plug task's "force" physics (issue 18): hidden per-episode parameters, the force checker
driven through the physics, and the oracle/blind scripts on chosen seeds (lock-step)."""

import numpy as np
import pytest

from fdvla.config import controller_settings, load_setup
from fdvla_msgs.types import Pose
from fdvla_drivers.control.controller import ServoController
from fdvla_drivers.control.rollout import run_episode
from fdvla_drivers.robot.sim_backend import SimRobotBackend
from fdvla_drivers.sim.force_scripts import make_force_script
from fdvla_drivers.sim.tasks import make_task, tool_down
from helpers.sim_servo import servo_to

SERVO_K = 4000.0  # N/m, the sim servo's Cartesian stiffness

#: Seeds where the fixed press of the blind script misses the band (measured with the bench):
#: on SEED_FORCED its hold (~31 N) is above this episode's max_force; on SEED_UNSEATED it is
#: below this episode's seat_force, so the detent never clicks. The oracle does both.
SEED_FORCED = 5002
SEED_UNSEATED = 5014


def _hidden(backend, seed):
    backend.reset(seed=seed)
    return backend.task.hidden_params()


def test_hidden_parameters_vary_across_seeds_and_repeat_for_a_seed():
    b = SimRobotBackend("plug", seed=0, realtime=False, task_physics="force")
    first = [_hidden(b, s) for s in (11, 12, 13)]
    again = [_hidden(b, s) for s in (11, 12, 13)]
    assert first == again
    for key in ("seat_force", "max_force", "vision_offset_mm"):
        assert len({str(h[key]) for h in first}) == 3, key
    fp = b.task.fp
    for h in first:
        assert fp.seat_force_range[0] <= h["seat_force"] <= fp.seat_force_range[1]
        width = h["max_force"] - h["seat_force"]
        assert fp.band_width_range[0] - 0.01 <= width <= fp.band_width_range[1] + 0.01
        assert max(abs(v) for v in h["vision_offset_mm"]) <= fp.pose_error * 1000 + 0.01


def test_scripts_get_a_pose_off_by_the_hidden_offset_and_nominal_has_none():
    force = SimRobotBackend("plug", seed=21, realtime=False, task_physics="force")
    nominal = SimRobotBackend("plug", seed=21, realtime=False)
    # The force draws come after the nominal ones: the same seed places the socket alike.
    assert np.allclose(force.task.hole_top(), nominal.task.hole_top())
    seen = force.task.object_poses()["socket_hole_top"].position
    offset = np.asarray(force.task.hidden_params()["vision_offset_mm"]) / 1000
    assert np.allclose(seen[:2] - force.task.hole_top()[:2], offset, atol=1e-5)
    assert np.linalg.norm(offset) > 1e-4
    # Nominal: no hidden parameters, no band, the privileged pose is the true one, and the
    # socket has neither chamfer nor carrier.
    assert nominal.task.hidden_params() == {}
    assert nominal.task.force_band() is None
    assert np.allclose(nominal.task.object_poses()["socket_hole_top"].position,
                       nominal.task.hole_top())
    names = {nominal.model.geom(i).name for i in range(nominal.model.ngeom)}
    assert not any("chamfer" in n or "carrier" in n for n in names)
    assert "socket_carrier" in {force.model.geom(i).name for i in range(force.model.ngeom)}
    assert make_task("plug").world_xml() == make_task("plug", physics="nominal").world_xml()


def _press(b, force, duration=1.0, hold=0.8):
    """Aligned on the true hole, aim `force` N's worth of servo stiffness past the carrier's
    rest position (the press the plug gets there before the detent gives)."""
    t = b.task
    rot = tool_down(t._yaw).as_quat()
    rest = t.p.hole_depth - t.fp.carrier_travel
    servo_to(b, Pose(t.hole_top() - [0, 0, rest + force / SERVO_K], rot), duration, hold)


def _above_hole(b):
    t = b.task
    rot = tool_down(t._yaw).as_quat()
    servo_to(b, Pose(t.hole_top() + [0, 0, 0.02], rot), 1.0)
    servo_to(b, Pose(t.hole_top() - [0, 0, 0.015], rot), 1.0)  # in the hole, above the carrier


def test_checker_needs_the_seating_force_and_fails_a_forced_socket():
    b = SimRobotBackend("plug", seed=31, realtime=False, task_physics="force")
    t = b.task
    lo, hi = t.force_band()
    travel_force = SERVO_K * t.fp.carrier_travel  # given back when the carrier clicks in
    _above_hole(b)
    # Below the detent's force: the plug is deep but the carrier has not clicked.
    _press(b, lo - 4.0)
    assert not t.clicked and not t.success()
    assert t.failure_cause().startswith("plug not seated")
    assert t.seating_force == pytest.approx(lo - 4.0, abs=1.5)
    # Past it, then holding inside the band: seated, clicked, held home.
    _press(b, (lo + hi) / 2 + travel_force, hold=t.fp.hold_time + 0.3)
    assert t.clicked and t.success(), t.failure_cause()
    assert lo <= t.seating_force <= hi
    assert t.failure_cause() == ""
    assert t.quality.summary(t.force_band())["in_band_share"] > 0.0
    # Pushing harder than the band allows: forced, and backing off does not undo it.
    _press(b, hi + 6.0 + travel_force, duration=0.6)
    assert t.forced and not t.success()
    _press(b, (lo + hi) / 2 + travel_force, duration=0.6, hold=t.fp.hold_time + 0.3)
    assert not t.success()
    cause = t.failure_cause()
    assert cause.startswith("forced: ") and f"> {hi:.1f} N" in cause
    assert t.peak_seating_force > hi


def test_plug_not_in_band_long_enough_is_not_held_home():
    """Seated with the right force, but for less than hold_time: not yet a success."""
    b = SimRobotBackend("plug", seed=32, realtime=False, task_physics="force")
    t = b.task
    lo, hi = t.force_band()
    _above_hole(b)
    _press(b, (lo + hi) / 2 + SERVO_K * t.fp.carrier_travel, hold=0.05)
    assert t.clicked and not t.success()
    assert t.failure_cause().startswith("plug seated, not held home")


def _episode(seed, physics, reads_wrench):
    setup = load_setup("sim")
    b = SimRobotBackend("plug", seed=seed, realtime=False, task_physics=physics)
    b.connect()
    config, limits = controller_settings(setup.get("controller"), setup.get("safety"),
                                         b.servo_period)
    controller = ServoController(config, limits)
    script = make_force_script(b.task, reads_wrench=reads_wrench)
    result = run_episode(b, controller, script, max_duration=20.0)
    return b.task, result, controller, script


@pytest.mark.parametrize("seed", [SEED_FORCED, SEED_UNSEATED])
def test_oracle_seats_the_plug_in_band_where_the_blind_press_fails(seed):
    task, result, controller, script = _episode(seed, "force", True)
    assert result.success, task.failure_cause()
    assert not controller.fault  # the 60 N force stop never fired
    lo, hi = task.force_band()
    assert lo - 1.0 <= script.click_force <= lo + 1.0  # it felt the detent give
    summary = task.quality.summary(task.force_band())
    assert summary["force_band"] == [lo, hi]
    assert summary["in_band_share"] > 0.0
    assert task.peak_seating_force <= hi

    task, result, _, _ = _episode(seed, "force", False)
    assert not result.success
    expected = "forced: " if seed == SEED_FORCED else "plug not seated"
    assert task.failure_cause().startswith(expected), task.failure_cause()


def test_both_scripts_seat_the_nominal_plug():
    for reads in (True, False):
        task, result, controller, _ = _episode(7, "nominal", reads)
        assert result.success, (reads, task.failure_cause())
        assert task.force_band() is None


def test_oracle_feels_a_click_spread_over_several_replans():
    """Seed 5009: through the compliant tool the carrier's give takes ~0.3 s, and no single
    replan sees a 0.4 mm jump of the prong or a 1.5 N drop (it pressed on to 50 N when the
    oracle compared replan to replan); over two replans it is a click."""
    task, result, controller, script = _episode(5009, "force", True)
    assert result.success, task.failure_cause()
    assert not controller.fault
    lo, hi = task.force_band()
    assert lo - 1.0 <= script.click_force <= lo + 1.0
    assert task.peak_seating_force <= hi
