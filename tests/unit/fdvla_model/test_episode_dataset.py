"""The on-disk episode format: writer, reader, statistics and the synthetic generator."""

import json

import numpy as np
import pytest
import torch

from fdvla_model.action_space import ACTION_DIM, STATE_DIM, split_state_vector, vector_to_pose
from fdvla_model.dataset import (
    DatasetError,
    EpisodeDataset,
    EpisodeWriter,
    compute_dataset_moments,
    compute_normalization_stats,
    create_dataset,
    episode_dirs,
    images_to_float,
    load_episode_images,
    load_meta,
    write_synthetic_dataset,
)

CAMS = {"kinect": (6, 8), "wrist": (4, 5)}


def _frame(rng, cam):
    h, w = CAMS[cam]
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _write_episode(root, length, rng, instruction="push", wrench=True):
    rows = []
    with EpisodeWriter(root, instruction=instruction, task="t") as ep:
        for t in range(length):
            row = {"state": rng.normal(size=STATE_DIM), "action": rng.normal(size=ACTION_DIM),
                   "wrench": rng.normal(size=6) if wrench else None,
                   "images": {c: _frame(rng, c) for c in CAMS}}
            ep.append(0.1 * t, row["state"], row["action"], row["wrench"], row["images"])
            rows.append(row)
        ep.success = True
    return rows


@pytest.fixture
def small_dataset(tmp_path):
    root = tmp_path / "ds"
    create_dataset(root, fps=10, cameras=CAMS, extra={"robot": "test"})
    rng = np.random.default_rng(0)
    episodes = [_write_episode(root, n, rng, instruction=f"task {i}") for i, n in enumerate((5, 3))]
    return root, episodes


def test_written_files_are_plain_numpy_and_safetensors(small_dataset):
    root, episodes = small_dataset
    meta = json.loads((root / "meta.json").read_text())
    assert meta["format"] == "fdvla-episodes" and meta["state"]["dim"] == STATE_DIM
    assert meta["cameras"]["wrist"] == {"height": 4, "width": 5, "channels": 3, "dtype": "uint8",
                                        "encoding": "rgb"}
    dirs = episode_dirs(root)
    assert [d.name for d in dirs] == ["episode_000000", "episode_000001"]
    info = json.loads((dirs[0] / "episode.json").read_text())
    assert info["length"] == 5 and info["success"] is True and info["instruction"] == "task 0"
    frames = np.load(dirs[0] / "kinect.npy", allow_pickle=False)
    np.testing.assert_array_equal(frames, np.stack([r["images"]["kinect"] for r in episodes[0]]))
    mm = load_episode_images(dirs[1], "wrist")
    assert isinstance(mm, np.memmap) and mm.shape == (3, 4, 5, 3)
    np.testing.assert_array_equal(mm[2], episodes[1][2]["images"]["wrist"])


def test_samples_hold_the_frame_and_a_padded_action_chunk(small_dataset):
    root, episodes = small_dataset
    ds = EpisodeDataset(root, chunk_size=4)
    assert len(ds) == 8
    s = ds[3]  # episode 0, frame 3: two real actions, two padded with the last one
    ep = episodes[0]
    np.testing.assert_allclose(s["state"].numpy(), ep[3]["state"], rtol=1e-6)
    np.testing.assert_allclose(s["wrench"].numpy(), ep[3]["wrench"], rtol=1e-6)
    expected = np.stack([ep[3]["action"], ep[4]["action"], ep[4]["action"], ep[4]["action"]])
    np.testing.assert_allclose(s["actions"].numpy(), expected, rtol=1e-6)
    assert s["action_is_pad"].tolist() == [False, False, True, True]
    img = s["images"]["kinect"]
    assert img.shape == (3, 6, 8) and img.dtype == torch.float32
    np.testing.assert_allclose(img.permute(1, 2, 0).numpy() * 255, ep[3]["images"]["kinect"], atol=1e-3)
    assert s["task"] == "task 0" and s["frame_index"] == 3
    s = ds[5]  # first frame of episode 1
    assert s["task"] == "task 1" and s["frame_index"] == 0
    assert s["action_is_pad"].tolist() == [False, False, False, True]  # episode 1 has 3 frames


