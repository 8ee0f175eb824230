"""Evaluation splits of what the sim cameras see (the paper's generalisation settings): drawn per
episode from the seed, the same in every camera, never in the physics model."""

import numpy as np
import pytest

from fdvla_drivers.camera.sim_camera import SimCamera
from fdvla_drivers.robot.sim_backend import SimRobotBackend
from fdvla_drivers.sim.appearance import Appearance, check_split


@pytest.fixture(scope="module")
def backend():
    b = SimRobotBackend("button", seed=3, realtime=False)
    b.connect()
    yield b
    b.close()


def _frame(backend, split, seed, camera="scene"):
    backend.reset(seed=seed)
    cam = SimCamera(backend, camera, 96, 72, appearance=split)
    cam.start()
    try:
        return cam.render().rgb.astype(float)
    finally:
        cam.stop()


def test_nominal_renders_the_backend_model_and_splits_a_copy(backend):
    assert Appearance(backend.model).model is backend.model
    look = Appearance(backend.model, "lighting")
    assert look.model is not backend.model
    before = backend.model.light_diffuse.copy()
    look.for_episode(5)
    assert not np.allclose(look.model.light_diffuse, before)
    assert np.allclose(backend.model.light_diffuse, before)  # the physics' model is untouched


@pytest.mark.parametrize("split, changed, kept", [
    ("background", "mat_rgba", "light_diffuse"), ("lighting", "light_diffuse", "mat_rgba")])
def test_each_split_varies_its_property_per_episode_and_repeats_for_a_seed(backend, split,
                                                                           changed, kept):
    a, b = Appearance(backend.model, split), Appearance(backend.model, split)
    first = {s: getattr(a.for_episode(s), changed).copy() for s in (10, 11, 12)}
    assert len({v.tobytes() for v in first.values()}) == 3  # differs by episode
    assert np.array_equal(getattr(b.for_episode(11), changed), first[11])  # same seed, same look
    assert np.array_equal(getattr(a.for_episode(11), kept), getattr(backend.model, kept))


def test_rendered_frames_change_with_the_split_and_cameras_agree(backend):
    nominal = _frame(backend, "nominal", 7)
    background = _frame(backend, "background", 7)
    lighting = _frame(backend, "lighting", 7)
    for other in (background, lighting):
        assert np.abs(other - nominal).mean() > 5.0  # grey levels of 255
    # The same episode's split, rendered again (another camera of the cell): the same image.
    assert np.array_equal(_frame(backend, "background", 7), background)
    assert not np.array_equal(_frame(backend, "background", 8), background)


def test_unknown_split_is_refused():
    with pytest.raises(ValueError, match="unknown appearance split"):
        check_split("fog")


def _distractors(backend, seed):
    """The distractors a renderer of episode `seed` draws: (kinds, positions, sizes)."""
    import mujoco

    backend.reset(seed=seed)
    look = Appearance(backend.model, "distractors")
    model = look.for_episode(seed)
    data = mujoco.MjData(model)
    _, snap = backend.snapshot()
    data.qpos[:] = snap.qpos
    data.mocap_pos[:] = snap.mocap_pos
    data.mocap_quat[:] = snap.mocap_quat
    mujoco.mj_kinematics(model, data)
    scene = mujoco.MjvScene(model, maxgeom=1000)
    added = look.decorate(scene, data)
    geoms = [scene.geoms[i] for i in range(added)]
    return look, data, np.array([g.pos.copy() for g in geoms]), np.array([g.size.copy() for g in geoms])


def test_distractors_stand_clear_of_the_task_and_repeat_for_a_seed(backend):
    from fdvla_drivers.sim.appearance import DISTRACTOR_COUNT

    ngeom = backend.model.ngeom
    look, data, pos, size = _distractors(backend, 21)
    assert DISTRACTOR_COUNT[0] <= len(pos) <= DISTRACTOR_COUNT[1]
    assert backend.model.ngeom == ngeom and look.model.ngeom == ngeom  # drawn, not modelled
    assert np.all(pos[:, 2] > 0.0)  # standing on the table, not in it
    centres, radii = look._task_geoms(data)
    assert len(centres) > 0
    gaps = np.linalg.norm(pos[:, None, :2] - centres[None], axis=2) - radii[None]
    assert gaps.min() > 0.0  # no distractor overlaps a task object's bounding circle
    _, _, again, _ = _distractors(backend, 21)
    assert np.array_equal(again, pos)  # another camera of the episode draws the same
    _, _, other, _ = _distractors(backend, 22)
    assert other.shape != pos.shape or not np.allclose(other, pos)


