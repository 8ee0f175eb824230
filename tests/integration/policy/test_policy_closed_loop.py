"""The policy node in its own OS process (`python -m fdvla.process --process policy`) driving the
simulated sensorless cell over DDS: chunks accepted, the arm moves, no /wrench anywhere, the
Foxglove live view serves the topics, and the controller holds when the policy dies."""

import asyncio
import json
import os
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, WrenchStamped
from nav_msgs.msg import Path
from std_msgs.msg import Float32MultiArray
from std_srvs.srv import SetBool
from trajectory_msgs.msg import MultiDOFJointTrajectory

from fdvla.bringup import Bringup
from fdvla_msgs import conversions as conv
from fdvla_msgs import qos, topics
from helpers.probe import Probe
from helpers.checkpoints import below, make_checkpoint, sim_start_pose

pytestmark = pytest.mark.slow
INSTRUCTION = "press the emergency button"
# Small, slow cameras and a lenient state timeout: this runs on a loaded 2-core CI machine
# (the controller's state-timeout stop is tested in tests/unit/fdvla_drivers).
SETUP = ["robot.seed=0", "view.enabled=true", "view.port=0", "safety.state_timeout=1.0",
         *(f"cameras.{c}.{k}={v}" for c in ("kinect", "wrist")
           for k, v in (("width", 128), ("height", 96), ("fps", 15)))]


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    start = sim_start_pose("button", seed=0, sensorless=True)
    ckpt = make_checkpoint(tmp_path_factory.mktemp("policy") / "ckpt", below(start, 0.03))
    bringup = Bringup.from_setup("sim_sensorless", SETUP).start()
    probe = Probe("policy_probe")
    for topic, typ, prof in ((topics.ACTION_CHUNK, MultiDOFJointTrajectory, qos.COMMAND),
                             (topics.TCP_POSE, PoseStamped, qos.SENSOR_SUB),
                             (topics.PREDICTED_WRENCH, WrenchStamped, qos.SENSOR_SUB),
                             (topics.FORCE_TOKEN, Float32MultiArray, qos.SENSOR_SUB),
                             (topics.PREDICTED_PATH, Path, qos.SENSOR_SUB),
                             (topics.DIAGNOSTICS, DiagnosticArray, qos.DIAGNOSTICS)):
        probe.subscribe(topic, typ, profile=prof)
    probe.wait_for(lambda: probe.count(topics.TCP_POSE) > 10, 20, "/tcp_pose")
    t0, start_pose = conv.pose_from_msg(probe.latest(topics.TCP_POSE))
    if not bringup.node("controller").controller.armed:  # a start-up stall on a loaded machine
        assert probe.call(SetBool, topics.SRV_CONTROLLER_ENABLE, SetBool.Request(data=True)).success
    # The policy in its own process, exactly as the multi-process bringup / launch file start it.
    proc = subprocess.Popen(
        [sys.executable, "-m", "fdvla.process", "--robot", "sim_sensorless", "--process", "policy",
         "--set", f"policy.checkpoint={ckpt}", "--set", f"instruction={INSTRUCTION}",
         "--set", "policy.max_age=0.5", "--set", "policy.sync_tolerance=0.2"],
        env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        probe.wait_for(lambda: probe.count(topics.ACTION_CHUNK) >= 3 or proc.poll() is not None,
                       90, "three action chunks")
        assert proc.poll() is None, proc.stdout.read()
        yield bringup, probe, proc, start_pose
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        probe.close()
        bringup.stop()


def diag(probe, suffix):
    for msg in reversed(probe.all(topics.DIAGNOSTICS)):
        for st in msg.status:
            if st.name.endswith(suffix):
                return st, conv.diagnostic_values(st)
    return None, {}


def test_chunks_follow_the_contract_and_the_controller_accepts_them(loop):
    bringup, probe, _, start_pose = loop
    msg = probe.latest(topics.ACTION_CHUNK)
    chunk = conv.chunk_from_msg(msg)
    assert len(chunk) == 10
    np.testing.assert_allclose(chunk.times, np.arange(10) * 0.1, atol=1e-6)
    # header.stamp = the observation's sampling time: in the past, within the freshness limit
    age = bringup.robot.now() - chunk.stamp
    assert 0.0 <= age < 5.0
    probe.wait_for(lambda: int(diag(probe, ": controller")[1].get("accepted_chunks", 0)) >= 2,
                   10, "the controller to accept chunks")
    # the arm moves toward the chunk's target, 3 cm below the start
    probe.wait_for(lambda: start_pose.position[2] - conv.pose_from_msg(
        probe.latest(topics.TCP_POSE))[1].position[2] > 0.015, 15, "the TCP to descend")


def test_predictions_and_figures_are_published(loop):
    _, probe, _, _ = loop
    probe.wait_for(lambda: probe.count(topics.PREDICTED_WRENCH) > 0
                   and probe.count(topics.FORCE_TOKEN) > 0 and probe.count(topics.PREDICTED_PATH) > 0,
                   10, "predicted wrench, force token and path")
    assert probe.latest(topics.PREDICTED_WRENCH).header.frame_id == topics.BASE_FRAME
    assert len(conv.force_token_from_msg(probe.latest(topics.FORCE_TOKEN))) > 0
    assert len(probe.latest(topics.PREDICTED_PATH).poses) == 10
    probe.wait_for(lambda: diag(probe, ": policy")[1].get("chunks", "0") not in ("0",), 5,
                   "policy diagnostics")
    st, v = diag(probe, ": policy")
    assert v["ready"] == "True"
    for key in ("inference_ms_p50", "inference_ms_p99", "obs_age_ms_p50", "chunks_per_s",
                "idle_ms_mean", "skipped_total"):
        assert key in v
    assert float(v["inference_ms_p50"]) > 0 and float(v["obs_age_ms_p50"]) > 0


def test_sensorless_setup_has_no_wrench_topic_anywhere(loop):
    _, probe, _, _ = loop
    time.sleep(0.5)
    names = {n for n, _ in probe.node.get_topic_names_and_types()}
    assert topics.ACTION_CHUNK in names  # discovery works ...
    assert topics.WRENCH not in names  # ... and nobody publishes or subscribes /wrench
    assert probe.node.count_publishers(topics.WRENCH) == 0
    assert probe.node.count_subscribers(topics.WRENCH) == 0


def test_foxglove_client_subscribes_to_a_channel_and_receives_cdr_messages(loop):
    import websockets
    from rclpy.serialization import deserialize_message

    bringup, _, _, _ = loop
    port = bringup.node("foxglove_bridge").port

    async def client():
        # foxglove-sdk 0.30 negotiates `foxglove.sdk.v1`, the renamed `foxglove.websocket.v1`
        # (same messages); a client offering only the old name is refused by this SDK version.
        async with websockets.connect(f"ws://127.0.0.1:{port}",
                                      subprotocols=["foxglove.websocket.v1", "foxglove.sdk.v1"]) as ws:
            assert ws.subprotocol in ("foxglove.websocket.v1", "foxglove.sdk.v1")
            info = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert info["op"] == "serverInfo"
            channels = {}
            while topics.TCP_POSE not in channels:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if msg["op"] == "advertise":
                    channels.update({c["topic"]: c for c in msg["channels"]})
            ch = channels[topics.TCP_POSE]
            assert (ch["encoding"], ch["schemaEncoding"], ch["schemaName"]) == (
                "cdr", "ros2msg", "geometry_msgs/msg/PoseStamped")
            assert topics.WRENCH not in channels
            await ws.send(json.dumps({"op": "subscribe",
                                      "subscriptions": [{"id": 7, "channelId": ch["id"]}]}))
            while True:
                data = await asyncio.wait_for(ws.recv(), 10)
                if isinstance(data, bytes) and data[0] == 0x01:
                    sub_id, _ = struct.unpack_from("<IQ", data, 1)
                    assert sub_id == 7
                    return deserialize_message(data[13:], PoseStamped)

    pose = asyncio.run(client())
    assert pose.header.frame_id == topics.BASE_FRAME
    assert -1.0 < pose.pose.position.x < 1.0


def test_policy_reads_the_robot_state_without_a_callback_per_message(loop):
    """The 500 Hz state is read when an observation is assembled: its readers belong to a node
    no executor spins (`policy_state`), not to the policy node whose executor shares the model's
    interpreter (before: 1000 Python callbacks a second there)."""
    _, probe, _, _ = loop
    for topic in (topics.JOINT_STATES, topics.TCP_POSE):
        readers = {i.node_name for i in probe.node.get_subscriptions_info_by_topic(topic)}
        assert "policy_state" in readers and "policy" not in readers, (topic, readers)
    _, values = diag(probe, ": policy")
    assert int(values["chunks"]) >= 1  # and chunks are made from it


def test_killed_policy_process_leaves_the_controller_holding(loop):
    _, probe, proc, _ = loop
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    # the last chunk (1 s) runs out; the controller holds where it ends
    probe.wait_for(lambda: diag(probe, ": controller")[1].get("mode") == "hold", 10,
                   "the controller to hold")
    # The target finishes the way to the chunk's end at the chunk's own speed (this test
    # policy's chunk is a constant pose 3 cm off: 5 mm/s), then stays there.
    end = time.monotonic() + 30.0
    while True:
        p1 = conv.pose_from_msg(probe.latest(topics.TCP_POSE))[1].position
        time.sleep(0.5)
        p2 = conv.pose_from_msg(probe.latest(topics.TCP_POSE))[1].position
        if np.linalg.norm(p2 - p1) < 1e-3 or time.monotonic() > end:
            break
    assert np.linalg.norm(p2 - p1) < 1e-3
    assert diag(probe, ": controller")[1].get("mode") == "hold"
