"""`fdvla eval` end to end (lock-step), the stale-camera rule of the node over DDS, and the
refusal of a wrench-reading variant on a sensorless setup."""

import contextlib
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, WrenchStamped
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import Image, JointState
from trajectory_msgs.msg import MultiDOFJointTrajectory

from fdvla.cli import main as fdvla_main
from fdvla_msgs import conversions as conv
from fdvla_msgs import qos, topics
from fdvla_policy_node.policy_node import PolicyNode, PolicyNodeConfig
from helpers.probe import Probe
from helpers.checkpoints import below, make_checkpoint, sim_start_pose

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("policy") / "ckpt",
                           below(sim_start_pose("button", seed=0), 0.02))


def test_fdvla_eval_lockstep_writes_results_json_and_plots(ckpt, tmp_path):
    out = tmp_path / "eval"
    rc = fdvla_main(["eval", "--policy", str(ckpt), "--task", "button", "--episodes", "2",
                     "--timeout", "1.0", "--lockstep", "--out", str(out), "--guidance", "rtc"])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert res["mode"] == "lockstep" and res["guidance"] == "rtc"
    assert res["tasks"]["button"]["episodes"] == 2
    eps = res["episodes"]
    assert [e["seed"] for e in eps] == [0, 1]  # held-out placements (demos use 1000+)
    assert eps[0]["chunks"] >= 1  # the controller accepted the policy's chunks (its target is
    # 2 cm below seed 0's start; seed 1 starts elsewhere, where the same chunk is refused)
    assert eps[1]["chunks_rejected"].get("start_far", 0) >= 1
    assert all(e["success"] is False for e in eps)  # an untrained net does not press the button
    for png in ("success.png", "wrench.png"):
        assert (out / png).stat().st_size > 5000
    assert res["physics"] == "nominal" and all(e["hidden"] == {} for e in eps)


def test_eval_on_the_force_physics_reports_hidden_parameters_and_force_quality(ckpt, tmp_path):
    """Issue 18: `--physics force` evaluates the same tasks with hidden physical parameters; each
    episode says what they were and how the contact force went against the task's band."""
    out = tmp_path / "eval_force"
    rc = fdvla_main(["eval", "--policy", str(ckpt), "--task", "button,wipe", "--episodes", "2",
                     "--timeout", "1.0", "--lockstep", "--physics", "force", "--split",
                     "lighting", "--out", str(out)])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert res["physics"] == "force" and res["split"] == "lighting"
    eps = res["episodes"]
    assert len(eps) == 4 and all(e["hidden"] for e in eps)
    for task in ("button", "wipe"):
        hidden = [e["hidden"] for e in eps if e["task"] == task]
        assert hidden[0] != hidden[1]  # the hidden parameters vary with the placement seed
    for e in eps:
        q = e["force_quality"]
        lo, hi = q["force_band"]
        assert 0 < lo < hi and {"peak_force", "mean_contact_force", "in_band_share",
                                "contact_lost"} <= set(q)


