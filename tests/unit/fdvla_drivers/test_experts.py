"""Scripted experts drive the sim through the real servo controller and solve each task."""

import numpy as np
import pytest

from fdvla_msgs.types import ActionChunk
from fdvla_drivers.control.controller import ControllerConfig, ServoController
from fdvla_drivers.control.safety import SafetyLimits
from fdvla_drivers.robot.sim_backend import SimRobotBackend
from fdvla_drivers.sim.experts import WipeExpert, make_expert
from fdvla_drivers.control.rollout import run_episode

EPISODES = 20


def controller():
    return ServoController(ControllerConfig(), SafetyLimits())


@pytest.mark.slow
@pytest.mark.parametrize("task", ["button", "plug", "wipe"])
def test_expert_succeeds_in_at_least_95_percent_of_randomised_episodes(task):
    backend = SimRobotBackend(task, realtime=False)
    backend.connect()
    successes, placements = 0, set()
    for seed in range(EPISODES):
        backend.reset(seed=100 + seed)
        first_object = next(iter(backend.task.object_poses().values()))
        placements.add(tuple(np.round(first_object.position, 4)))
        result = run_episode(backend, controller(), make_expert(backend.task), max_duration=15.0)
        successes += result.success
        assert result.chunks_accepted > 0
    assert len(placements) == EPISODES  # every episode had its own object placement
    assert successes >= 0.95 * EPISODES


class Hover:
    """Holds the start pose: the tasks must not count as done without any work."""

    def act(self, state, now):
        return ActionChunk(now, np.array([0.0, 0.5]), (state.tcp_pose, state.tcp_pose))


@pytest.mark.parametrize("task", ["button", "plug", "wipe"])
def test_doing_nothing_does_not_succeed(task):
    backend = SimRobotBackend(task, seed=3, realtime=False)
    result = run_episode(backend, controller(), Hover(), max_duration=0.5)
    assert not result.success
    assert result.cycles == 250


def test_wiping_without_pressing_erases_nothing():
    backend = SimRobotBackend("wipe", seed=5, realtime=False)
    expert = WipeExpert(backend.task)
    expert.press_depth = -0.003  # skims 3 mm above the board: no contact force
    result = run_episode(backend, controller(), expert, max_duration=12.0)
    assert not result.success
    assert result.progress == 0.0
    assert backend.task.max_normal_force < backend.task.p.erase_force


def test_on_cycle_sees_every_servo_cycle_with_targets_and_chunks():
    backend = SimRobotBackend("button", seed=2, realtime=False)
    records = []
    result = run_episode(backend, controller(), make_expert(backend.task), max_duration=1.0,
                         replan_period=0.1, on_cycle=records.append)
    assert len(records) == result.cycles == 500
    assert sum(r.chunk is not None for r in records) == 10
    stamps = np.array([r.state.stamp for r in records])
    assert np.allclose(np.diff(stamps), 0.002)
    assert all(r.target is not None for r in records)


def test_button_expert_releases_after_the_latch_and_holds_above_the_cap():
    """The expert lets go once the cap has latched: it rises above the button and holds there,
    with no contact force, until the episode ends."""
    backend = SimRobotBackend("button", seed=4, realtime=False)
    expert = make_expert(backend.task)
    records = []
    result = run_episode(backend, controller(), expert, max_duration=12.0, success_hold=3.0,
                         on_cycle=records.append)
    assert result.success and not result.fault and not result.chunks_rejected
    assert result.duration == pytest.approx(result.success_time + 3.0, abs=0.01)
    assert expert.released_at - expert.latched_at == pytest.approx(expert.release_delay, abs=0.11)
    cap_top = backend.task.cap_top()[2]
    last = [r for r in records if r.now >= records[-1].now - 0.5]
    for r in last:  # the last half second: holding above the cap, not touching it
        assert r.state.tcp_pose.position[2] > cap_top + 0.02
        assert np.linalg.norm(r.state.wrench[:3]) < 1.0
    z = [r.state.tcp_pose.position[2] for r in last]
    assert max(z) - min(z) < 0.001
    # It pressed the latched cap well within the force limit, and let go of it quickly.
    latched = [r for r in records if r.now >= expert.latched_at]
    assert max(np.linalg.norm(r.state.wrench[:3]) for r in latched) < 55.0
    after = [r for r in records if r.now >= expert.released_at + 0.5]
    assert max(np.linalg.norm(r.state.wrench[:3]) for r in after) < 5.0
