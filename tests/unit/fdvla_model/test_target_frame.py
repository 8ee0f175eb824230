"""The target frame of a ViTaL local policy (issue 19, item 1): vectors relative to the task's
target, a dataset rewritten into it, its frame carried into the checkpoint, and the global
pipeline refusing such a checkpoint."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from scipy.spatial.transform import Rotation

from fdvla_model.action_space import TargetFrame, pose_to_vector, state_vector, vector_to_pose
from fdvla_model.dataset import DatasetError, episode_dirs, load_episode_arrays, load_meta
from fdvla_model.dataset import LOWDIM_FILE, write_synthetic_dataset
from fdvla_model.dataset.target_frame import FrameNoise, dataset_frame, write_target_frame_dataset
from fdvla_msgs.types import Pose, equivalent_yaw


def _pose(xyz, yaw, tilt=0.0):
    return Pose.from_rotation(np.asarray(xyz, float),
                              Rotation.from_euler("xyz", [np.pi + tilt, 0.0, yaw]))


@pytest.mark.parametrize("k,yaw,expected", [(0, 1.2, 0.0), (4, 0.3, 0.3), (4, 0.3 + np.pi / 2, 0.3),
                                            (4, 0.9, 0.9 - np.pi / 2), (2, -3.0, -3.0 + np.pi)])
def test_yaw_is_taken_modulo_the_targets_symmetry(k, yaw, expected):
    assert equivalent_yaw(yaw, k) == pytest.approx(expected)
    with pytest.raises(ValueError):
        equivalent_yaw(0.0, -2)


@pytest.mark.parametrize("k,yaw,near,expected", [(0, 1.2, -0.4, -0.4), (4, 0.3, 3.0, 0.3 + np.pi),
                                                 (2, 0.1, -2.9, 0.1 - np.pi),
                                                 (4, 0.3, 0.3, 0.3)])
def test_the_equivalent_yaw_nearest_the_tools(k, yaw, near, expected):
    # The tool turns the least: to the target's yaw modulo its symmetry nearest its own.
    assert equivalent_yaw(yaw, k, near=near) == pytest.approx(expected)


def test_the_same_approach_at_two_placements_gives_the_same_local_vectors():
    # A target at two placements (turned by one symmetry period apart, plus a real turn): the
    # tool approaching each the same way relative to it must read the same in the local frame.
    a = TargetFrame([0.40, -0.10, 0.05], 0.25)
    b = TargetFrame([0.55, 0.20, 0.08], -0.40)
    offsets = [np.array([0.01, -0.02, 0.06]), np.array([0.0, 0.0, -0.004])]
    for off in offsets:
        local = np.concatenate([off, pose_to_vector(_pose([0, 0, 0], 0.1, 0.05))[3:]])
        in_a, in_b = a.poses_out(local), b.poses_out(local)
        assert not np.allclose(in_a[:3], in_b[:3])
        np.testing.assert_allclose(a.poses_in(in_a), local, atol=1e-9)
        np.testing.assert_allclose(b.poses_in(in_b), local, atol=1e-9)
        # Out is a rigid motion: the distance to the target is kept.
        assert np.linalg.norm(in_a[:3] - a.position) == pytest.approx(np.linalg.norm(off))


def test_states_lose_the_joint_angles_and_wrenches_turn_with_the_frame():
    frame = TargetFrame([0.5, 0.0, 0.1], np.pi / 2)
    s = state_vector(_pose([0.5, 0.02, 0.15], np.pi / 2), np.arange(6) * 0.1)
    local = frame.states_in(s[None])[0]
    assert np.all(local[9:] == 0.0)
    np.testing.assert_allclose(local[:3], [0.02, 0.0, 0.05], atol=1e-12)  # base +y is local +x
    w = np.array([[0.0, 3.0, 10.0, 1.0, 0.0, 0.0], [np.nan] * 6])
    lw = frame.wrenches_in(w)
    np.testing.assert_allclose(lw[0], [3.0, 0.0, 10.0, 0.0, -1.0, 0.0], atol=1e-12)
    assert np.isnan(lw[1]).all()
    # The rotation of the pose is expressed relative to the frame too.
    back = vector_to_pose(frame.poses_out(local[:9]))
    assert back.distance_to(_pose([0.5, 0.02, 0.15], np.pi / 2))[1] < 1e-9


def _label(root, index, pose7):
    ep = episode_dirs(root)[index]
    info = json.loads((ep / "episode.json").read_text())
    info["extra"]["target"] = {"name": "button_cap_top", "pose": list(map(float, pose7))}
    (ep / "episode.json").write_text(json.dumps(info))


def _sensorless(root, index):
    """No force sensor: NaN wrench rows, so no contact to take the target from."""
    ep = episode_dirs(root)[index]
    arrays = {k: np.asarray(v) for k, v in load_file(str(ep / LOWDIM_FILE)).items()}
    arrays["wrench"] = np.full_like(arrays["wrench"], np.nan)
    save_file(arrays, str(ep / LOWDIM_FILE))


def test_a_dataset_rewritten_into_its_targets_frames(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "local"
    write_synthetic_dataset(src, episodes=4, length=12, image_size=(16, 16))
    yaws = {0: 0.3, 2: 1.0}
    targets = {0: [0.45, -0.05, 0.03, *Rotation.from_euler("z", 0.3).as_quat()],
               2: [0.60, 0.10, 0.04, *Rotation.from_euler("z", 1.0).as_quat()]}
    for i, t in targets.items():
        _label(src, i, t)
    _sensorless(src, 1)
    # Episode 3 has no recorded target: its frame is the TCP where it first pressed > 5 N
    a3 = load_episode_arrays(episode_dirs(src)[3])
    first = np.flatnonzero(np.linalg.norm(a3["wrench"][:, :3], axis=1) > 5.0)[0]
    s = a3["state"][first]
    targets[3] = None
    yaws[3] = float(np.arctan2(s[4], s[3]))
    report = write_target_frame_dataset(src, dst, yaw_symmetry=4, progress=False)
    assert report.written == 3 and report.skipped == [episode_dirs(src)[1].name]
    assert dataset_frame(load_meta(dst)) == {"name": "target", "yaw_symmetry": 4}
    assert dataset_frame(load_meta(src)) == {"name": "base", "yaw_symmetry": 0}
    out = episode_dirs(dst)
    assert [d.name for d in out] == [episode_dirs(src)[i].name for i in (0, 2, 3)]
    for d, i in zip(out, (0, 2, 3)):
        position = a3["state"][first, :3] if targets[i] is None else targets[i][:3]
        frame = TargetFrame(position, equivalent_yaw(yaws[i], 4))
        a, b = load_episode_arrays(episode_dirs(src)[i]), load_episode_arrays(d)
        np.testing.assert_allclose(b["action"], frame.poses_in(a["action"]), atol=1e-5)
        np.testing.assert_allclose(b["state"], frame.states_in(a["state"]), atol=1e-5)
        np.testing.assert_allclose(frame.poses_out(b["action"]), a["action"], atol=1e-5)
        for cam in load_meta(src).camera_names:
            np.testing.assert_array_equal(np.load(d / f"{cam}.npy"),
                                          np.load(episode_dirs(src)[i] / f"{cam}.npy"))
    with pytest.raises(DatasetError, match="yaw-symmetry"):  # the labels do not say it
        write_target_frame_dataset(src, tmp_path / "unsaid", progress=False)
    with pytest.raises(DatasetError, match="not empty"):
        write_target_frame_dataset(src, dst, yaw_symmetry=4, progress=False)
    with pytest.raises(DatasetError, match="already in the 'target' frame"):
        write_target_frame_dataset(dst, tmp_path / "again", yaw_symmetry=4, progress=False)


def test_noisy_copies_put_each_episode_in_frames_off_its_target(tmp_path):
    # The localiser's error the local policy learns to correct: K copies of each episode, each
    # in a frame displaced by its own seeded draw; the demonstration itself still goes to the
    # true target, which in the displaced frame is the offset.
    src = tmp_path / "src"
    write_synthetic_dataset(src, episodes=2, length=10, image_size=(16, 16))
    labels = (((0.45, -0.05), 0.3), ((0.60, 0.10), 1.0))
    for i, (xy, yaw) in enumerate(labels):
        _label(src, i, [*xy, 0.03, *Rotation.from_euler("z", yaw).as_quat()])
    noise = FrameNoise(xy=0.003, yaw=np.radians(3.0), copies=3, seed=7)
    report = write_target_frame_dataset(src, tmp_path / "noisy", yaw_symmetry=4, progress=False,
                                        noise=noise)
    assert report.written == 6
    meta = load_meta(tmp_path / "noisy")
    assert dataset_frame(meta)["noise"] == noise.as_dict()
    out = episode_dirs(tmp_path / "noisy")
    assert [d.name for d in out] == [f"episode_{i:06d}" for i in range(6)]
    offsets = []
    for d in out:
        info = json.loads((d / "episode.json").read_text())
        doc = info["extra"]["frame"]
        source = src / doc["source_episode"]
        assert info["index"] == int(d.name.split("_")[1])
        i = episode_dirs(src).index(source)
        truth = TargetFrame(labels[i][0] + (0.03,), equivalent_yaw(labels[i][1], 4))
        frame = TargetFrame(doc["position"], doc["yaw"])
        a, b = load_episode_arrays(source), load_episode_arrays(d)
        np.testing.assert_allclose(b["action"], frame.poses_in(a["action"]), atol=1e-5)
        np.testing.assert_allclose(frame.poses_out(b["action"]), a["action"], atol=1e-5)
        err = doc["error_from_target"]
        np.testing.assert_allclose(frame.position - truth.position, err["position"], atol=1e-12)
        assert frame.yaw - truth.yaw == pytest.approx(err["yaw"])
        assert err["position"][2] == 0.0  # the table's height is not what a localiser misses
        assert np.all(np.abs(err["position"][:2]) <= FrameNoise.CUT * 0.003 + 1e-12)
        assert abs(err["yaw"]) <= FrameNoise.CUT * np.radians(3.0) + 1e-12
        offsets.append((doc["source_episode"], doc["copy"], *err["position"][:2], err["yaw"]))
        np.testing.assert_array_equal(np.load(d / "wrist.npy"), np.load(source / "wrist.npy"))
    assert [o[:2] for o in offsets] == [(episode_dirs(src)[i].name, c) for i in range(2) for c in range(3)]
    drawn = np.array([o[2:] for o in offsets])
    assert len(np.unique(drawn.round(9), axis=0)) == 6  # every copy its own error
    assert np.all(np.abs(drawn[:, :2]) > 0) and np.all(np.abs(drawn[:, 2]) > 0)
    # Seeded: the same noise writes the same frames; another seed others.
    write_target_frame_dataset(src, tmp_path / "again", yaw_symmetry=4, progress=False, noise=noise)
    for d, e in zip(out, episode_dirs(tmp_path / "again")):
        assert load_episode_arrays(d)["action"].tolist() == load_episode_arrays(e)["action"].tolist()
    other = FrameNoise(xy=0.003, yaw=np.radians(3.0), copies=3, seed=8)
    assert other.draw(0, 0)[0].tolist() != noise.draw(0, 0)[0].tolist()
    for bad in ({"xy": -0.001}, {"yaw": float("nan")}, {"copies": 0}):
        with pytest.raises(DatasetError):
            FrameNoise(**bad)


def test_a_dataset_without_labels_is_refused(tmp_path):
    write_synthetic_dataset(tmp_path / "src", episodes=2, length=8, image_size=(16, 16))
    _sensorless(tmp_path / "src", 0)
    _sensorless(tmp_path / "src", 1)
    with pytest.raises(DatasetError, match="no episode has a target label"):
        write_target_frame_dataset(tmp_path / "src", tmp_path / "dst", 0, progress=False)


def test_training_takes_the_frame_and_the_global_pipeline_refuses_it(tmp_path):
    from fdvla_model.dataset import EpisodeDataset
    from fdvla_model.model import FDVLAPolicy
    from fdvla_model.train.build import build_model_config
    from fdvla_model.train.config import TrainConfig
    from fdvla_policy_node.inference.agents import check_fits_setup
    from fdvla_policy_node.inference.loading import PolicyLoadError, load_for_inference

    src, dst = tmp_path / "src", tmp_path / "local"
    write_synthetic_dataset(src, episodes=1, length=8, image_size=(16, 16))
    _label(src, 0, [0.5, 0.0, 0.03, 0, 0, 0, 1])
    write_target_frame_dataset(src, dst, yaw_symmetry=2, progress=False)
    cfg = build_model_config(TrainConfig(dataset=str(dst), out=str(tmp_path / "o")),
                             EpisodeDataset(dst, chunk_size=4))
    assert (cfg.action_frame, cfg.target_yaw_symmetry) == ("target", 2)
    base_cfg = build_model_config(TrainConfig(dataset=str(src), out=str(tmp_path / "o")),
                                  EpisodeDataset(src, chunk_size=4))
    assert base_cfg.action_frame == "base"
    ckpt = tmp_path / "ckpt"
    FDVLAPolicy(cfg).save(ckpt)
    for load in (lambda: check_fits_setup(ckpt, wrench_available=True),
                 lambda: load_for_inference(ckpt, device="cpu")):
        with pytest.raises(PolicyLoadError, match="'target' frame"):
            load()