def test_eval_refuses_unknown_task_and_missing_checkpoint(tmp_path, capsys):
    assert fdvla_main(["eval", "--policy", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert fdvla_main(["eval", "--policy", "x", "--task", "dance", "--out", str(tmp_path)]) == 2


def test_wrench_variant_is_refused_on_a_sensorless_setup(tmp_path):
    ck = make_checkpoint(tmp_path / "force_token", below(sim_start_pose(), 0.02),
                         variant="force_token")
    r = subprocess.run([sys.executable, "-m", "fdvla.cli", "bringup", "--robot", "sim_sensorless",
                        "--policy", str(ck), "--duration", "5", "--status-period", "0",
                        "--set", "cameras={}"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "needs the measured wrench" in r.stderr and "no force/torque sensor" in r.stderr
    assert "Traceback" not in r.stderr


@contextlib.contextmanager
def _node_over_dds(config: PolicyNodeConfig):
    """The policy node in this process, spun on its own DDS context; a probe beside it."""
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = PolicyNode(config, context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    stop = threading.Event()
    spin = threading.Thread(target=lambda: [ex.spin_once(timeout_sec=0.05) for _ in iter(stop.is_set, True)],
                            daemon=True)
    spin.start()
    node.start()
    probe = Probe("policy_probe")
    try:
        probe.subscribe(topics.ACTION_CHUNK, MultiDOFJointTrajectory, profile=qos.COMMAND)
        probe.subscribe(topics.DIAGNOSTICS, DiagnosticArray, profile=qos.DIAGNOSTICS)
        yield node, probe
    finally:
        probe.close()
        stop.set()
        node.destroy_node()
        spin.join(timeout=2)
        rclpy.shutdown(context=ctx)


def _feeder(probe, seconds, image_age=0.0, wrench=None):
    """Publish fresh robot state (and a wrench at 100 Hz when given: t -> (6,)) and camera
    frames `image_age` s old for `seconds`."""
    pubs = {c: probe.publisher(topics.camera_image_topic(c), Image, qos.SENSOR_PUB)
            for c in ("kinect", "wrist")}
    pj = probe.publisher(topics.JOINT_STATES, JointState, qos.SENSOR_PUB)
    pt = probe.publisher(topics.TCP_POSE, PoseStamped, qos.SENSOR_PUB)
    pw = probe.publisher(topics.WRENCH, WrenchStamped, qos.SENSOR_PUB) if wrench else None
    pose = below(sim_start_pose(), 0.0)
    rgb = np.zeros((48, 64, 3), np.uint8)
    end, frame = time.time() + seconds, 0.0
    while time.time() < end:
        now = time.time()
        if pw is not None:
            pw.publish(conv.wrench_to_msg(wrench(now), now))
        if now - frame >= 1 / 30:
            frame = now
            pj.publish(conv.joint_state_to_msg(now, np.zeros(6), np.zeros(6)))
            pt.publish(conv.pose_to_msg(pose, now))
            for c, p in pubs.items():
                p.publish(conv.image_to_msg(rgb, now - image_age, topics.camera_frame(c)))
        time.sleep(0.01)


def test_stale_camera_gives_no_chunk_and_is_counted(ckpt):
    """The node over DDS, fed by a publisher: fresh state but old camera frames -> no chunk."""
    with _node_over_dds(PolicyNodeConfig(checkpoint=str(ckpt), instruction="press the button",
                                         max_age=0.2, warmup=1)) as (node, probe):
        probe.wait_for(lambda: node.ready, 30, "the policy to warm up")
        _feeder(probe, 2.0, image_age=1.0)
        assert probe.count(topics.ACTION_CHUNK) == 0
        skips = node.stats.summary()
        assert skips.get("skipped.stale:camera:kinect", 0) + skips.get("skipped.stale:camera:wrist", 0) > 0
        _feeder(probe, 1.5, image_age=0.0)  # fresh frames: chunks flow (so the check above could fail)
        assert probe.count(topics.ACTION_CHUNK) > 0
        assert conv.from_ros_time(probe.latest(topics.ACTION_CHUNK).header.stamp) <= time.time()


def test_a_force_history_policy_runs_on_the_wrench_window_over_dds(tmp_path):
    """A no_fdm policy whose force encoder reads the last 5 wrench frames (the force-history
    extension): the node keeps /wrench's readings and hands the model the (5, 6) window, one
    frame (0.1 s) apart, ending at the newest; the model refuses any other shape."""
    ck = make_checkpoint(tmp_path / "history", below(sim_start_pose(), 0.02), variant="no_fdm",
                         force_history=5)
    seen = []
    with _node_over_dds(PolicyNodeConfig(checkpoint=str(ck), instruction="press the button",
                                         max_age=0.5, warmup=1)) as (node, probe):
        infer = node.runner.infer
        node.runner.infer = lambda obs, *a, **k: (seen.append(np.array(obs.wrench)), infer(obs, *a, **k))[1]
        probe.wait_for(lambda: node.ready, 30, "the policy to warm up")
        t0 = time.time()
        _feeder(probe, 2.5, wrench=lambda t: np.full(6, t - t0))  # each reading says its time
        assert probe.count(topics.ACTION_CHUNK) > 0
    assert seen and all(w.shape == (5, 6) for w in seen)
    # Each row is a reading at or before its time, 0.1 s apart back from the newest (how many
    # readings DDS delivered depends on the machine; this does not). The first reading received
    # stands in for times before it.
    first = min(w[0, 0] for w in seen)
    full = [w[:, 0] for w in seen if w[0, 0] > first]
    assert full, "no window reached back past the first reading"
    for w in full:
        assert np.all(np.diff(w) >= 0)
        assert np.all(w <= w[-1] - 0.1 * np.arange(4, -1, -1) + 1e-6), w
    assert any(w[-1] - w[0] > 0.3 for w in full)  # a history, not the newest reading five times


def _user_env() -> dict:
    """A user's shell: no MUJOCO_GL / PYOPENGL_PLATFORM (the CLI must set them before imports)."""
    return {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}


def test_fdvla_eval_realtime_at_added_latency_starts_chunks_from_the_arm(tmp_path, own_domain):
    """Without --lockstep, as a user runs it (a subprocess, MUJOCO_GL unset): the graph `fdvla
    bringup --policy default` runs, one OS process each, sensorless, the policy node adding 0.6 s
    to every inference. Chunks predicted while the arm holds start where it is (before: refused
    as starting 5-10 cm ahead of an arm that never moved), episodes through /sim/reset, an MP4
    each, and the controller's counts in results.json."""
    out = tmp_path / "eval_rt"
    r = subprocess.run([sys.executable, "-m", "fdvla.cli", "eval", "--policy", "default",
                        "--task", "button", "--episodes", "2", "--robot", "sim_sensorless",
                        "--seed", "100", "--timeout", "20", "--latency", "0.6",
                        "--out", str(out), "--video"],
                       env=_user_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    assert res["mode"] == "realtime" and res["latency"] == 0.6
    assert res["tasks"]["button"]["episodes"] == 2
    assert float(res["policy_node"]["button"]["extra_latency_ms"]) == 600.0
    eps = res["episodes"]
    # Bringup itself is episode 0 (seed 100, while the policy warms up); evaluated: 101, 102
    assert [e["seed"] for e in eps] == [101, 102]
    assert all(e["chunks"] >= 1 for e in eps)  # the policy node published chunks in the loop
    # The chunk that finds the arm holding (each episode's first) is retimed to start from it
    # and accepted. Before, every chunk was refused as starting far. A chunk that arrives while
    # a pressed arm lags its plan may still start far from it on a loaded machine; the
    # controller is right to refuse that one, so the test asks only that they are few.
    for e in eps:
        assert e["counters"].get("chunk_retimed", 0) >= 1, e
        assert 2 * e["chunks_rejected"].get("start_far", 0) < e["chunks"], e
    # The force figures come over /sim/task_state (the press on the cap is in contact)
    assert all(e["force_quality"]["peak_force"] >= 0 for e in eps) and res["physics"] == "nominal"
    assert sum(e["success"] for e in eps) >= 1, [e["failure"] for e in eps]
    for png in ("success.png", "wrench.png"):
        assert (out / png).stat().st_size > 5000
    videos = sorted((out / "videos").glob("button_*.mp4"))
    assert len(videos) == 2 and all(v.stat().st_size > 1000 for v in videos)


def test_eval_results_report_the_controllers_refusals(tmp_path, own_domain):
    """results.json tells what the controller refused: a policy whose chunks start 8 cm from the
    arm has every chunk refused (start_far), and the episode says so (it said {} before)."""
    ck = make_checkpoint(tmp_path / "far", below(sim_start_pose("button", seed=1,
                                                                sensorless=True), 0.08))
    out = tmp_path / "eval_far"
    r = subprocess.run([sys.executable, "-m", "fdvla.cli", "eval", "--policy", str(ck),
                        "--task", "button", "--episodes", "1", "--robot", "sim_sensorless",
                        "--seed", "0", "--timeout", "4", "--split", "background",
                        "--out", str(out)],
                       env=_user_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    assert res["split"] == "background"  # the camera processes rendered the split (graph)
    (ep,) = res["episodes"]
    assert ep["seed"] == 1 and not ep["success"]
    assert ep["chunks_rejected"].get("start_far", 0) >= 1, ep
    assert res["tasks"]["button"]["chunks_rejected"]["start_far"] == ep["chunks_rejected"]["start_far"]
    assert "refused" in r.stderr  # the console line says so too


def test_the_shipped_default_policy_presses_the_button(tmp_path):
    """`--policy default` is what the README's first command runs: on held-out placements it
    must do the task, not idle (docs/policy.md: 30 of 30 at seeds 100-129)."""
    out = tmp_path / "default"
    assert fdvla_main(["eval", "--policy", "default", "--task", "button", "--episodes", "4",
                       "--seed", "100", "--lockstep", "--out", str(out)]) == 0
    eps = json.loads((out / "results.json").read_text())["episodes"]
    assert sum(e["success"] for e in eps) >= 3, [e["failure"] for e in eps]
