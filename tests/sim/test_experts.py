"""Scripted experts drive the sim through the real servo controller and solve each task."""

import numpy as np
import pytest

from fdvla_msgs.types import ActionChunk
from fdvla_drivers.control.controller import ControllerConfig, ServoController
from fdvla_drivers.control.safety import SafetyLimits
from fdvla_drivers.robot.sim_backend import SimRobotBackend
from fdvla_drivers.sim.experts import WipeExpert, make_expert
from fdvla_drivers.sim.rollout import run_episode

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