def test_default_collate_builds_a_policy_batch(small_dataset):
    root, _ = small_dataset
    ds = EpisodeDataset(root, chunk_size=3, camera_names=["wrist"])
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert set(batch["images"]) == {"wrist"}
    assert batch["images"]["wrist"].shape == (4, 3, 4, 5)
    assert batch["state"].shape == (4, STATE_DIM) and batch["wrench"].shape == (4, 6)
    assert batch["actions"].shape == (4, 3, ACTION_DIM)
    assert batch["action_is_pad"].dtype == torch.bool
    assert batch["task"] == ["task 0"] * 4
    raw = EpisodeDataset(root, chunk_size=3, camera_names=["wrist"], images_as_uint8=True)
    u8 = raw[2]["images"]["wrist"]
    assert u8.dtype == torch.uint8 and u8.shape == (3, 4, 5)
    assert torch.equal(images_to_float(u8), ds[2]["images"]["wrist"])


def test_crash_leaves_no_visible_episode(small_dataset):
    root, _ = small_dataset
    rng = np.random.default_rng(1)
    with pytest.raises(RuntimeError):
        with EpisodeWriter(root, instruction="x") as ep:
            ep.append(0.0, np.zeros(STATE_DIM), np.zeros(ACTION_DIM), np.zeros(6),
                      {c: _frame(rng, c) for c in CAMS})
            raise RuntimeError("recorder died")
    # a writer that was never closed (process killed) leaves only a .partial folder
    abandoned = EpisodeWriter(root, instruction="y")
    abandoned.append(0.0, np.zeros(STATE_DIM), np.zeros(ACTION_DIM), np.zeros(6),
                     {c: _frame(rng, c) for c in CAMS})
    assert abandoned.tmp_dir.name.endswith(".partial")
    assert len(EpisodeDataset(root, chunk_size=2)) == 8
    # the next episode does not reuse the abandoned index
    _write_episode(root, 2, rng)
    assert [d.name for d in episode_dirs(root)][-1] == "episode_000003"


def test_writer_rejects_bad_frames(small_dataset):
    root, _ = small_dataset
    rng = np.random.default_rng(2)
    ep = EpisodeWriter(root, instruction="z")
    images = {c: _frame(rng, c) for c in CAMS}
    with pytest.raises(ValueError, match="state"):
        ep.append(0.0, np.zeros(STATE_DIM - 1), np.zeros(ACTION_DIM), np.zeros(6), images)
    with pytest.raises(ValueError, match="shape"):
        ep.append(0.0, np.zeros(STATE_DIM), np.zeros(ACTION_DIM), np.zeros(6),
                  {"kinect": np.zeros((5, 8, 3), np.uint8), "wrist": images["wrist"]})
    with pytest.raises(ValueError, match="cameras"):
        ep.append(0.0, np.zeros(STATE_DIM), np.zeros(ACTION_DIM), np.zeros(6), {"kinect": images["kinect"]})
    with pytest.raises(DatasetError, match="empty"):
        ep.close()
    assert len(episode_dirs(root)) == 2


def test_reader_reports_broken_datasets(small_dataset, tmp_path):
    root, _ = small_dataset
    with pytest.raises(DatasetError, match="meta.json"):
        EpisodeDataset(tmp_path, chunk_size=2)
    (episode_dirs(root)[1] / "wrist.npy").unlink()
    with pytest.raises(DatasetError, match="wrist.npy is missing"):
        EpisodeDataset(root, chunk_size=2)
    with pytest.raises(DatasetError, match="camera 'top'"):
        EpisodeDataset(root, chunk_size=2, camera_names=["top"], episodes=[0])
    empty = tmp_path / "empty"
    create_dataset(empty, fps=10, cameras=CAMS)
    with pytest.raises(DatasetError, match="no finished episodes"):
        EpisodeDataset(empty, chunk_size=2)
    with pytest.raises(DatasetError, match="different description"):
        create_dataset(root, fps=30, cameras=CAMS)


def test_streaming_statistics_match_numpy(small_dataset):
    root, episodes = small_dataset
    rows = [r for ep in episodes for r in ep]
    m = compute_dataset_moments(root)
    for key in ("state", "action", "wrench"):
        all_values = np.stack([r[key] for r in rows]).astype(np.float32).astype(np.float64)
        np.testing.assert_allclose(m[key]["mean"], all_values.mean(0), atol=1e-12)
        np.testing.assert_allclose(m[key]["std"], all_values.std(0), atol=1e-12)
        np.testing.assert_allclose(m[key]["max"], all_values.max(0))
    stats = compute_normalization_stats(root)
    np.testing.assert_allclose(np.asarray(stats.action_std), m["action"]["std"], rtol=1e-6)


