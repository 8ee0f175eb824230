"""`fdvla dataset target-frame`: the ViTaL local policy's data from a recorded dataset."""

import json
import subprocess
import sys

from fdvla_model.dataset import episode_dirs, load_meta, write_synthetic_dataset
from fdvla_model.dataset.target_frame import dataset_frame


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "fdvla.cli", "dataset", "target-frame",
                           *map(str, args), "--no-progress"], capture_output=True, text=True,
                          timeout=120)


def test_the_symmetry_comes_from_the_labels_or_the_command_line(tmp_path):
    src = tmp_path / "src"
    write_synthetic_dataset(src, episodes=2, length=6, image_size=(16, 16))

    def label(**extra):
        for d in episode_dirs(src):
            info = json.loads((d / "episode.json").read_text())
            info["extra"]["target"] = {"name": "socket_hole_top",
                                       "pose": [0.5, 0, 0.02, 0, 0, 0, 1], **extra}
            (d / "episode.json").write_text(json.dumps(info))

    label()  # a label without its symmetry (not what the sim records)
    r = _cli(src, "--out", tmp_path / "a")
    assert r.returncode != 0 and "--yaw-symmetry" in r.stderr and "Traceback" not in r.stderr
    r = _cli(src, "--out", tmp_path / "b", "--yaw-symmetry", 4)
    assert r.returncode == 0, r.stderr
    assert "2 episodes in the target frame (yaw symmetry 4)" in r.stdout
    assert dataset_frame(load_meta(tmp_path / "b"))["yaw_symmetry"] == 4
    label(yaw_symmetry=4)  # as the sim's recorder stores it: a plug's square socket
    r = _cli(src, "--out", tmp_path / "c")
    assert r.returncode == 0, r.stderr
    assert dataset_frame(load_meta(tmp_path / "c")) == {"name": "target", "yaw_symmetry": 4}
    # Noisy copies from the command line; bad noise is a message, not a traceback.
    r = _cli(src, "--out", tmp_path / "d", "--frame-noise-xy", 0.003, "--frame-noise-yaw", 3,
             "--frame-copies", 2)
    assert r.returncode == 0, r.stderr
    assert "4 episodes in the target frame" in r.stdout
    noise = dataset_frame(load_meta(tmp_path / "d"))["noise"]
    assert noise["copies"] == 2 and noise["xy"] == 0.003 and abs(noise["yaw"] - 0.0523599) < 1e-6
    r = _cli(src, "--out", tmp_path / "e", "--frame-copies", 0)
    assert r.returncode != 0 and "copies" in r.stderr and "Traceback" not in r.stderr


def test_train_refuses_frame_noise_without_vital(tmp_path):
    r = subprocess.run([sys.executable, "-m", "fdvla.cli", "train", "--dataset", str(tmp_path),
                        "--out", str(tmp_path / "o"), "--frame-noise-xy", "0.003"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "need --vital" in r.stderr and "Traceback" not in r.stderr
