"""The button's "force" physics (issue 18): hidden per-episode spring and latch band, the checker,
and the two force scripts (oracle reads the wrench, blind does not). Lock-step, seeded."""

import numpy as np
import pytest

from fdvla.config import controller_settings, load_setup
from fdvla_msgs.types import Pose
from fdvla_drivers.control.controller import ServoController
from fdvla_drivers.control.rollout import run_episode
from fdvla_drivers.robot.sim_backend import SimRobotBackend
from fdvla_drivers.sim.force_scripts import make_force_script
from fdvla_drivers.sim.tasks.button import ButtonParams, ButtonTask
from helpers.sim_servo import servo_to

#: Seeds whose draws put the blind script's fixed ~37.5 N press well outside the band: band
#: 22.0-30.0 N (too hard) and 40.4-50.6 N (too lightly). The oracle succeeds on both.
BLIND_TOO_HARD_SEED = 5001
BLIND_TOO_LIGHT_SEED = 5008


def force_backend(seed, **kw):
    return SimRobotBackend("button", seed=seed, realtime=False, task_physics="force", **kw)


def bench_controller(backend):
    """The controller and safety limits of the sim setup (max_force 60 N), as the bench uses."""
    setup = load_setup("sim")
    config, limits = controller_settings(setup.get("controller"), setup.get("safety"),
                                         backend.servo_period)
    return ServoController(config, limits)


# ------------------------------------------------------------------------- hidden parameters

def test_hidden_parameters_vary_across_seeds_and_repeat_for_the_same_seed():
    draws = [force_backend(seed).task.hidden_params() for seed in (1, 2, 3, 4)]
    thresholds = [d["latch_threshold"] for d in draws]
    assert len(set(thresholds)) == 4
    assert max(thresholds) - min(thresholds) > 3.0  # N: a real spread, not rounding
    for d in draws:
        assert 20.0 <= d["latch_threshold"] <= 46.0
        assert 8.0 <= d["damage_limit"] - d["latch_threshold"] <= 11.0
        # The band sits above the spring's force at the stop, by the fixed over-force.
        assert d["latch_threshold"] - d["stop_force"] == pytest.approx(8.0)
    b = force_backend(2)
    b.reset(seed=3)
    assert b.task.hidden_params() == draws[2]
    b.reset(seed=2)
    assert b.task.hidden_params() == draws[1]
    band = b.task.force_band()
    assert band == (draws[1]["latch_threshold"], draws[1]["damage_limit"])


def test_nominal_physics_has_no_hidden_parameters_and_no_band():
    b = SimRobotBackend("button", seed=2, realtime=False)
    assert b.task.physics == "nominal"
    assert b.task.hidden_params() == {}
    assert b.task.force_band() is None
    # Its plunger keeps the model's own limits (the force physics firms up the hard stop).
    assert tuple(b.model.jnt_solref[b.task._jid]) != ButtonParams().stop_solref


def test_nothing_the_cameras_see_depends_on_the_hidden_draw():
    """Same seed, the softest and the stiffest spring: the same placement, start pose and model
    geometry, and the cap settles to exactly the same height (qpos) before it is touched."""
    cells = []
    for stop_force in (12.0, 38.0):
        params = ButtonParams(stop_force_range=(stop_force, stop_force))
        b = SimRobotBackend(ButtonTask(params=params, physics="force"), seed=9, realtime=False)
        b.cell.step(300)  # let the cap settle on its upper stop, the arm holding its start pose
        assert b.task.hidden_params()["stop_force"] == stop_force
        cells.append(b.cell)
    a, c = cells
    assert np.array_equal(a.data.qpos, c.data.qpos)
    assert np.array_equal(a.data.mocap_pos, c.data.mocap_pos)
    assert np.array_equal(a.data.mocap_quat, c.data.mocap_quat)
    for field in ("geom_size", "geom_pos", "geom_rgba", "body_pos"):
        assert np.array_equal(getattr(a.model, field), getattr(c.model, field)), field
    # ...and the nominal physics places it the same way (the hidden draw has its own stream).
    n = SimRobotBackend("button", seed=9, realtime=False)
    assert np.array_equal(n.cell.data.mocap_pos, a.data.mocap_pos)
    assert np.allclose(n.read_state().q, SimRobotBackend(
        "button", seed=9, realtime=False, task_physics="force").read_state().q)


# ----------------------------------------------------------------------------- the checker

def hold_target(b, target: Pose, duration: float) -> None:
    """Send the same servo target for `duration` s (servo_to starts from the measured TCP,
    which lags the target by force / 4000 N/m in contact: no good for small steps)."""
    for _ in range(int(round(duration / b.servo_period))):
        t = b.begin_cycle()
        b.servo_tcp(target)
        b.end_cycle(t)


