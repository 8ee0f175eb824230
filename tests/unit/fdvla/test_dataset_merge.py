"""`fdvla dataset merge`: demonstrations from several sessions (or parallel generators) trained
on as one dataset."""

import json
import subprocess
import sys

import numpy as np

from fdvla_model.dataset import EpisodeDataset, episode_dirs, load_episode_arrays, load_meta, \
    write_synthetic_dataset
from fdvla_model.dataset.target_frame import write_target_frame_dataset


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "fdvla.cli", "dataset", "merge",
                           *map(str, args), "--no-progress"], capture_output=True, text=True,
                          timeout=120)


def test_the_episodes_of_every_source_in_order_and_unchanged(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_synthetic_dataset(a, episodes=2, length=6, image_size=(16, 16), seed=1)
    write_synthetic_dataset(b, episodes=3, length=5, image_size=(16, 16), seed=2)
    r = _cli(a, b, "--out", tmp_path / "m")
    assert r.returncode == 0, r.stderr
    assert f"5 episodes in {tmp_path / 'm'} (2 from {a}, 3 from {b})" in r.stdout
    merged = episode_dirs(tmp_path / "m")
    sources = episode_dirs(a) + episode_dirs(b)
    assert [d.name for d in merged] == [f"episode_{i:06d}" for i in range(5)]
    for got, src in zip(merged, sources):
        x, y = load_episode_arrays(got), load_episode_arrays(src)
        for key in ("state", "action", "wrench"):
            np.testing.assert_array_equal(x[key], y[key])
        np.testing.assert_array_equal(np.load(got / "wrist.npy"), np.load(src / "wrist.npy"))
        origin = json.loads((got / "episode.json").read_text())["extra"]["merged_from"]
        assert origin == {"dataset": str(src.parent), "episode": src.name}
    assert load_meta(tmp_path / "m").extra["merged_from"] == [str(a), str(b)]
    assert len(EpisodeDataset(tmp_path / "m", chunk_size=4)) == 2 * 6 + 3 * 5  # trains as one


def test_datasets_that_differ_are_refused_with_the_difference_named(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_synthetic_dataset(a, episodes=1, length=4, image_size=(16, 16))
    write_synthetic_dataset(b, episodes=1, length=4, image_size=(16, 24))
    r = _cli(a, b, "--out", tmp_path / "m")
    assert r.returncode != 0 and "cameras" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "m").exists()
    for d in episode_dirs(a):  # a target-frame copy of the same data: another frame
        info = json.loads((d / "episode.json").read_text())
        info["extra"]["target"] = {"name": "button_cap_top", "pose": [0.5, 0, 0.02, 0, 0, 0, 1],
                                   "yaw_symmetry": 0}
        (d / "episode.json").write_text(json.dumps(info))
    write_target_frame_dataset(a, c, progress=False)
    r = _cli(a, c, "--out", tmp_path / "m")
    assert r.returncode != 0 and "frame" in r.stderr
    r = _cli(a, a, "--out", tmp_path / "m")
    assert r.returncode != 0 and "twice" in r.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    r = _cli(a, "--out", tmp_path / "full")
    assert r.returncode != 0 and "not empty" in r.stderr
    empty = tmp_path / "empty"  # a dataset with no finished episode: nothing is written
    write_synthetic_dataset(empty, episodes=1, length=4, image_size=(16, 16))
    for d in episode_dirs(empty):
        d.rename(d.with_name(d.name + ".partial"))
    r = _cli(empty, "--out", tmp_path / "none")
    assert r.returncode != 0 and "no finished episode" in r.stderr
    assert not (tmp_path / "none").exists()
