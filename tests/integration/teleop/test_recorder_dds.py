"""The recorder node over DDS against the real sim: two episodes read back with rosbags,
refusals, the sensorless setup, and a recorder process killed with SIGKILL mid-episode."""

import json
import signal
import subprocess
import sys
import time

import pytest
from rosbags.rosbag2 import Reader

from fdvla.bringup import Bringup
from fdvla.config import load_setup
from fdvla_msgs import topics as T
from fdvla_teleop.bags import BagError, find_bags, read_bag
from fdvla_teleop.dataset_build import build_dataset
from fdvla_teleop.nodes.recorder_node import RecorderNode
from fdvla_drivers.nodes.session import RosSession
from fdvla_teleop.topics import contract_topics

pytestmark = pytest.mark.slow

SMALL_CAMERAS = ["cameras.kinect.width=64", "cameras.kinect.height=48", "cameras.kinect.fps=10",
                 "cameras.wrist.width=64", "cameras.wrist.height=48", "cameras.wrist.fps=10",
                 "instruction=press the emergency button"]


def wait(pred, timeout, what):
    t_end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < t_end, f"timed out waiting for {what}"
        time.sleep(0.02)


def armed(bringup):
    """The controller publishes /controller/target_pose only while armed; a loaded CPU can
    starve the in-process sim into a stale-state stop, so re-arm as an operator would."""
    ctrl = bringup.node("controller").controller
    wait(lambda: ctrl.armed or bool(ctrl.set_enabled(True)), 20, "an armed controller")


def recorded(session, recorder, seconds):
    res = session.call_trigger(T.SRV_RECORDER_START, timeout=30)
    assert res.success, res.message
    time.sleep(seconds)
    res = session.call_trigger(T.SRV_RECORDER_STOP, timeout=60)
    assert res.success, res.message
    return res.message.split()[-1]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    cfg = load_setup("sim", SMALL_CAMERAS)
    bringup = Bringup(cfg).start()
    session = RosSession("recorder_test")
    out = tmp_path_factory.mktemp("bags")
    recorder = session.add(RecorderNode(str(out), contract_topics(cfg),
                                        {"setup": "sim", "task": "button",
                                         "instruction": cfg["instruction"]},
                                        flush_period=0.5, context=session.context))
    wait(lambda: recorder._task_state is not None, 30, "/sim/task_state")
    yield cfg, bringup, session, recorder, out
    session.close()
    bringup.stop()


def test_two_episodes_read_back_with_rosbags(sim):
    cfg, bringup, session, recorder, out = sim
    armed(bringup)
    first = recorded(session, recorder, 1.5)
    res = session.call_trigger(T.SIM_RESET)
    assert res.success, res.message
    wait(lambda: recorder._task_state["episode"] == 1, 5, "episode 1")
    armed(bringup)
    second = recorded(session, recorder, 1.5)
    assert [p.name for p in find_bags([out])] == ["episode_0000", "episode_0001"]
    expected = {T.JOINT_STATES: "sensor_msgs/msg/JointState",
                T.TCP_POSE: "geometry_msgs/msg/PoseStamped",
                T.WRENCH: "geometry_msgs/msg/WrenchStamped",
                "/kinect/color/image_raw": "sensor_msgs/msg/Image",
                "/kinect/color/camera_info": "sensor_msgs/msg/CameraInfo",
                "/wrist/color/image_raw": "sensor_msgs/msg/Image",
                "/wrist/color/camera_info": "sensor_msgs/msg/CameraInfo",
                # latched, written into every bag; the wrist camera publishes none
                "/kinect/extrinsics": "geometry_msgs/msg/PoseStamped",
                T.CONTROLLER_TARGET_POSE: "geometry_msgs/msg/PoseStamped",
                T.INSTRUCTION: "std_msgs/msg/String", T.SIM_TASK_STATE: "std_msgs/msg/String"}
    for k, path in enumerate((first, second)):
        assert (out / f"episode_{k:04d}" / "metadata.yaml").is_file()
        assert (out / f"episode_{k:04d}" / f"episode_{k:04d}.mcap").is_file()
        with Reader(path) as reader:  # the bag library itself, not our reader
            types = {c.topic: c.msgtype for c in reader.connections}
            counts = {c.topic: c.msgcount for c in reader.connections}
            assert reader.message_count == sum(counts.values())
        assert types == expected
        assert counts[T.JOINT_STATES] > 20 and counts[T.TCP_POSE] > 20  # (a loaded CPU: < 500 Hz)
        assert counts["/kinect/color/image_raw"] >= 5 and counts[T.INSTRUCTION] == 1
        assert counts["/kinect/extrinsics"] == 1  # latched: the one message, in each bag
        bag = read_bag(path)
        facts = bag.custom_data
        assert facts["instruction"] == "press the emergency button"
        assert (facts["task"], facts["setup"], facts["sim_episode"]) == ("button", "sim", str(k))
        assert facts["seed"] == str(k)  # robot.seed 0 + episode k
        assert facts["success"] == "false" and "button not latched" in facts["failure"]
        assert facts["software_version"] and "started_at" in facts
        mc = json.loads(facts["message_counts"])
        for topic, n in counts.items():
            assert mc[topic] == {"received": n, "written": n}, topic


