"""ViTaL mode's two-phase agent (issue 19, item 3), ROS-free: localise once, reach a pre-contact
pose above the target in straight-line chunks, hand over to the local policy, whose chunks come
back to `base` through the target's frame."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from fdvla_model.action_space import TargetFrame, pose_to_vector
from fdvla_msgs.types import Pose
from fdvla_policy_node.inference import PolicyRunner, load_for_inference
from fdvla_policy_node.inference.loading import read_info
from fdvla_policy_node.inference.observation import Observation
from fdvla_policy_node.inference.vital import VitalAgent, VitalSettings
from helpers.checkpoints import make_checkpoint

DOWN = Rotation.from_euler("x", 180, degrees=True)
TARGET = np.array([-0.40, -0.05, 0.03])


def _local_runner(path, seed=0):
    from fdvla_model.model import FDVLAPolicy

    policy = FDVLAPolicy.load(path)
    return PolicyRunner(policy, read_info(path, policy.config, local=True), seed=seed)


@pytest.fixture(scope="module")
def local_ckpt(tmp_path_factory):
    # A local policy pinned 2 cm above its target, in the target's frame.
    return make_checkpoint(tmp_path_factory.mktemp("local"), Pose.from_rotation([0, 0, 0.02], DOWN),
                           cameras=("wrist",), action_frame="target", target_yaw_symmetry=4)


def obs_at(position, stamp=0.0, yaw=0.0):
    images = {c: np.zeros((48, 64, 3), np.uint8) for c in ("kinect", "wrist")}
    return Observation(stamp=stamp, images=images,
                       tcp_pose=Pose.from_rotation(position, Rotation.from_euler("z", yaw) * DOWN),
                       q=np.zeros(6), instruction="insert the plug", wrench=None)


def test_localise_once_reach_then_hand_over_to_the_local_policy(local_ckpt):
    calls = []

    def localise(view):
        calls.append(view.rgb.shape)
        return TARGET, 0.3

    s = VitalSettings(approach_height=0.05, handover_distance=0.01, reach_speed=0.08)
    agent = VitalAgent(_local_runner(local_ckpt), localise, s)
    assert "kinect" in agent.info.camera_names  # the localiser's camera is subscribed too
    far = obs_at(TARGET + [0.10, 0.05, 0.20])
    inf = agent.infer(far)
    assert agent.phase == "reach" and calls == [(48, 64, 3)]
    assert agent.status()["localised"][:3] == pytest.approx(TARGET.tolist())
    # A straight line from the arm towards the pre-contact pose, within the reach speed.
    pos = np.array([p.position for p in inf.chunk.poses])
    goal = TARGET + [0, 0, 0.05]
    assert np.allclose(pos[0], far.tcp_pose.position)
    steps = np.linalg.norm(np.diff(pos, axis=0), axis=1) / agent.info.action_dt
    assert steps.max() <= 1.6 * s.reach_speed  # smoothstep peaks at 1.5x the mean
    d = pos - far.tcp_pose.position
    along = (goal - far.tcp_pose.position) / np.linalg.norm(goal - far.tcp_pose.position)
    assert np.allclose(np.cross(d, along), 0.0, atol=1e-9)
    # The tool turns to the target's yaw (modulo the square socket's quarter turn).
    for current, expected in ((0.0, 0.3), (1.5, 0.3 + np.pi / 2), (-1.2, 0.3 - np.pi / 2)):
        aim = agent.pre_contact(Rotation.from_euler("z", current) * DOWN)
        assert (aim.rotation * DOWN.inv()).as_euler("xyz")[2] == pytest.approx(expected)
        np.testing.assert_allclose(aim.position, goal)
    # Arrived: the local policy's chunk, expressed in base through the target's frame.
    near = obs_at(goal + [0.004, 0.0, 0.0], stamp=1.0, yaw=0.3)
    inf = agent.infer(near)
    assert agent.phase == "local" and len(calls) == 1
    frame = TargetFrame(TARGET, 0.3)
    expected = _local_runner(local_ckpt).infer(near, frame=frame)
    np.testing.assert_allclose(inf.actions, expected.actions, atol=1e-5)
    np.testing.assert_allclose(inf.actions[:, :3].mean(axis=0), TARGET + [0, 0, 0.02], atol=2e-3)
    # A new episode localises again.
    agent.reset()
    assert agent.phase == "localise" and "localised" not in agent.status()
    agent.infer(far)
    assert len(calls) == 2


def test_the_agent_refuses_a_base_frame_policy_and_a_missing_target(local_ckpt, tmp_path):
    base = make_checkpoint(tmp_path / "base", Pose.from_rotation(TARGET, DOWN))
    policy, info = load_for_inference(base, device="cpu")
    with pytest.raises(ValueError, match="target frame"):
        VitalAgent(PolicyRunner(policy, info), lambda view: (TARGET, None))
    # A localiser with no answer: the arm holds, and after `localise_patience` tries in a row
    # the agent gives up with an error (never a chunk to a guessed target).
    agent = VitalAgent(_local_runner(local_ckpt), lambda view: None,
                       VitalSettings(localise_patience=3))
    here = TARGET + [0, 0, 0.2]
    for _ in range(2):
        held = agent.infer(obs_at(here))
        np.testing.assert_allclose([p.position for p in held.chunk.poses],
                                   np.tile(here, (len(held.chunk.poses), 1)), atol=1e-9)
    assert agent.phase == "localise" and agent.status()["localise_waits"] == 2
    with pytest.raises(RuntimeError, match="no target in 3 scene images"):
        agent.infer(obs_at(here))
    # The local runner itself will not run without the target's frame.
    with pytest.raises(ValueError, match="target's frame"):
        _local_runner(local_ckpt).infer(obs_at(TARGET + [0, 0, 0.2]))
    with pytest.raises(ValueError, match="reach_speed"):
        VitalSettings(reach_speed=0.0)


def test_a_vital_checkpoint_loads_as_the_agent_and_fits_setups_by_its_local_policy(local_ckpt,
                                                                                 tmp_path):
    from fdvla_model.localise import LocaliserConfig, SceneLocaliser, save_localiser
    from fdvla_model.vital_checkpoint import write_vital_checkpoint
    from fdvla_policy_node.inference.agents import load_runner
    from fdvla_policy_node.inference.agents import check_fits_setup
    from fdvla_policy_node.inference.loading import PolicyLoadError

    loc = save_localiser(SceneLocaliser(LocaliserConfig(yaw_symmetry=4)), tmp_path / "loc")
    ckpt = write_vital_checkpoint(tmp_path / "vital", local_ckpt, loc,
                                  {"approach_height": 0.04})
    agent = load_runner(ckpt, "cpu")
    assert isinstance(agent, VitalAgent) and agent.settings.approach_height == 0.04
    assert agent.info.camera_names == ["wrist", "kinect"]
    assert agent.local.info.camera_names == ["wrist"]  # the local policy's own, untouched
    inf = agent.infer(obs_at(TARGET + [0, 0, 0.2]))  # the learned localiser answers
    assert agent.phase == "reach" and np.isfinite(inf.actions).all()
    assert check_fits_setup(ckpt, wrench_available=False) == ckpt / "local_policy"
    # Without its localiser it runs only with one given (the oracle ablation).
    bare = write_vital_checkpoint(tmp_path / "bare", local_ckpt)
    with pytest.raises(PolicyLoadError, match="no localiser"):
        load_runner(bare, "cpu")
    oracle = load_runner(bare, "cpu", localise=lambda view: (TARGET, 0.0))
    oracle.infer(obs_at(TARGET + [0, 0, 0.2]))
    assert oracle.status()["localised"][:3] == pytest.approx(TARGET.tolist())
    (bare / "vital.json").write_text('{"format": "something-else"}')
    with pytest.raises(PolicyLoadError, match="not a ViTaL manifest"):
        load_runner(bare, "cpu")


def test_the_pre_contact_turn_matches_the_demonstrations_starts_for_a_two_fold_target(tmp_path):
    """A board (yaw symmetry 2): the local policy learnt from starts with the tool at
    tool_down(target yaw +- a little), the sim's NearTarget; the reach must end there, not a
    quarter turn off (the tool's Euler yaw is a quarter turn from the tool-down yaw)."""
    from fdvla_drivers.sim.tasks.base import NearTarget
    from fdvla_msgs.types import equivalent_yaw, tool_down, tool_yaw

    ckpt = make_checkpoint(tmp_path / "board", Pose.from_rotation([0, 0, 0.02], DOWN),
                           cameras=("wrist",), action_frame="target", target_yaw_symmetry=2)
    agent = VitalAgent(_local_runner(ckpt), lambda view: (TARGET, 0.3))
    agent.infer(obs_at(TARGET + [0.1, 0.0, 0.2]))
    assert NearTarget().max_yaw < np.pi / 4  # starts lie well inside a half turn
    for current in (0.0, 1.2, 2.0, -2.5):
        aim = agent.pre_contact(tool_down(current))
        turned = tool_yaw(aim.rotation)
        # The board's yaw, or its half turn, whichever is nearer the tool's.
        wanted = equivalent_yaw(0.3, 2, near=current)
        assert np.angle(np.exp(1j * (turned - wanted))) == pytest.approx(0.0, abs=1e-9)
        # Still pointing down: only turned about base z.
        np.testing.assert_allclose(aim.rotation.apply([0, 0, 1]), [0, 0, -1], atol=1e-9)
        assert np.allclose((tool_down(turned).inv() * aim.rotation).magnitude(), 0.0, atol=1e-9)


def test_after_a_reset_the_agent_localises_only_from_a_scene_frame_taken_after_it(local_ckpt):
    """Real time: the observation that shows the arm at a new placement can carry the scene
    frame of the old one (cameras run at 10 Hz, the state at 500 Hz). Localising from it would
    send the arm to where the target was. The agent holds until a newer frame arrives."""
    places = [TARGET, TARGET + [0.06, -0.04, 0.0]]
    seen = []

    def localise(view):
        seen.append(int(view.rgb[0, 0, 0]))  # which placement's frame it was (pixel value)
        return places[seen[-1]], 0.0

    agent = VitalAgent(_local_runner(local_ckpt), localise)

    def obs(placement_in_image, scene_t, tcp_t, where):
        o = obs_at(where, stamp=scene_t)
        o.images["kinect"][:] = placement_in_image
        o.stamps.update({"camera:kinect": scene_t, "camera:wrist": scene_t, "tcp_pose": tcp_t})
        return o

    start = TARGET + [0.1, 0.05, 0.2]
    agent.infer(obs(0, 1.00, 1.05, start))  # the first episode: its frames are its own
    assert seen == [0] and agent.phase == "reach"
    agent.reset()  # a /sim/reset: the arm is at the next start, the frame still the old scene
    new_start = places[1] + [-0.1, 0.05, 0.2]
    held = agent.infer(obs(0, 5.95, 6.02, new_start))
    assert seen == [0] and agent.phase == "localise"  # not localised from the stale frame
    np.testing.assert_allclose([p.position for p in held.chunk.poses],
                               np.tile(new_start, (len(held.chunk.poses), 1)), atol=1e-9)
    assert agent.status()["stale_scene_waits"] == 1
    agent.infer(obs(1, 6.05, 6.07, new_start))  # a frame rendered after the reset
    assert seen == [0, 1] and agent.phase == "reach"
    assert agent.status()["localised"][:3] == pytest.approx(places[1].tolist())
    # Lock-step observations carry no stamps: they render in step, nothing to wait for.
    agent.reset()
    agent.infer(obs_at(new_start))
    assert len(seen) == 3


def test_the_agent_holds_until_its_localiser_answers_then_reaches(local_ckpt):
    answers = [None, None, (TARGET, 0.0)]
    agent = VitalAgent(_local_runner(local_ckpt), lambda view: answers.pop(0),
                       VitalSettings(localise_patience=3))
    start = TARGET + [0.1, 0.0, 0.2]
    agent.infer(obs_at(start))
    agent.infer(obs_at(start))
    assert agent.phase == "localise"
    agent.infer(obs_at(start))  # the third try answers: patience counts misses in a row
    assert agent.phase == "reach" and agent.status()["localise_waits"] == 2
    assert agent.status()["localised"][:3] == pytest.approx(TARGET.tolist())


def test_the_real_time_oracle_answers_only_from_a_task_state_as_new_as_the_scene_frame():
    """The policy node's oracle (policy.localiser=oracle): /sim/task_state's target plus noise.
    After a reset the newest task state can still be the old placement's: no answer from it."""
    from fdvla_model.localise import OracleLocaliser
    from fdvla_policy_node.inference.task_oracle import TaskStateOracle

    def state(stamp, xyz, yaw, symmetry=4):
        q = Rotation.from_euler("z", yaw).as_quat()
        return {"stamp": stamp, "target": {"name": "socket_hole_top", "pose": [*xyz, *q],
                                           "yaw_symmetry": symmetry}}

    oracle = TaskStateOracle(OracleLocaliser.with_noise(0.0))
    assert oracle.localise(None) is None  # nothing received yet
    oracle.update(state(1.0, TARGET, 0.2))
    oracle.observed(1.0)
    position, yaw = oracle.localise(None)
    np.testing.assert_allclose(position, TARGET)
    assert yaw == pytest.approx(0.2)
    oracle.observed(2.05)  # a frame of the next placement; the task state is older
    assert oracle.localise(None) is None
    moved = TARGET + [0.05, 0.02, 0.0]
    oracle.update(state(2.10, moved, -0.1, symmetry=0))
    position, yaw = oracle.localise(None)
    np.testing.assert_allclose(position, moved)
    assert yaw is None  # a round target: its yaw is not seen
    oracle.update({"stamp": 3.0})  # a task state without a target changes nothing
    np.testing.assert_allclose(oracle.localise(None)[0], moved)
    # The noise knob: x, y at the given sigma, z at half, yaw 0.05 rad per cm.
    noisy = TaskStateOracle(OracleLocaliser.with_noise(0.01, seed=3))
    noisy.update(state(1.0, TARGET, 0.0))
    draws = np.array([[*noisy.localise(None)[0], noisy.localise(None)[1]] for _ in range(2000)])
    assert draws[:, :3].std(axis=0) == pytest.approx([0.01, 0.01, 0.005], rel=0.1)
    assert draws[:, 3].std() == pytest.approx(0.05, rel=0.1)


# ------------------------------------------------------------------------------ the pointer
def _pointer(yaw_symmetry=0):
    """A pointer that points at the image's centre (a uniform heat map: its layer zeroed)."""
    import torch

    from fdvla_model.localise import LocaliserConfig, SceneLocaliser

    loc = SceneLocaliser(LocaliserConfig(output="pixel", yaw_symmetry=yaw_symmetry))
    with torch.no_grad():
        loc.pointer_map.weight.zero_()
        loc.pointer_map.bias.zero_()
    return loc.eval()


def _looking_down(height=0.8):
    """A 64x48 camera `height` m above TARGET's xy, looking straight down, and its depth of a
    table plane through TARGET."""
    from fdvla_msgs.types import CameraIntrinsics

    k = CameraIntrinsics.from_fovy(64, 48, 50.0)
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("x", np.pi).as_matrix()  # optical z along base -z
    T[:3, 3] = TARGET + [0.0, 0.0, height]
    return k, T, np.full((48, 64), height, np.float32)


def test_the_pointer_lifts_its_pixel_with_depth_and_calibration_and_says_what_it_waits_for():
    from fdvla_msgs.camera_geometry import lift_pixel
    from fdvla_policy_node.inference.vital import PointAndLift, SceneView

    k, T, depth = _looking_down()
    rgb = np.zeros((48, 64, 3), np.uint8)
    lift = PointAndLift(_pointer())
    assert lift(SceneView(rgb)) is None and lift.waiting_for == "depth"
    assert lift(SceneView(rgb, depth)) is None and lift.waiting_for == "calibration"
    position, yaw = lift(SceneView(rgb, depth, k, T))
    assert lift.waiting_for == "" and yaw is None
    assert lift.last_pixel == pytest.approx((31.5, 23.5))  # the image's centre
    assert position == pytest.approx(lift_pixel(31.5, 23.5, depth, k, T))
    assert position == pytest.approx(TARGET, abs=1e-6)  # straight below the camera
    holes = np.full_like(depth, np.nan)  # no depth reading where it points
    assert lift(SceneView(rgb, holes, k, T)) is None
    assert lift.waiting_for.startswith("lift: no valid depth")
    with pytest.raises(ValueError, match="pointing localiser"):
        from fdvla_model.localise import LocaliserConfig, SceneLocaliser

        PointAndLift(SceneLocaliser(LocaliserConfig()))


def test_the_agent_with_a_pointer_reaches_above_the_lifted_point_and_waits_for_depth(local_ckpt):
    from fdvla_policy_node.inference.vital import PointAndLift

    agent = VitalAgent(_local_runner(local_ckpt), PointAndLift(_pointer(yaw_symmetry=4)),
                       VitalSettings(localise_patience=2))
    assert agent.depth_cameras == ("kinect",)
    k, T, depth = _looking_down()
    start = TARGET + [0.1, 0.0, 0.2]
    agent.infer(obs_at(start))  # no depth in the observation: it holds
    assert agent.phase == "localise" and agent.status()["localiser_waiting_for"] == "depth"
    with pytest.raises(RuntimeError, match="in 2 scene images in a row .waiting for depth"):
        agent.infer(obs_at(start))
    agent.reset()
    o = obs_at(start)
    o.depths["kinect"] = depth
    o.calibrations["kinect"] = (k, T)
    agent.infer(o)
    assert agent.phase == "reach" and agent.status()["pointed_pixel"] == [31.5, 23.5]
    assert agent.status()["localised"][:3] == pytest.approx(TARGET.tolist(), abs=1e-4)


def test_observations_carry_a_cameras_depth_only_of_the_same_frame_and_its_calibration():
    from fdvla_msgs.types import CameraIntrinsics
    from fdvla_policy_node.inference.observation import ObservationAssembler, ObservationConfig

    a = ObservationAssembler(ObservationConfig(cameras=("kinect", "wrist"),
                                               depth_cameras=("kinect",)))
    a.set_instruction("press")
    rgb, depth = np.zeros((4, 4, 3), np.uint8), np.ones((4, 4), np.float32)
    a.set_joints(10.0, np.zeros(6))
    a.set_tcp(10.0, Pose(TARGET))
    a.set_image("wrist", 10.0, rgb)
    a.set_image("kinect", 10.0, rgb)
    a.set_depth("kinect", 9.9, depth)  # the previous frame's
    obs, _ = a.assemble(10.05)
    assert obs.depths == {} and obs.calibrations == {}
    a.set_depth("kinect", 10.0, depth)
    k = CameraIntrinsics.from_fovy(4, 4, 60.0)
    a.set_intrinsics("kinect", k)
    obs, _ = a.assemble(10.05)
    assert obs.depths["kinect"] is depth and obs.calibrations == {}  # no extrinsics yet
    a.set_extrinsics("kinect", np.eye(4))
    obs, _ = a.assemble(10.05)
    assert obs.calibrations["kinect"][0] == k
    assert np.array_equal(obs.calibrations["kinect"][1], np.eye(4))