def press_until(b, force, max_depth=0.03):
    """Lower the servo target onto the cap at 2 mm/s until the task's (low-passed) contact force
    reaches `force`, then hold it there 0.2 s; returns the target's depth below the released
    cap's top."""
    task = b.task
    top = task.cap_top()
    rot = b.read_state().tcp_pose.quat_xyzw
    servo_to(b, Pose(top + [0, 0, 0.03], rot), 1.5)
    servo_to(b, Pose(top + [0, 0, 0.005], rot), 0.5, hold=0.1)
    assert task.peak_force == 0.0  # not touched yet
    depth = -0.005
    while task.force < force:
        depth += 0.0001
        assert depth < max_depth, f"never reached {force} N (at {task.force:.1f} N)"
        hold_target(b, Pose(top - [0, 0, depth], rot), 0.05)
    hold_target(b, Pose(top - [0, 0, depth], rot), 0.2)
    return depth


def release(b):
    top = b.task.cap_top()
    servo_to(b, Pose(top + [0, 0, 0.02], b.read_state().tcp_pose.quat_xyzw), 0.5)


def lamp_lit(task, data):
    return data.mocap_pos[task._lamp, 2] > 2 * task.p.housing_half[2]


def test_press_inside_the_band_latches_on_the_release():
    b = force_backend(5002)
    task, data = b.task, b.cell.data
    lo, hi = task.force_band()
    press_until(b, lo + 0.5 * (hi - lo))
    assert task.armed
    # While the press holds, the ring stays dark: pushing on until it lights cannot work.
    assert not task.latched and not lamp_lit(task, data) and not task.success()
    assert task.failure_cause().startswith("latch engaged but the press never relaxed")
    release(b)
    assert task.success() and lamp_lit(task, data) and task.failure_cause() == ""
    assert task.depth(data) > task.p.travel - task.p.latch_margin  # held down by the latch
    assert task.peak_force < hi


def test_press_below_the_band_bottoms_the_cap_but_does_not_latch():
    b = force_backend(5002)
    task = b.task
    lo, _ = task.force_band()
    press_until(b, task.hidden_params()["stop_force"] + 2.0)
    assert task.depth(b.cell.data) > task.p.travel - task.p.latch_margin  # on its stop
    assert task.force < lo and not task.armed
    release(b)
    assert not task.success() and not task.latched
    assert task.failure_cause().startswith("pressed too lightly")
    assert task.depth(b.cell.data) < 0.001  # the spring returned the cap


def test_press_above_the_band_breaks_the_button_even_though_it_latches():
    b = force_backend(5002)
    task = b.task
    _, hi = task.force_band()
    press_until(b, hi + 2.0)
    release(b)
    assert task.latched and lamp_lit(task, b.cell.data)  # the mechanism still latched...
    assert task.damaged and not task.success()  # ...but the switch block is broken
    cause = task.failure_cause()
    assert cause.startswith("pressed too hard (") and f"> {hi:.1f} N)" in cause
    assert task.progress() == 0.0


# ----------------------------------------------------------------------------- the scripts

def run_script(backend, reads_wrench, max_duration=12.0):
    script = make_force_script(backend.task, reads_wrench=reads_wrench)
    controller = bench_controller(backend)
    result = run_episode(backend, controller, script, max_duration=max_duration)
    return result, script, controller


@pytest.mark.parametrize("seed", [BLIND_TOO_HARD_SEED, BLIND_TOO_LIGHT_SEED])
def test_oracle_succeeds_inside_the_band_from_the_felt_spring(seed):
    b = force_backend(seed)
    task = b.task
    result, script, controller = run_script(b, reads_wrench=True)
    assert result.success and not controller.fault and not result.fault
    hidden = task.hidden_params()
    # It found the spring's force at the stop from force against depth, not from the task.
    assert script.stop_force_estimate == pytest.approx(hidden["stop_force"], abs=1.5)
    lo, hi = task.force_band()
    q = task.quality.summary(task.force_band())
    assert q["force_band"] == [lo, hi]
    assert lo <= q["peak_force"] < hi  # the judged peak: it pressed inside the band
    assert q["in_band_share"] > 0.0


def test_blind_fixed_depth_fails_on_either_side_of_the_band():
    hard = force_backend(BLIND_TOO_HARD_SEED)
    result, _, controller = run_script(hard, reads_wrench=False)
    assert not result.success and not controller.fault
    assert hard.task.failure_cause().startswith("pressed too hard")
    light = force_backend(BLIND_TOO_LIGHT_SEED)
    result, _, controller = run_script(light, reads_wrench=False)
    assert not result.success and not controller.fault
    assert light.task.failure_cause().startswith("pressed too lightly")
    # The same fixed depth pressed about as hard on both springs: the force is set by the depth.
    assert hard.task.peak_force == pytest.approx(light.task.peak_force, abs=2.0)


@pytest.mark.parametrize("reads_wrench", [True, False])
def test_both_scripts_press_the_nominal_button(reads_wrench):
    b = SimRobotBackend("button", seed=5001, realtime=False)
    result, _, controller = run_script(b, reads_wrench)
    assert result.success and not controller.fault
    assert b.task.quality.summary()["force_band"] is None
