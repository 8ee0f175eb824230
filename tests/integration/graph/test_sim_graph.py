"""The simulated cell's node graph, seen only over DDS by a probe on its own participant."""

import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, TwistStamped, WrenchStamped
from sensor_msgs.msg import JointState
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import MultiDOFJointTrajectory

from fdvla.bringup import Bringup
from fdvla_msgs import conversions as conv
from fdvla_msgs import qos, topics
from fdvla_msgs.types import ActionChunk, Pose, Twist
from helpers.probe import Probe
from helpers.sim_graph import NO_CAMERAS, line_chunk, rejected, settle, tcp

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def cell():
    bringup = Bringup.from_setup("sim", NO_CAMERAS).start()
    probe = Probe()
    for topic, typ in [(topics.TCP_POSE, PoseStamped), (topics.JOINT_STATES, JointState),
                       (topics.WRENCH, WrenchStamped), (topics.CONTROLLER_TARGET_POSE,
                                                        PoseStamped)]:
        probe.subscribe(topic, typ)
    probe.subscribe(topics.DIAGNOSTICS, DiagnosticArray, profile=qos.DIAGNOSTICS)
    chunk_pub = probe.publisher(topics.ACTION_CHUNK, MultiDOFJointTrajectory)
    twist_pub = probe.publisher(topics.SERVO_TWIST, TwistStamped)
    probe.wait_for(lambda: probe.count(topics.TCP_POSE) > 50, 20, "/tcp_pose")
    probe.wait_for(lambda: probe.count(topics.CONTROLLER_TARGET_POSE) > 0, 20,
                   "the controller to arm")
    assert probe.node.count_publishers(topics.TCP_POSE) == 1  # no other graph on this domain
    probe.wait_for_subscriber(chunk_pub)
    probe.wait_for_subscriber(twist_pub)
    yield bringup, probe, chunk_pub, twist_pub
    probe.close()
    bringup.stop()


def test_robot_topics_carry_sampling_stamps_and_ur_joint_names(cell):
    bringup, probe, *_ = cell
    js = probe.latest(topics.JOINT_STATES)
    assert tuple(js.name) == (
        "shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint",
        "wrist_2_joint", "wrist_3_joint")
    pose_msg = probe.latest(topics.TCP_POSE)
    assert pose_msg.header.frame_id == topics.BASE_FRAME
    stamps = [conv.from_ros_time(m.header.stamp) for m in probe.all(topics.TCP_POSE)]
    assert np.all(np.diff(stamps[-100:]) > 0)
    assert abs(stamps[-1] - time.time()) < 0.5  # wall-clock sampling time in paced sim
    w = probe.latest(topics.WRENCH)
    assert w is not None and w.header.frame_id == topics.BASE_FRAME


def test_chunk_moves_tcp_to_commanded_pose(cell):
    bringup, probe, chunk_pub, _ = cell
    start = settle(probe)
    delta = np.array([0.0, 0.04, -0.02])
    chunk = line_chunk(time.time(), start, delta, duration=1.0)
    chunk_pub.publish(conv.chunk_to_msg(chunk))
    probe.wait_for(lambda: np.linalg.norm(tcp(probe).position - (start.position + delta)) < 3e-3,
                   10, "the TCP to reach the chunk's last pose")
    end = settle(probe, 0.5)
    dp, dr = end.distance_to(chunk.poses[-1])
    assert dp < 3e-3 and dr < 0.02
    target = conv.pose_from_msg(probe.latest(topics.CONTROLLER_TARGET_POSE))[1]
    assert target.distance_to(chunk.poses[-1])[0] < 1e-4


