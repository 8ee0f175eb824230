"""ViTaL mode over DDS (issue 19, item 3): a ViTaL checkpoint run by the policy node in its own
process against the simulated cell localises the target once, reaches the pre-contact pose above
it through the controller, and hands over to the local policy; /diagnostics shows the phase and
the localised pose.

The checkpoint is made here: a local policy pinned 2 cm above its target (in the target's frame)
and an untrained localiser whose output normalisation pins it on the cap (what a trained one
answers to within millimetres; docs/vital.md)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from std_srvs.srv import SetBool
from trajectory_msgs.msg import MultiDOFJointTrajectory

from fdvla.bringup import Bringup
from fdvla_msgs import conversions as conv
from fdvla_msgs import qos, topics
from fdvla_msgs.types import Pose
from helpers.checkpoints import make_checkpoint
from helpers.probe import Probe

pytestmark = pytest.mark.slow
SETUP = ["robot.seed=0", "robot.task=button", "safety.state_timeout=1.0",
         *(f"cameras.{c}.{k}={v}" for c in ("kinect", "wrist")
           for k, v in (("width", 128), ("height", 96), ("fps", 15)))]


def _pointer_checkpoint(root):
    """A ViTaL checkpoint whose localiser points: at the image's centre (its heat map zeroed)."""
    import torch

    from fdvla_model.localise import LocaliserConfig, SceneLocaliser, save_localiser
    from fdvla_model.vital_checkpoint import write_vital_checkpoint

    from fdvla_drivers.sim.tasks import tool_down

    local = make_checkpoint(root / "local", Pose.from_rotation([0.0, 0.0, 0.02], tool_down(0.0)),
                            cameras=("wrist",), action_frame="target", target_yaw_symmetry=0)
    loc = SceneLocaliser(LocaliserConfig(output="pixel"))
    with torch.no_grad():
        loc.pointer_map.weight.zero_()
        loc.pointer_map.bias.zero_()
    return write_vital_checkpoint(root / "vital", local, save_localiser(loc, root / "loc"))


def _vital_checkpoint(root, target_position, with_localiser=True):
    from fdvla_model.localise import LocaliserConfig, SceneLocaliser, save_localiser
    from fdvla_model.vital_checkpoint import write_vital_checkpoint

    from fdvla_drivers.sim.tasks import tool_down

    # The tool pointing down as the sim's arm holds it (the reach keeps roll and pitch).
    local = make_checkpoint(root / "local", Pose.from_rotation([0.0, 0.0, 0.02], tool_down(0.0)),
                            cameras=("wrist",), action_frame="target", target_yaw_symmetry=0)
    if not with_localiser:  # run with the oracle (policy.localiser=oracle)
        return write_vital_checkpoint(root / "vital", local)
    loc = SceneLocaliser(LocaliserConfig(position_mean=tuple(target_position),
                                         position_std=(1e-4, 1e-4, 1e-4)))
    return write_vital_checkpoint(root / "vital", local, save_localiser(loc, root / "loc"))