def test_receive_and_written_counts_in_diagnostics(sim):
    from diagnostic_msgs.msg import DiagnosticArray

    from fdvla_msgs import conversions as conv
    from fdvla_msgs import qos

    _, _, session, _, _ = sim
    seen = []
    sub = session.node.create_subscription(
        DiagnosticArray, T.DIAGNOSTICS,
        lambda m: seen.extend(conv.diagnostic_values(s) for s in m.status
                              if s.name == "recorder: recorder"), qos.DIAGNOSTICS)
    assert session.call_trigger(T.SRV_RECORDER_START, timeout=30).success
    try:
        wait(lambda: any(int(v["received"]) > 20 for v in seen), 10, "recorder diagnostics")
    finally:
        assert session.call_trigger(T.SRV_RECORDER_STOP, timeout=60).success
        session.node.destroy_subscription(sub)
    v = [v for v in seen if int(v["received"]) > 20][-1]
    assert v["state"] == "recording" and int(v["received" + T.JOINT_STATES]) > 0
    assert int(v["written"]) <= int(v["received"])


def test_refusals_over_services(sim):
    _, _, session, _, _ = sim
    res = session.call_trigger(T.SRV_RECORDER_STOP, timeout=60)
    assert not res.success and "refused: not recording" in res.message
    assert session.call_trigger(T.SRV_RECORDER_START, timeout=30).success
    res = session.call_trigger(T.SRV_RECORDER_START, timeout=30)
    assert not res.success and "already recording" in res.message
    res = session.call_trigger(T.SRV_RECORDER_DISCARD, timeout=60)
    assert res.success and "discarded" in res.message
    assert read_bag(res.message.split()[-1]).custom_data["status"] == "discarded"


def test_sigkill_mid_episode_leaves_a_readable_prefix(sim, tmp_path):
    cfg, bringup, session, recorder, _ = sim
    # Only the child's recorder may answer /recorder/* from here on (runs last in the module).
    session.executor.remove_node(recorder)
    session.nodes.remove(recorder)
    recorder.destroy_node()
    out = tmp_path / "killed"
    # The graph's own teleop process, recorder only, as a separate OS process.
    cmd = [sys.executable, "-m", "fdvla.process", "--robot", "sim", "--process", "teleop",
           "--set", f"recorder.out={out}", "--set", "recorder.flush_period=0.3",
           *[a for s in SMALL_CAMERAS for a in ("--set", s)]]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait(lambda: session.node.count_subscribers(T.TCP_POSE) >= 1 or child.poll() is not None,
             30, "the child's recorder")
        assert child.poll() is None, child.stdout.read()
        res = session.call_trigger(T.SRV_RECORDER_START, timeout=30)
        assert res.success, res.message
        partial = out / ".recording" / "episode_0000"
        wait(lambda: partial.is_dir(), 10, "the child's episode folder")

        def flushed() -> bool:  # what a kill leaves behind, however loaded the machine is
            try:
                bag = read_bag(partial)
            except BagError:
                return False
            return (bag.count(T.JOINT_STATES) > 50 and bag.count(T.TCP_POSE) > 50
                    and bag.count(T.camera_image_topic("kinect")) >= 10)

        wait(flushed, 60, "the recorder to flush a second of messages")
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert not (out / "episode_0000").exists()  # never renamed into place
    bag = read_bag(partial)
    assert bag.recovered and bag.count(T.JOINT_STATES) > 50 and bag.count(T.TCP_POSE) > 50
    lines = []
    reports = build_dataset([out], tmp_path / "ds", fps=10, progress=False,
                            log=lines.append)
    assert [r.status for r in reports] == ["skipped"]
    assert "unfinished bag" in lines[0] and "--include-unfinished" in lines[0]
    lines.clear()
    reports = build_dataset([out], tmp_path / "ds", fps=10, progress=False,
                            include_unfinished=True, log=lines.append)
    assert reports[0].status == "written" and reports[0].rows >= 5, lines


def test_sensorless_setup_records_no_wrench(tmp_path, own_domain):
    cfg = load_setup("sim_sensorless", ["cameras={}"])
    bringup = Bringup(cfg).start()
    session = RosSession("recorder_sensorless_test")
    try:
        recorder = session.add(RecorderNode(str(tmp_path), contract_topics(cfg),
                                            {"setup": "sim_sensorless"},
                                            context=session.context))
        wait(lambda: recorder._task_state is not None, 30, "/sim/task_state")
        path = recorded(session, recorder, 1.0)
    finally:
        session.close()
        bringup.stop()
    with Reader(path) as reader:
        topics = {c.topic for c in reader.connections}
    assert T.WRENCH not in topics and T.JOINT_STATES in topics and T.TCP_POSE in topics
