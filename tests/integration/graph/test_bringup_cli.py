"""`fdvla bringup` as a user runs it: a subprocess, watched over DDS from this process."""

import os
import signal
import subprocess
import sys
import time

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, WrenchStamped
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import String

from fdvla.bringup import Bringup
from fdvla.config import load_setup
from fdvla_msgs import conversions as conv
from fdvla_msgs import qos, topics
from helpers.probe import Probe

pytestmark = pytest.mark.slow


def test_sim_bringup_publishes_every_contract_topic(tmp_path):
    cfg = load_setup("sim")
    cmd = [sys.executable, "-m", "fdvla.cli", "bringup", "--robot", "sim", "--duration", "60",
           "--status-period", "0", "--instruction", "press the emergency button"]
    log = open(tmp_path / "bringup.log", "w")
    # As a user's shell has it: no MUJOCO_GL (the CLI sets its defaults before any import).
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    probe = Probe("bringup_probe")
    try:
        expected = {  # topic: (type, configured rate in Hz)
            topics.JOINT_STATES: (JointState, cfg["robot"]["state_rate"]),
            topics.TCP_POSE: (PoseStamped, cfg["robot"]["state_rate"]),
            topics.WRENCH: (WrenchStamped, cfg["robot"]["state_rate"]),
            topics.CONTROLLER_TARGET_POSE: (PoseStamped, cfg["controller"]["target_pose_rate"]),
        }
        for cam, cam_cfg in cfg["cameras"].items():
            expected[topics.camera_image_topic(cam)] = (Image, cam_cfg["fps"])
            expected[topics.camera_info_topic(cam)] = (CameraInfo, cam_cfg["fps"])
        for topic, (typ, _) in expected.items():
            probe.subscribe(topic, typ)
        probe.subscribe(topics.DIAGNOSTICS, DiagnosticArray, profile=qos.DIAGNOSTICS)
        probe.subscribe(topics.INSTRUCTION, String, profile=qos.LATCHED)
        probe.wait_for(lambda: all(probe.count(t) > 10 for t in expected), 90,
                       "every contract topic (see bringup.log)")
        # Alive, not fast: every stream keeps delivering (rates are bench/'s business; this
        # shared machine may be loaded by anything).
        before = {t: probe.count(t) for t in expected}
        probe.wait_for(lambda: all(probe.count(t) > before[t] + 3 for t in expected), 60,
                       "every contract topic to keep streaming (see bringup.log)")
        published = {kv.key: float(kv.value) for m in probe.all(topics.DIAGNOSTICS)
                     for st in m.status if st.name.startswith("robot_state")
                     for kv in st.values if kv.key == "rate_hz"}
        assert published.get("rate_hz", 0.0) > 0.0, published
        img = probe.latest(topics.camera_image_topic("kinect"))
        assert img.encoding == "rgb8" and img.height == cfg["cameras"]["kinect"]["height"]
        assert img.header.frame_id == topics.camera_frame("kinect")
        info = probe.latest(topics.camera_info_topic("wrist"))
        assert info.k[0] > 0 and info.width == cfg["cameras"]["wrist"]["width"]
        assert probe.latest(topics.INSTRUCTION).data == "press the emergency button"
        names = {st.name for m in probe.all(topics.DIAGNOSTICS) for st in m.status}
        assert any("controller" in n for n in names) and any("camera kinect" in n for n in names)
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        probe.close()
        log.close()
        print((tmp_path / "bringup.log").read_text()[-3000:])


def test_sensorless_setup_publishes_no_wrench_anywhere():
    bringup = Bringup.from_setup("sim_sensorless", ["cameras={}"]).start()
    probe = Probe("sensorless_probe")
    try:
        probe.subscribe(topics.TCP_POSE, PoseStamped)
        probe.subscribe(topics.WRENCH, WrenchStamped)
        probe.wait_for(lambda: probe.count(topics.TCP_POSE) > 100, 20, "/tcp_pose")
        time.sleep(1.0)
        assert probe.count(topics.WRENCH) == 0
        assert probe.node.count_publishers(topics.WRENCH) == 0
        assert bringup.robot.read_state().wrench is None
        # Everything else still works: the controller is armed and holding.
        tp = conv.pose_from_msg(probe.latest(topics.TCP_POSE))
        assert abs(tp[0] - time.time()) < 0.5
        assert bringup.node("controller").controller.armed
    finally:
        probe.close()
        bringup.stop()


def test_bringup_with_the_default_policy_runs_episodes_in_a_loop(tmp_path, own_domain):
    """The README's first command in simulation: episodes run one after another (success or a
    timeout -> report -> /sim/reset to a new placement), the tally on /diagnostics and printed;
    the task's instruction is the default in simulation. A user's shell: no MUJOCO_GL, and
    real-time scheduling asked for (the servo thread, and the policy's inference thread)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    env["FDVLA_RT_PRIORITY"] = "10"
    cmd = [sys.executable, "-m", "fdvla.cli", "bringup", "--robot", "sim_sensorless",
           "--policy", "default", "--episodes", "2", "--episode-timeout", "20",
           "--status-period", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            text=True)
    probe = Probe("episode_loop_probe")
    try:
        probe.subscribe(topics.DIAGNOSTICS, DiagnosticArray, profile=qos.DIAGNOSTICS)
        out, _ = proc.communicate(timeout=540)
    finally:
        if proc.poll() is None:
            proc.kill()
        rows = [conv.diagnostic_values(st) for m in probe.all(topics.DIAGNOSTICS)
                for st in m.status if st.name == "fdvla_bringup: episodes"]
        policy = [conv.diagnostic_values(st) for m in probe.all(topics.DIAGNOSTICS)
                  for st in m.status if st.name.endswith(": policy")]
        probe.close()
    print(out[-4000:])
    assert proc.returncode == 0
    assert "episode 1 (seed 1)" in out and "episode 2 (seed 2)" in out
    import re

    m = re.search(r"episodes: (\d)/2 successful", out)
    assert m and int(m.group(1)) >= 1, out[-2000:]
    assert rows and int(rows[-1]["episodes"]) >= 1  # the tally is on /diagnostics too
    # The inference thread runs SCHED_FIFO, or the policy says once why not.
    refused = out.count("inference at normal priority")
    assert policy and refused <= 1
    assert (policy[-1]["inference_realtime"] == "True") == (refused == 0), out[-2000:]