def _start_policy_node(ckpt, *sets):
    """The policy node in its own process, as `fdvla bringup` starts it."""
    args = [f"policy.checkpoint={ckpt}", "instruction=press the button", "policy.max_age=0.5",
            "policy.sync_tolerance=0.2", *sets]
    return subprocess.Popen(
        [sys.executable, "-m", "fdvla.process", "--robot", "sim", "--process", "policy",
         *(a for s in args for a in ("--set", s))],
        env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stop_all(proc, probe, bringup):
    if proc is not None:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    probe.close()
    bringup.stop()


def _policy_diag(probe):
    for msg in reversed(probe.all(topics.DIAGNOSTICS)):
        for st in msg.status:
            if st.name.endswith(": policy"):
                return conv.diagnostic_values(st)
    return {}


def test_a_pointing_localiser_lifts_its_pixel_with_the_published_depth_and_calibration(tmp_path):
    """The policy node subscribes to the scene camera's depth, camera_info and latched
    extrinsics (/kinect/extrinsics, which the sim camera node publishes), lifts the pointer's
    pixel with them and reaches above that point: the same point as lifting the image centre
    with this process's own render of the cell."""
    from fdvla_drivers.camera.sim_camera import SimCamera
    from fdvla_msgs.camera_geometry import lift_pixel

    bringup = Bringup.from_setup("sim", [*SETUP, "cameras.kinect.depth=true"]).start()
    probe = Probe("vital_pointer_probe")
    proc = None
    try:
        ckpt = _pointer_checkpoint(tmp_path)
        probe.subscribe(topics.DIAGNOSTICS, DiagnosticArray, profile=qos.DIAGNOSTICS)
        probe.subscribe(topics.camera_extrinsics_topic("kinect"), PoseStamped,
                        profile=qos.LATCHED)
        probe.wait_for(lambda: probe.count(topics.camera_extrinsics_topic("kinect")) > 0, 20,
                       "the scene camera's extrinsics")
        camera = SimCamera(bringup.robot, "scene", width=128, height=96, depth=True)
        frame = camera.render()
        published = conv.pose_from_msg(probe.latest(topics.camera_extrinsics_topic("kinect")))[1]
        np.testing.assert_allclose(published.as_matrix(), camera.pose_in_base(), atol=1e-9)
        expected = lift_pixel(63.5, 47.5, frame.depth, camera.intrinsics(), camera.pose_in_base())
        if not bringup.node("controller").controller.armed:
            assert probe.call(SetBool, topics.SRV_CONTROLLER_ENABLE,
                              SetBool.Request(data=True)).success
        proc = _start_policy_node(ckpt)
        probe.wait_for(lambda: proc.poll() is not None
                       or _policy_diag(probe).get("vital_phase") == "reach", 90, "the reach phase")
        assert proc.poll() is None, proc.stdout.read()
        localised = [float(v) for v in _policy_diag(probe)["vital_localised"].strip("[]").split(",")]
        np.testing.assert_allclose(localised[:3], expected, atol=3e-3)
    finally:
        _stop_all(proc, probe, bringup)


@pytest.mark.parametrize("localiser", ["learned", "oracle"])
def test_localise_reach_and_hand_over_over_dds(tmp_path, localiser):
    """`oracle`: a checkpoint without a localiser, the policy node reading the true target from
    /sim/task_state (the ablation in real time)."""
    bringup = Bringup.from_setup("sim", SETUP).start()
    probe = Probe("vital_probe")
    proc = None
    try:
        cap = bringup.robot.task.object_poses()["button_cap_top"].position.copy()
        ckpt = _vital_checkpoint(tmp_path, cap, with_localiser=localiser == "learned")
        for topic, typ, prof in ((topics.TCP_POSE, PoseStamped, qos.SENSOR_SUB),
                                 (topics.ACTION_CHUNK, MultiDOFJointTrajectory, qos.COMMAND),
                                 (topics.DIAGNOSTICS, DiagnosticArray, qos.DIAGNOSTICS)):
            probe.subscribe(topic, typ, profile=prof)
        probe.wait_for(lambda: probe.count(topics.TCP_POSE) > 10, 20, "/tcp_pose")
        start = conv.pose_from_msg(probe.latest(topics.TCP_POSE))[1].position.copy()
        if not bringup.node("controller").controller.armed:
            assert probe.call(SetBool, topics.SRV_CONTROLLER_ENABLE,
                              SetBool.Request(data=True)).success
        proc = _start_policy_node(ckpt, f"policy.localiser={localiser}")
        phases = set()

        def seen(phase):
            if proc.poll() is not None:
                return True
            phases.add(_policy_diag(probe).get("vital_phase"))
            return phase in phases

        probe.wait_for(lambda: seen("reach"), 90, "the reach phase")
        assert proc.poll() is None, proc.stdout.read()
        localised = [float(v) for v in _policy_diag(probe)["vital_localised"].strip("[]").split(",")]
        # The oracle answers the truth (noise 0; diagnostics round to 0.1 mm).
        np.testing.assert_allclose(localised[:3], cap, atol=2e-3 if localiser == "learned" else 2e-4)
        probe.wait_for(lambda: seen("local"), 60, "the hand-over to the local policy")
        assert proc.poll() is None, proc.stdout.read()
        # The reach went to 5 cm above the cap; the local policy then holds 2 cm above it.
        def tcp():
            return conv.pose_from_msg(probe.latest(topics.TCP_POSE))[1].position

        try:
            probe.wait_for(lambda: np.linalg.norm(tcp() - (cap + [0, 0, 0.02])) < 0.01, 30,
                           "the TCP 2 cm above the cap (the local policy's pose)")
        except AssertionError as e:
            chunk = conv.chunk_from_msg(probe.latest(topics.ACTION_CHUNK))
            raise AssertionError(
                f"{e}: TCP {tcp() - cap} from the cap, last chunk "
                f"{chunk.poses[0].position - cap} .. {chunk.poses[-1].position - cap}, "
                f"controller {bringup.node('controller').controller.rejections}, "
                f"policy {_policy_diag(probe)}") from None
        assert np.linalg.norm(start - cap) > 0.1  # it came from the global start, far away
        controller = bringup.node("controller").controller
        assert controller.rejections.get("start_far", 0) == 0, controller.rejections
        assert not controller.fault
    finally:
        _stop_all(proc, probe, bringup)


def test_lockstep_evaluation_gives_a_pointer_the_scene_cameras_depth_and_calibration(tmp_path):
    """`fdvla eval --lockstep` runs a pointing ViTaL checkpoint as the node does: the scene
    camera renders depth, the observation carries its calibration, and the agent localises the
    lifted pixel (the image's centre for this pointer)."""
    from fdvla.evaluation.lockstep import evaluate_lockstep
    from fdvla_drivers.camera.sim_camera import SimCamera
    from fdvla_drivers.robot.sim_backend import SimRobotBackend
    from fdvla_msgs.camera_geometry import lift_pixel
    from fdvla_policy_node.inference.agents import load_runner

    runner = load_runner(_pointer_checkpoint(tmp_path), "cpu")
    assert runner.depth_cameras == ("kinect",)
    h, w = runner.info.camera_sizes.get("kinect", (240, 320))
    backend = SimRobotBackend("button", realtime=False)
    backend.connect()
    try:
        backend.reset(seed=3)
        camera = SimCamera(backend, "scene", width=w, height=h, depth=True)
        frame = camera.render()
        expected = lift_pixel((w - 1) / 2, (h - 1) / 2, frame.depth, camera.intrinsics(),
                              camera.pose_in_base())
    finally:
        backend.close()
    records = evaluate_lockstep(runner, "button", 1, seed=3, timeout=1.0)
    assert len(records) == 1 and not records[0].fault
    status = runner.status()
    assert status["phase"] in ("reach", "local") and "localiser_waiting_for" not in status
    np.testing.assert_allclose(status["localised"][:3], expected, atol=1e-3)


def test_train_residual_runs_episodes_and_writes_a_checkpoint_that_loads_with_it(tmp_path):
    """`fdvla train-residual` on a ViTaL checkpoint: lock-step episodes whose local chunks carry
    the residual's sampled offsets, one decision per chunk recorded with the task's progress;
    the output is the checkpoint plus `residual/`, which `load_runner` runs."""
    from fdvla.cli import main
    from fdvla_drivers.robot.sim_backend import SimRobotBackend
    from fdvla_policy_node.inference.agents import load_runner
    from fdvla_policy_node.inference.residual import ResidualAgent

    backend = SimRobotBackend("button", realtime=False)
    backend.connect()
    try:
        backend.reset(seed=3000)
        cap = backend.task.object_poses()["button_cap_top"].position.copy()
    finally:
        backend.close()
    ckpt = _vital_checkpoint(tmp_path, cap)
    out = tmp_path / "with_residual"
    assert main(["train-residual", "--policy", str(ckpt), "--task", "button", "--episodes", "1",
                 "--timeout", "4", "--out", str(out), "--no-progress"]) == 0
    log = json.loads((out / "residual_training.json").read_text())
    assert log["episodes"] == 1 and log["episodes_log"][0]["seed"] == 3000
    assert log["episodes_log"][0]["decisions"] > 0  # it reached the local phase and decided
    runner = load_runner(out, "cpu")
    assert isinstance(runner, ResidualAgent)
    assert main(["train-residual", "--policy", str(out), "--task", "button", "--episodes", "1",
                 "--out", str(tmp_path / "again")]) == 2  # it has one already
