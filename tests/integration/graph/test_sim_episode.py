"""The sim episode contract over DDS: /sim/reset and /sim/task_state on a running sim graph."""

import json
import time

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped, TwistStamped
from std_msgs.msg import String
from std_srvs.srv import Trigger

from fdvla.bringup import Bringup
from fdvla_drivers.robot.sim_backend import SimRobotBackend
from fdvla_msgs import conversions as conv
from fdvla_msgs import qos, topics
from fdvla_msgs.types import Twist
from helpers.probe import Probe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cell():
    bringup = Bringup.from_setup("sim", ["cameras={}", "robot.seed=7"]).start()
    probe = Probe("sim_episode_probe")
    probe.subscribe(topics.TCP_POSE, PoseStamped)
    probe.subscribe(topics.CONTROLLER_TARGET_POSE, PoseStamped)
    probe.subscribe(topics.SIM_TASK_STATE, String, profile=qos.SIM_TASK_STATE)
    probe.wait_for(lambda: probe.count(topics.CONTROLLER_TARGET_POSE) > 0, 20,
                   "the controller to arm")
    probe.wait_for(lambda: probe.count(topics.SIM_TASK_STATE) > 2, 10, "/sim/task_state")
    yield bringup, probe
    probe.close()
    bringup.stop()


def state(probe) -> dict:
    return json.loads(probe.latest(topics.SIM_TASK_STATE).data)


def tcp(probe):
    return conv.pose_from_msg(probe.latest(topics.TCP_POSE))[1]


def reset(probe) -> dict:
    res = probe.call(Trigger, topics.SIM_RESET, Trigger.Request())
    assert res.success, res.message
    return json.loads(res.message)


def expected_poses(task: str, seed: int) -> dict:
    backend = SimRobotBackend(task, seed=seed, realtime=False)
    return {k: [*v.position, *v.quat_xyzw] for k, v in backend.task.object_poses().items()}


def test_task_state_of_bringup_is_episode_zero(cell):
    _, probe = cell
    st = state(probe)
    assert (st["episode"], st["seed"], st["task"]) == (0, 7, "button")
    assert st["success"] is False and st["failure"].startswith("button not latched")
    assert st["fault"] == "" and 0.0 <= st["progress"] <= 1.0
    # Same clock as /tcp_pose stamps.
    t_pose = conv.pose_from_msg(probe.latest(topics.TCP_POSE))[0]
    assert abs(st["stamp"] - t_pose) < 1.0
    np.testing.assert_allclose(st["object_poses"]["button_cap_top"],
                               expected_poses("button", 7)["button_cap_top"], atol=1e-9)
    n0 = probe.count(topics.SIM_TASK_STATE)  # it keeps streaming (its rate is bench/'s)
    probe.wait_for(lambda: probe.count(topics.SIM_TASK_STATE) > n0 + 5, 30, "task state stream")


def test_reset_moves_to_next_episode_and_holds_new_start(cell):
    bringup, probe = cell
    # Drive the arm away from the start with a twist, then reset.
    twist_pub = probe.publisher(topics.SERVO_TWIST, TwistStamped)
    probe.wait_for_subscriber(twist_pub)
    before = tcp(probe)
    for _ in range(25):
        now = bringup.robot.now()
        twist_pub.publish(conv.twist_to_msg(Twist(now, np.array([0.0, 0.0, 0.05]), np.zeros(3))))
        time.sleep(0.04)
    probe.wait_for(lambda: tcp(probe).position[2] > before.position[2] + 0.01, 5, "the lift")
    info = reset(probe)
    assert info == {"episode": 1, "seed": 8, "task": "button",
                    "instruction": "press the emergency button"}
    probe.wait_for(lambda: state(probe)["episode"] == 1, 5, "task state of episode 1")
    st = state(probe)
    assert st["seed"] == 8 and not st["success"]
    np.testing.assert_allclose(st["object_poses"]["button_cap_top"],
                               expected_poses("button", 8)["button_cap_top"], atol=1e-9)
    # The arm is at the new episode's start pose and the controller holds it there (armed).
    start = SimRobotBackend("button", seed=8, realtime=False).read_state().tcp_pose
    time.sleep(0.5)
    np.testing.assert_allclose(tcp(probe).position, start.position, atol=3e-3)
    target = conv.pose_from_msg(probe.latest(topics.CONTROLLER_TARGET_POSE))[1]
    np.testing.assert_allclose(target.position, start.position, atol=3e-3)
    assert bringup.node("controller").controller.armed


def test_reset_clears_a_protective_stop(cell):
    bringup, probe = cell
    bringup.robot.trigger_protective_stop("test stop")
    probe.wait_for(lambda: state(probe)["fault"] == "test stop", 5, "the fault in task state")
    probe.wait_for(lambda: not bringup.node("controller").controller.armed, 5, "the disarm")
    info = reset(probe)
    assert info["episode"] == 2 and info["seed"] == 9
    probe.wait_for(lambda: state(probe)["episode"] == 2, 5, "task state of episode 2")
    assert state(probe)["fault"] == ""
    assert bringup.node("controller").controller.armed