def test_distractors_show_in_the_frames_and_nominal_has_none(backend):
    nominal = _frame(backend, "nominal", 9)
    distracted = _frame(backend, "distractors", 9)
    changed = np.abs(distracted - nominal).max(axis=2) > 30
    assert 0.002 < changed.mean() < 0.3  # some objects, not a different scene
    assert np.array_equal(_frame(backend, "distractors", 9), distracted)


def test_foreground_mask_marks_the_task_objects_and_the_tool_not_the_table_or_distractors(backend):
    import mujoco

    backend.reset(seed=4)
    rendered = {}
    for split in ("nominal", "distractors"):
        cam = SimCamera(backend, "scene", 128, 96, appearance=split)
        cam.start()
        try:
            with_mask, plain = cam.render(mask=True), cam.render()
        finally:
            cam.stop()
        assert plain.mask is None and np.array_equal(with_mask.rgb, plain.rgb)
        mask = with_mask.mask
        rendered[split] = (with_mask.rgb.astype(float), mask)
        assert mask.shape == (96, 128) and mask.dtype == bool
        assert 0.01 < mask.mean() < 0.5  # the arm and the button, not the table
        # Where the button's cap projects into the image, the mask is set; the image's top
        # corners (table or void, far from the arm) are not.
        m = backend.model
        d = mujoco.MjData(m)
        _, snap = backend.snapshot()
        d.qpos[:], d.mocap_pos[:], d.mocap_quat[:] = snap.qpos, snap.mocap_pos, snap.mocap_quat
        mujoco.mj_kinematics(m, d)
        mujoco.mj_camlight(m, d)
        cap = d.geom_xpos[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "button_cap")]
        cam_id = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_CAMERA, "scene")
        local = d.cam_xmat[cam_id].reshape(3, 3).T @ (cap - d.cam_xpos[cam_id])
        f = 0.5 * 96 / np.tan(np.deg2rad(m.cam_fovy[cam_id]) / 2)
        u = int(round((128 - 1) / 2 + f * local[0] / -local[2]))
        v = int(round((96 - 1) / 2 - f * local[1] / -local[2]))
        assert mask[max(v - 1, 0):v + 2, max(u - 1, 0):u + 2].any(), (u, v)
        assert not mask[:5, :5].any() and not mask[:5, -5:].any()
    # The distractors changed the image but are not foreground.
    (nominal, nominal_mask), (distracted, mask) = rendered["nominal"], rendered["distractors"]
    new_pixels = np.abs(distracted - nominal).max(axis=2) > 30
    assert new_pixels.any() and not (new_pixels & mask).any()
    assert np.array_equal(mask, nominal_mask)


def test_camera_moved_moves_the_scene_camera_only_and_its_pose_follows(backend):
    """The bumped tripod: the scene camera's pose (what its extrinsics publish) is the model's
    shifted by CAMERA_SHIFT and turned CAMERA_TURN_DEG about base z; the wrist camera, the
    physics' model and the task's objects stay as they are; the scene image changes."""
    from scipy.spatial.transform import Rotation

    from fdvla_drivers.sim.appearance import CAMERA_SHIFT, CAMERA_TURN_DEG

    backend.reset(seed=7)
    cams = {split: SimCamera(backend, "scene", 96, 72, appearance=split)
            for split in ("nominal", "camera_moved")}
    home, moved = cams["nominal"].mounted_pose(), cams["camera_moved"].mounted_pose()
    np.testing.assert_allclose(moved[:3, 3] - home[:3, 3], CAMERA_SHIFT, atol=1e-9)
    turn = Rotation.from_matrix(moved[:3, :3] @ home[:3, :3].T).as_rotvec(degrees=True)
    np.testing.assert_allclose(turn, [0.0, 0.0, CAMERA_TURN_DEG], atol=1e-6)
    wrist = {split: SimCamera(backend, "wrist", 96, 72, appearance=split).pose_in_base()
             for split in ("nominal", "camera_moved")}
    np.testing.assert_allclose(wrist["camera_moved"], wrist["nominal"], atol=1e-12)
    assert SimCamera(backend, "wrist", 96, 72).mounted_pose() is None  # it moves with the arm
    scene_cam = backend.model.camera("scene").id
    assert np.allclose(backend.model.cam_pos[scene_cam], home[:3, 3])  # the physics' model
    assert np.abs(_frame(backend, "camera_moved", 7) - _frame(backend, "nominal", 7)).mean() > 2.0
    np.testing.assert_array_equal(_frame(backend, "camera_moved", 7, "wrist"),
                                  _frame(backend, "nominal", 7, "wrist"))
