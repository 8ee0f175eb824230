"""Chunk timing at any inference latency (the contract's rule, fdvla_msgs.types.chunk_delay).

A chunk that finds the arm holding starts where the arm is, however late it is: nothing of it is
skipped for time the arm spent still. A chunk that continues an executing one keeps its own time.
What a late chunk missed is never chased faster than the chunk's own segment speed (+10 %
+5 mm/s, the safety table's promise). Real simulated robot, the controller in the servo cycle.
"""

import numpy as np
import pytest

from fdvla_drivers.control.controller import ControllerConfig, ServoController
from fdvla_drivers.control.safety import SafetyLimits
from fdvla_drivers.control.servo_loop import ServoLoop
from fdvla_drivers.robot.sim_backend import SimRobotBackend
from fdvla_msgs.types import ActionChunk, Pose

SPEED = 0.05  # m/s along x: 5 cm in 1 s
CAP = SPEED * 1.1 + 0.005


@pytest.fixture
def cell():
    backend = SimRobotBackend("button", realtime=False)
    backend.connect()
    backend.reset(seed=0)
    ctrl = ServoController(ControllerConfig(), SafetyLimits())
    ctrl.step(backend.read_state(), backend.now())
    assert ctrl.set_enabled(True)
    loop = ServoLoop(backend, ctrl)
    for _ in range(600):  # held 1.2 s: longer than any latency below
        loop.run_cycle()
    yield backend, ctrl, loop
    backend.close()


def line_chunk(start: Pose, stamp: float, duration: float = 1.0, n: int = 21) -> ActionChunk:
    t = np.linspace(0.0, duration, n)
    return ActionChunk(stamp, t, tuple(Pose(start.position + [SPEED * s, 0, 0],
                                            start.quat_xyzw) for s in t))


def run(loop, backend, seconds: float):
    xs, ts = [], []
    for _ in range(int(seconds / backend.servo_period)):
        target = loop.run_cycle()
        xs.append(target.position[0])
        ts.append(backend.now())
    return np.array(ts), np.array(xs)


@pytest.mark.parametrize("latency", [0.0, 0.3, 0.6, 1.0])
def test_a_chunk_predicted_from_rest_starts_from_the_arm_at_any_latency(cell, latency):
    backend, ctrl, loop = cell
    start = backend.read_state().tcp_pose
    now = backend.now()
    assert ctrl.submit_chunk(line_chunk(start, now - latency), now)
    t, x = run(loop, backend, 1.5)
    # Nothing was skipped: 0.2 s after arrival the target is where the chunk is at 0.2 s, not
    # latency x speed ahead of it, and the arm never moved faster than the chunk.
    for dt in (0.2, 0.5, 0.8):
        k = np.searchsorted(t, now + dt)
        assert x[k] - start.position[0] == pytest.approx(SPEED * dt, abs=0.002), dt
    speed = np.diff(x) / np.diff(t)
    assert speed.max() <= CAP + 1e-6
    assert x[-1] - start.position[0] == pytest.approx(0.05, abs=1e-3)  # all of it executed
    assert ctrl.counters["chunk_retimed"] == (1 if latency > 0 else 0)
    assert ctrl.rejections == {}


def test_a_chunk_that_continues_an_executing_one_keeps_its_time(cell):
    backend, ctrl, loop = cell
    start = backend.read_state().tcp_pose
    t0 = backend.now()
    assert ctrl.submit_chunk(line_chunk(start, t0, duration=2.0, n=41), t0)
    run(loop, backend, 0.5)
    # The next chunk, predicted from the observation at t0 + 0.3 and arriving 0.2 s later,
    # continues the plan: the arm does not wait for it.
    obs_t = t0 + 0.3
    on_plan = Pose(start.position + [SPEED * 0.3, 0, 0], start.quat_xyzw)
    assert ctrl.submit_chunk(line_chunk(on_plan, obs_t), backend.now())
    assert ctrl.counters["chunk_retimed"] == 0
    t, x = run(loop, backend, 0.2)
    np.testing.assert_allclose(x[-1] - start.position[0], SPEED * (t[-1] - t0), atol=0.003)


def test_a_chunk_after_the_old_one_ended_skips_only_what_the_arm_executed(cell):
    backend, ctrl, loop = cell
    start = backend.read_state().tcp_pose
    t0 = backend.now()
    assert ctrl.submit_chunk(line_chunk(start, t0, duration=0.5, n=11), t0)  # 2.5 cm by t0+0.5
    run(loop, backend, 1.2)  # ended at t0 + 0.5, then held 0.7 s
    # Predicted at t0 + 0.2 (continuing the old plan), it arrives 0.7 s after the old chunk ended.
    plan = Pose(start.position + [SPEED * 0.2, 0, 0], start.quat_xyzw)
    arrival = backend.now()
    assert ctrl.submit_chunk(line_chunk(plan, t0 + 0.2), arrival)
    assert ctrl.counters["chunk_retimed"] == 1
    t, x = run(loop, backend, 1.5)
    # It resumes from where the arm stopped (2.5 cm), at the chunk's speed, to its end (7 cm).
    speed = np.diff(x) / np.diff(t)
    assert speed.max() <= CAP + 1e-6
    k = np.searchsorted(t, arrival + 0.2)
    assert x[k] - start.position[0] == pytest.approx(0.025 + SPEED * 0.2, abs=0.003)
    assert x[-1] - start.position[0] == pytest.approx(SPEED * 0.2 + 0.05, abs=1e-3)


def test_a_late_chunk_is_not_chased_after_it_ends(cell):
    """Measured from outside before: a 5 cm / 1 s chunk arriving while another executes but 0.4 s
    behind its plan made the target catch up at 0.17-0.19 m/s once the chunk ended."""
    backend, ctrl, loop = cell
    start = backend.read_state().tcp_pose
    t0 = backend.now()
    hold = ActionChunk(t0, np.array([0.0, 3.0]), (start, start))  # executing: a 3 s hold
    assert ctrl.submit_chunk(hold, t0)
    run(loop, backend, 0.1)
    now = backend.now()
    assert ctrl.submit_chunk(line_chunk(start, now - 0.4), now)  # 2 cm of it already "past"
    t, x = run(loop, backend, 1.5)
    speed = np.diff(x) / np.diff(t)
    assert speed.max() <= CAP + 1e-6
    assert x[-1] - start.position[0] == pytest.approx(0.05, abs=1e-3)