@pytest.mark.parametrize("name,make", [
    ("not_finite", lambda t, p: line_chunk(t, Pose(p.position + [np.nan, 0, 0], p.quat_xyzw),
                                           [0.02, 0, 0], 1.0)),
    ("empty", lambda t, p: ActionChunk(t, np.zeros(0), ())),
    ("time_reversed", lambda t, p: ActionChunk(t, np.array([0.5, 0.2]), (p, p))),
    ("start_far", lambda t, p: line_chunk(t, Pose(p.position + [0.15, 0, 0], p.quat_xyzw),
                                          [0.01, 0, 0], 1.0)),
    ("workspace", lambda t, p: line_chunk(t, p, [0, 0, 0.8], 8.0)),
    ("speed", lambda t, p: line_chunk(t, p, [0.0, 0.2, 0], 0.3)),
    ("stale", lambda t, p: line_chunk(t - 5.0, p, [0.02, 0, 0], 10.0)),
])
def test_each_safety_rule_rejects_and_the_arm_does_not_move(cell, name, make):
    bringup, probe, chunk_pub, _ = cell
    before_counts = rejected(probe)
    start = settle(probe)
    chunk_pub.publish(conv.chunk_to_msg(make(time.time(), start)))
    key = f"rejected.{name}"
    probe.wait_for(lambda: int(rejected(probe).get(key, 0)) > int(before_counts.get(key, 0)),
                   5, f"/diagnostics to count {key}")
    end = settle(probe, 0.5)
    assert end.distance_to(start)[0] < 1e-3


def test_stop_service_latches_until_enable(cell):
    bringup, probe, chunk_pub, _ = cell
    res = probe.call(Trigger, topics.SRV_CONTROLLER_STOP, Trigger.Request())
    assert res.success
    start = settle(probe)
    before = int(rejected(probe).get("rejected.disarmed", 0))
    chunk_pub.publish(conv.chunk_to_msg(line_chunk(time.time(), start, [0, 0.03, 0], 1.0)))
    probe.wait_for(lambda: int(rejected(probe).get("rejected.disarmed", 0)) > before, 5,
                   "the disarmed rejection")
    assert settle(probe, 0.8).distance_to(start)[0] < 1e-3
    assert probe.call(SetBool, topics.SRV_CONTROLLER_ENABLE, SetBool.Request(data=True)).success
    start = settle(probe)
    chunk_pub.publish(conv.chunk_to_msg(line_chunk(time.time(), start, [0, 0.03, 0], 1.0)))
    probe.wait_for(lambda: tcp(probe).distance_to(start)[0] > 0.02, 10, "motion after enable")


def test_teleop_twist_moves_and_times_out(cell):
    bringup, probe, _, twist_pub = cell
    start = settle(probe)
    t_end = time.time() + 1.0
    while time.time() < t_end:
        twist_pub.publish(conv.twist_to_msg(Twist(time.time(), [0.0, -0.03, 0.0], [0, 0, 0])))
        time.sleep(0.02)
    moved = settle(probe, 0.5)
    dy = moved.position[1] - start.position[1]
    assert -0.04 < dy < -0.02  # ~3 cm in -y, nothing in the other axes
    assert abs(moved.position[0] - start.position[0]) < 3e-3
    assert settle(probe, 0.5).distance_to(moved)[0] < 1e-3  # twist stopped: holding


def test_protective_stop_stops_the_controller(cell):
    bringup, probe, chunk_pub, _ = cell
    robot = bringup.robot
    start = settle(probe)
    chunk_pub.publish(conv.chunk_to_msg(line_chunk(time.time(), start, [0, 0.04, 0], 2.0)))
    time.sleep(0.3)
    robot.trigger_protective_stop("test")
    probe.wait_for(lambda: "protective" in rejected(probe).get("fault", ""), 5,
                   "the controller to report the protective stop")
    frozen = settle(probe, 0.3)
    assert settle(probe, 0.7).distance_to(frozen)[0] < 1e-3
    robot.unlock_protective_stop()
    time.sleep(0.2)
    assert probe.call(SetBool, topics.SRV_CONTROLLER_ENABLE, SetBool.Request(data=True)).success

