"""The contact force a task judges (JudgedForce) and the force quality it reports: one low-pass
for every task, and the quality's peak is the force the checker judged, not the raw contact."""

import math

import pytest

from fdvla.config import controller_settings, load_setup
from fdvla_drivers.control.controller import ServoController
from fdvla_drivers.control.rollout import run_episode
from fdvla_drivers.robot.sim_backend import SimRobotBackend
from fdvla_drivers.sim.force_scripts import make_force_script
from fdvla_drivers.sim.tasks.base import JudgedForce


def test_low_pass_is_first_order_with_its_time_constant():
    f = JudgedForce(0.01)
    f.bind(0.002)
    values = [f.step(10.0) for _ in range(5)]  # 10 ms of a 10 N step
    assert values[-1] == pytest.approx(10.0 * (1 - math.exp(-1.0)), rel=1e-9)
    assert f.peak == values[-1]
    # A 2 ms spike of 100 N is not a 100 N press.
    g = JudgedForce(0.01)
    g.bind(0.002)
    g.step(100.0)
    assert g.value < 20.0
    for _ in range(50):
        g.step(0.0)
    assert g.peak < 20.0 and g.value < 0.1
    g.reset()
    assert g.value == 0.0 and g.peak == 0.0


@pytest.mark.parametrize("task, seed", [("button", 5002), ("plug", 5014), ("wipe", 5000)])
def test_quality_peak_is_the_judged_force_of_each_task(task, seed):
    b = SimRobotBackend(task, seed=seed, realtime=False, task_physics="force")
    b.connect()
    try:
        setup = load_setup("sim")
        controller = ServoController(*controller_settings(
            setup.get("controller"), setup.get("safety"), b.servo_period))
        run_episode(b, controller, make_force_script(b.task, reads_wrench=True),
                    max_duration=14.0)
        t = b.task
        q = t.quality.summary(t.force_band())
        assert q["peak_force"] >= t.force_band()[0]  # it pressed (rubbed) into the band
        assert q["peak_force"] == pytest.approx(t.judged.peak, abs=0.01)
        # A new episode starts the judged force and the quality from zero.
        b.reset(seed=seed + 1)
        assert t.judged.peak == 0.0 and t.quality.summary()["peak_force"] == 0.0
    finally:
        b.close()