def test_missing_wrench_is_nan_and_left_out_of_statistics(tmp_path):
    root = tmp_path / "sensorless"
    create_dataset(root, fps=10, cameras=CAMS)
    _write_episode(root, 4, np.random.default_rng(0), wrench=False)
    ds = EpisodeDataset(root, chunk_size=2)
    assert torch.isnan(ds[0]["wrench"]).all() and not ds.has_force()
    stats = compute_normalization_stats(root)
    assert stats.wrench_mean is None and stats.state_mean is not None


def test_synthetic_dataset_is_consistent(tmp_path):
    root = tmp_path / "syn"
    meta = write_synthetic_dataset(root, episodes=2, length=12, image_size=(16, 20), seed=5)
    assert load_meta(root) == meta and meta.camera_names == ("kinect", "wrist")
    ds = EpisodeDataset(root, chunk_size=3)
    assert len(ds) == 24 and ds.has_force()
    s0, s1 = ds[0], ds[1]
    # the action at t is the pose of the state at t+1
    np.testing.assert_allclose(s0["actions"][0].numpy(), s1["state"][:9].numpy(), atol=1e-6)
    pose, q = split_state_vector(s0["state"].numpy().astype(np.float64))
    assert abs(np.linalg.det(pose.rotation.as_matrix()) - 1) < 1e-5
    vector_to_pose(s0["actions"][2].numpy())  # a valid pose
    # force only where the TCP is below the surface, and the image reacts to it
    m = compute_dataset_moments(root)
    assert m["wrench"]["max"][2] > 5.0 and m["wrench"]["min"][2] == 0.0
    frames = [ds[i] for i in range(len(ds))]
    fz = np.array([f["wrench"][2].item() for f in frames])
    red = np.array([f["images"]["kinect"][0].max().item() for f in frames])
    assert red[fz > 5].mean() > red[fz == 0].mean() + 0.1
    # same seed, same data
    again = tmp_path / "syn2"
    write_synthetic_dataset(again, episodes=2, length=12, image_size=(16, 20), seed=5)
    np.testing.assert_array_equal(np.load(again / "episode_000001" / "wrist.npy"),
                                  np.load(root / "episode_000001" / "wrist.npy"))


def test_foreground_masks_are_stored_read_and_carried_into_the_target_frame(tmp_path):
    from fdvla_model.dataset.reader import load_episode_masks
    from fdvla_model.dataset.target_frame import write_target_frame_dataset

    root = tmp_path / "masked"
    create_dataset(root, fps=10, cameras=CAMS)
    rng = np.random.default_rng(1)
    written = []
    with EpisodeWriter(root, instruction="press", task="t",
                       extra={"target": {"name": "cap", "pose": [0.1, 0.2, 0.0, 0, 0, 0, 1]}}) as ep:
        for t in range(4):
            mask = rng.random(CAMS["wrist"]) < 0.5
            written.append(mask)
            ep.append(0.1 * t, rng.normal(size=STATE_DIM), rng.normal(size=ACTION_DIM),
                      rng.normal(size=6), {c: _frame(rng, c) for c in CAMS}, masks={"wrist": mask})
        with pytest.raises(ValueError, match="started with"):  # the same cameras every frame
            ep.append(0.5, rng.normal(size=STATE_DIM), rng.normal(size=ACTION_DIM),
                      rng.normal(size=6), {c: _frame(rng, c) for c in CAMS})
    path = episode_dirs(root)[0]
    assert np.array_equal(load_episode_masks(path, "wrist"), np.stack(written))
    assert load_episode_masks(path, "kinect") is None
    ds = EpisodeDataset(root, chunk_size=2, camera_names=["wrist"], with_masks=True)
    sample = ds[2]
    assert sample["masks"]["wrist"].dtype == torch.bool
    assert np.array_equal(sample["masks"]["wrist"].numpy(), written[2])
    assert "masks" not in EpisodeDataset(root, chunk_size=2)[0]
    with pytest.raises(DatasetError, match="foreground masks are missing"):
        EpisodeDataset(root, chunk_size=2, with_masks=True)  # kinect has none
    local = tmp_path / "local"
    write_target_frame_dataset(root, local, yaw_symmetry=0, cameras=["wrist"], progress=False)
    assert np.array_equal(load_episode_masks(episode_dirs(local)[0], "wrist"), np.stack(written))
    # A mask of the wrong shape is a dataset error, not a crash in training.
    np.save(path / "wrist.mask.npy", np.zeros((4, 3, 3), dtype=bool))
    with pytest.raises(DatasetError, match="expected bool"):
        EpisodeDataset(root, chunk_size=2)
