"""Issue 19 (ViTaL): the scene localiser's configuration, save/load, labels, oracle, yaw
encoding and trainer, on tiny models and hand-written datasets (the rendered scenes are in
tests/integration/data/test_localiser_on_rendered_scenes.py)."""

import json
import logging
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from fdvla_model.action_space import state_vector
from fdvla_model.dataset import DatasetError, EpisodeWriter, create_dataset
from fdvla_model.localise import (LocaliserConfig, LocaliserConfigError, LocaliserLoadError,
                                  OracleLocaliser, SceneLocaliser, dataset_targets, decode_yaw,
                                  encode_yaw, episode_target, load_localiser, normalised_to_pixel,
                                  pixel_to_normalised, save_localiser, yaw_error)
from fdvla_model.localise.train_localiser import (colour_jitter, episode_window, main,
                                                  split_labelled, train_localiser)
from fdvla_msgs.types import Pose

TINY = dict(image_size=(24, 32), conv_channels=(8, 8, 8), keypoints=4, grid_size=(6, 8), grid_channels=2,
            hidden=16)
JOINTS = np.array([0.0, -1.57, 1.57, -1.57, -1.57, 0.0])


def tool_down(yaw: float) -> Rotation:
    return Rotation.from_euler("z", yaw) * Rotation.from_euler("x", np.pi)


# ------------------------------------------------------------------------------ configuration
def test_config_json_round_trip(tmp_path):
    config = LocaliserConfig(camera="scene_cam", yaw_symmetry=4, position_mean=(-0.45, -0.13, 0.09),
                             position_std=(0.03, 0.04, 0.005), frame_fraction=0.5, **TINY)
    config.to_json(tmp_path / "c.json")
    back = LocaliserConfig.from_json(tmp_path / "c.json")
    assert back == config
    assert back.image_size == (24, 32) and back.position_mean == (-0.45, -0.13, 0.09)
    assert back.to_dict() == json.loads((tmp_path / "c.json").read_text())


def test_config_rejects_unknown_and_missing_keys(tmp_path):
    d = LocaliserConfig().to_dict()
    with pytest.raises(LocaliserConfigError, match=r"unknown fields \['spurious'\]"):
        LocaliserConfig.from_dict({**d, "spurious": 1})
    d.pop("yaw_symmetry")
    with pytest.raises(LocaliserConfigError, match=r"missing fields \['yaw_symmetry'\]"):
        LocaliserConfig.from_dict(d)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(LocaliserConfigError, match="not valid JSON"):
        LocaliserConfig.from_json(tmp_path / "bad.json")


@pytest.mark.parametrize("bad", [dict(yaw_symmetry=-1), dict(yaw_symmetry=True), dict(yaw_symmetry=2.0),
                                 dict(image_size=(96,)), dict(position_std=(0.1, 0.0, 0.1)),
                                 dict(frame_fraction=0.0), dict(frame_fraction=1.5),
                                 dict(conv_channels=(8,)), dict(grid_size=(0, 4)), dict(keypoints=0),
                                 dict(format_version=99), dict(output="heatmap")])
def test_config_rejects_bad_values(bad):
    with pytest.raises(LocaliserConfigError):
        LocaliserConfig(**bad)


def test_a_config_saved_before_pointers_loads_as_a_position_localiser():
    d = LocaliserConfig().to_dict()
    d.pop("output")
    assert LocaliserConfig.from_dict(d).output == "position"


# ------------------------------------------------------------------------------ model, save/load
def _model(yaw_symmetry=2, seed=0):
    torch.manual_seed(seed)
    model = SceneLocaliser(LocaliserConfig(yaw_symmetry=yaw_symmetry, **TINY))
    model.set_normalisation([-0.45, -0.13, 0.09], [0.035, 0.035, 0.005])
    return model.eval()


def _images(n=3, h=24, w=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("yaw_symmetry", [0, 2])
def test_save_load_round_trip_gives_identical_predictions(tmp_path, yaw_symmetry):
    model = _model(yaw_symmetry)
    save_localiser(model, tmp_path / "loc")
    loaded = load_localiser(tmp_path / "loc")
    assert loaded.config == model.config
    for image in _images(3, 48, 64):  # not the input size: the resize path too
        (p0, y0), (p1, y1) = model.predict(image), loaded.predict(image)
        assert p0.shape == (3,) and np.array_equal(p0, p1)
        assert (y0 is None) == (yaw_symmetry == 0) and y0 == y1
    # the label statistics travel with the model: an output of zero decodes to the stored mean
    pos, _ = loaded.decode(torch.zeros(1, loaded.config.output_dim))
    np.testing.assert_allclose(pos[0], [-0.45, -0.13, 0.09], atol=1e-6)


def test_predict_rejects_what_is_not_one_rgb_uint8_image():
    model = _model()
    with pytest.raises(ValueError, match="one"):
        model.predict(_images(2))
    with pytest.raises(ValueError, match="uint8"):
        model.predict(_images(1)[0].astype(np.float32))


def test_loading_a_missing_or_corrupt_folder_says_what_is_wrong(tmp_path):
    with pytest.raises(LocaliserLoadError, match="not a directory"):
        load_localiser(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LocaliserLoadError, match="config.json is missing"):
        load_localiser(tmp_path / "empty")

    save_localiser(_model(), tmp_path / "corrupt")
    (tmp_path / "corrupt" / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(LocaliserLoadError, match="not readable safetensors"):
        load_localiser(tmp_path / "corrupt")

    save_localiser(_model(), tmp_path / "badcfg")
    cfg = json.loads((tmp_path / "badcfg" / "config.json").read_text())
    (tmp_path / "badcfg" / "config.json").write_text(json.dumps({**cfg, "extra_key": 1}))
    with pytest.raises(LocaliserLoadError, match="unknown fields"):
        load_localiser(tmp_path / "badcfg")

    # weights of another architecture than the config describes
    save_localiser(_model(), tmp_path / "mismatch")
    cfg["conv_channels"] = [8, 16, 8]
    (tmp_path / "mismatch" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(LocaliserLoadError, match="does not fit"):
        load_localiser(tmp_path / "mismatch")


# ------------------------------------------------------------------------------ yaw symmetry
@pytest.mark.parametrize("k", [1, 2, 4])
def test_a_yaw_and_yaw_plus_a_symmetry_step_encode_the_same(k):
    yaws = np.linspace(-np.pi, np.pi, 17)
    np.testing.assert_allclose(encode_yaw(yaws, k), encode_yaw(yaws + 2 * np.pi / k, k), atol=1e-12)
    np.testing.assert_allclose(yaw_error(yaws, yaws - 2 * np.pi / k, k), 0.0, atol=1e-12)
    # half a step apart is as different as it gets
    assert np.allclose(encode_yaw(yaws, k), -encode_yaw(yaws + np.pi / k, k))
    np.testing.assert_allclose(yaw_error(yaws, yaws + np.pi / k, k), np.pi / k)
    # decoding gives the class representative in (-pi/k, pi/k]
    decoded = decode_yaw(encode_yaw(yaws, k), k)
    assert np.all(np.abs(decoded) <= np.pi / k + 1e-12)
    np.testing.assert_allclose(yaw_error(decoded, yaws, k), 0.0, atol=1e-9)


def test_yaw_encoding_needs_a_symmetry():
    with pytest.raises(ValueError):
        encode_yaw(0.1, 0)


# ------------------------------------------------------------------------------ labels
def _write_episode(root, rows, target=None, h=24, w=32, image=None):
    """rows: [(tcp_position, tcp_yaw, wrench or None)]"""
    extra = {"seed": 1} if target is None else {"seed": 1, "target": target}
    with EpisodeWriter(root, instruction="press", task="button", extra=extra) as ep:
        for t, (pos, yaw, wrench) in enumerate(rows):
            frame = np.zeros((h, w, 3), np.uint8) if image is None else image(t)
            ep.append(0.1 * t, state_vector(Pose.from_rotation(pos, tool_down(yaw)), JOINTS),
                      np.zeros(9), wrench, {"kinect": frame})
        ep.success = True
    return ep.root / f"episode_{ep.index:06d}"


@pytest.fixture
def labelled_dataset(tmp_path):
    root = tmp_path / "data"
    create_dataset(root, fps=10, cameras={"kinect": (24, 32)})
    pose = [-0.4, -0.1, 0.09, *Rotation.from_euler("z", 0.7).as_quat()]
    recorded = _write_episode(root, [([-0.5, -0.1, 0.3], 0.0, np.zeros(6))] * 3,
                              target={"name": "button_cap_top", "pose": pose})
    # force norm 0, 4.24 N, 5.66 N (the first row above 5 N), 10 N
    contact_rows = [([-0.45, -0.12, 0.30], 0.1, [0, 0, 0, 0, 0, 0]),
                    ([-0.45, -0.12, 0.20], 0.2, [0, 3, 3, 0, 0, 0]),
                    ([-0.44, -0.11, 0.10], 0.3, [4, 0, -4, 0, 0, 0]),
                    ([-0.44, -0.11, 0.09], 0.4, [0, 0, -10, 0, 0, 0])]
    contact = _write_episode(root, contact_rows)
    sensorless = _write_episode(root, [([-0.45, -0.12, 0.1], 0.0, None)] * 3)
    no_contact = _write_episode(root, [([-0.45, -0.12, 0.3], 0.0, [0, 0, 4.9, 0, 0, 0])] * 3)
    return root, recorded, contact, sensorless, no_contact


def test_label_from_a_recorded_target(labelled_dataset):
    _, recorded, *_ = labelled_dataset
    label = episode_target(recorded)
    assert label.source == "recorded" and label.name == "button_cap_top"
    np.testing.assert_allclose(label.position, [-0.4, -0.1, 0.09])
    assert label.yaw == pytest.approx(0.7)


def test_label_from_the_first_contact_above_5_newtons(labelled_dataset):
    _, _, contact, _, _ = labelled_dataset
    label = episode_target(contact)
    assert label.source == "first_contact"
    np.testing.assert_allclose(label.position, [-0.44, -0.11, 0.10], atol=1e-6)
    assert label.yaw == pytest.approx(0.3, abs=1e-6)
    # a higher threshold picks a later row
    assert episode_target(contact, contact_force=8.0).position[2] == pytest.approx(0.09, abs=1e-6)


def test_episodes_without_target_or_contact_are_skipped_and_counted(labelled_dataset):
    root, recorded, contact, sensorless, no_contact = labelled_dataset
    assert episode_target(sensorless) is None  # NaN wrench rows: no contact to find
    assert episode_target(no_contact) is None  # 4.9 N never exceeds 5 N
    labels = dataset_targets(root)
    assert [ep for ep, _ in labels.labelled] == [recorded, contact]
    assert labels.skipped == [sensorless, no_contact]
    assert labels.counts() == {"recorded": 1, "first_contact": 1, "skipped": 2}


def test_a_malformed_recorded_target_is_an_error_not_a_skip(tmp_path):
    root = tmp_path / "data"
    create_dataset(root, fps=10, cameras={"kinect": (24, 32)})
    ep = _write_episode(root, [([-0.5, -0.1, 0.3], 0.0, None)], target={"name": "x", "pose": [1, 2, 3]})
    with pytest.raises(DatasetError, match="7 finite numbers"):
        episode_target(ep)


# ------------------------------------------------------------------------------ oracle
def test_oracle_noise_is_seeded_and_has_the_asked_std():
    truth, yaw = np.array([-0.45, -0.13, 0.09]), 0.4
    a = OracleLocaliser(noise_xy=0.01, noise_z=0.002, noise_yaw=0.05, seed=3)
    b = OracleLocaliser(noise_xy=0.01, noise_z=0.002, noise_yaw=0.05, seed=3)
    draws = [a.localise(truth, yaw) for _ in range(2000)]
    again = [b.localise(truth, yaw) for _ in range(2000)]
    assert all(np.array_equal(p, q) and y == z for (p, y), (q, z) in zip(draws, again))
    other = OracleLocaliser(noise_xy=0.01, seed=4).localise(truth)[0]
    assert not np.array_equal(other, draws[0][0])
    err = np.array([p for p, _ in draws]) - truth
    yaw_err = np.array([y for _, y in draws]) - yaw
    for measured, asked in ((err[:, 0].std(), 0.01), (err[:, 1].std(), 0.01), (err[:, 2].std(), 0.002),
                            (yaw_err.std(), 0.05)):
        assert measured == pytest.approx(asked, rel=0.1)
    assert abs(err.mean(axis=0)[:2]).max() < 0.1 * 0.01


def test_oracle_without_noise_is_the_truth_and_rejects_negative_noise():
    p, y = OracleLocaliser().localise([0.1, 0.2, 0.3], 1.0)
    assert np.array_equal(p, [0.1, 0.2, 0.3]) and y == 1.0
    assert OracleLocaliser(noise_yaw=0.1, seed=0).localise([0, 0, 0])[1] is None
    for kwargs in (dict(noise_xy=-0.001), dict(noise_z=-1), dict(noise_yaw=-0.1), dict(noise_xy=float("nan"))):
        with pytest.raises(ValueError):
            OracleLocaliser(**kwargs)


# ------------------------------------------------------------------------------ trainer
def test_episode_window_and_split():
    assert episode_window(10, 0.3) == 3 and episode_window(1, 0.3) == 1 and episode_window(7, 1.0) == 7
    train, val = split_labelled(20, 0.1, seed=0)
    assert len(val) == 2 and sorted(train + val) == list(range(20))
    assert split_labelled(20, 0.1, seed=0) == (train, val)
    assert len(split_labelled(3, 0.1, seed=0)[1]) == 1  # at least one held out
    with pytest.raises(DatasetError, match="at least 2"):
        split_labelled(1, 0.1, seed=0)


def test_colour_jitter_changes_colours_within_range_and_is_seeded():
    images = torch.rand(8, 3, 12, 16)
    a = colour_jitter(images, torch.Generator().manual_seed(1))
    b = colour_jitter(images, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == images.shape
    assert a.min() >= 0 and a.max() <= 1 and not torch.allclose(a, images, atol=0.02)


def _dot_dataset(root, episodes, length=10, seed=0):
    """Scene images with a dot whose pixel position is a fixed function of the target's xy."""
    create_dataset(root, fps=10, cameras={"kinect": (24, 32), "wrist": (8, 8)})
    rng = np.random.default_rng(seed)
    targets = []
    for _ in range(episodes):
        xy = rng.uniform(-0.05, 0.05, 2)
        u, v = int(round(16 + xy[0] * 240)), int(round(12 + xy[1] * 160))

        def image(t, u=u, v=v):
            frame = np.full((24, 32, 3), 60, np.uint8)
            frame[max(v - 1, 0):v + 2, max(u - 1, 0):u + 2] = (230, 40, 40)
            return frame

        pose = [-0.45 + xy[0], -0.13 + xy[1], 0.09, 0, 0, 0, 1]
        with EpisodeWriter(root, instruction="press", task="button",
                           extra={"target": {"name": "dot", "pose": pose}}) as ep:
            for t in range(length):
                ep.append(0.1 * t, np.zeros(15), np.zeros(9), np.zeros(6),
                          {"kinect": image(t), "wrist": np.zeros((8, 8, 3), np.uint8)})
        targets.append(pose[:3])
    return np.array(targets)


def test_training_writes_model_and_metrics_and_counts_skipped_episodes(tmp_path, caplog):
    root = tmp_path / "data"
    _dot_dataset(root, episodes=5)
    with EpisodeWriter(root, instruction="press", task="button") as ep:  # no label at all
        ep.append(0.0, np.zeros(15), np.zeros(9), None,
                  {"kinect": np.zeros((24, 32, 3), np.uint8), "wrist": np.zeros((8, 8, 3), np.uint8)})
    with caplog.at_level(logging.INFO, logger="fdvla_model.localise.train_localiser"):
        metrics = train_localiser(root, tmp_path / "out", steps=3, batch_size=4,
                                  config=LocaliserConfig(**TINY), progress=False)
    assert "1 episodes skipped" in caplog.text and "skipped 1 of 6 episodes" in caplog.text
    assert metrics["label_counts"] == {"recorded": 5, "first_contact": 0, "skipped": 1}
    assert metrics["skipped_episodes"] == ["episode_000005"]
    assert len(metrics["val_episodes"]) == 1 and len(metrics["train_episodes"]) == 4
    # first 30 % of each 10-frame episode
    assert metrics["train_frames"] == 4 * 3 and metrics["val_frames"] == 3
    on_disk = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert on_disk == metrics
    for key in ("train_position_error_mm", "val_position_error_mm", "val_mean_predictor_error_mm"):
        assert np.isfinite(metrics[key]) and metrics[key] >= 0
    loaded = load_localiser(tmp_path / "out")
    assert loaded.config.target_name == "dot" and loaded.config.position_mean[2] == pytest.approx(0.09)


def test_training_refuses_a_dataset_it_cannot_use(tmp_path):
    root = tmp_path / "data"
    _dot_dataset(root, episodes=1)
    with pytest.raises(DatasetError, match="at least 2 labelled episodes"):
        train_localiser(root, tmp_path / "out", steps=1, config=LocaliserConfig(**TINY), progress=False)
    with pytest.raises(DatasetError, match="camera 'scene'"):
        train_localiser(root, tmp_path / "out", steps=1, progress=False,
                        config=LocaliserConfig(camera="scene", **TINY))


def test_the_localiser_learns_where_the_dot_is(tmp_path):
    targets = _dot_dataset(tmp_path / "data", episodes=80, length=3)
    metrics = train_localiser(tmp_path / "data", tmp_path / "out", steps=300, batch_size=16, lr=3e-3,
                              config=LocaliserConfig(**TINY), progress=False)
    # The baseline, measured here: the training labels' mean as the answer for held-out episodes.
    val = [int(name.split("_")[1]) for name in metrics["val_episodes"]]
    train = [int(name.split("_")[1]) for name in metrics["train_episodes"]]
    mean_error = np.linalg.norm(targets[val] - targets[train].mean(axis=0), axis=1).mean() * 1e3
    assert metrics["val_mean_predictor_error_mm"] == pytest.approx(mean_error)
    assert metrics["val_position_error_mm"] < 0.4 * mean_error, metrics


def test_cli_trains_and_prints_metrics(tmp_path, capsys):
    _dot_dataset(tmp_path / "data", episodes=3, length=2)
    rc = main(["--dataset", str(tmp_path / "data"), "--out", str(tmp_path / "out"), "--steps", "2",
               "--batch-size", "2", "--image-size", "24", "32", "--yaw-symmetry", "4", "--no-progress"])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["yaw_symmetry"] == 4 and printed["val_yaw_error_deg"] is not None
    assert load_localiser(tmp_path / "out").config.yaw_symmetry == 4
    assert main(["--dataset", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o2"), "--steps", "1",
                 "--no-progress"]) == 2


# ------------------------------------------------------------------------------ the pointer
def dot_pixel(positions):
    """The dot dataset's projection: a target's xy -> its dot's pixel (u, v)."""
    p = np.asarray(positions)
    return np.stack([16 + (p[:, 0] + 0.45) * 240, 12 + (p[:, 1] + 0.13) * 160], axis=1)


def test_pixel_coordinates_map_to_the_same_image_point_at_any_resolution():
    pixels = np.array([[0.0, 0.0], [31.0, 23.0], [10.25, 7.5]])
    xy = pixel_to_normalised(pixels, (24, 32))
    np.testing.assert_allclose(xy[0], [-1 + 1 / 32, -1 + 1 / 24])  # a corner pixel's centre
    np.testing.assert_allclose(normalised_to_pixel(xy, (24, 32)), pixels, atol=1e-9)
    # The same point of the scene in an image of twice the size: pixel centres scale about -0.5.
    np.testing.assert_allclose(normalised_to_pixel(xy, (48, 64)), 2 * pixels + 0.5, atol=1e-9)


@pytest.mark.parametrize("yaw_symmetry", [0, 4])
def test_a_pointer_answers_a_pixel_of_the_image_it_is_given_and_round_trips(tmp_path, yaw_symmetry):
    torch.manual_seed(0)
    model = SceneLocaliser(LocaliserConfig(output="pixel", yaw_symmetry=yaw_symmetry, **TINY)).eval()
    save_localiser(model, tmp_path / "ptr")
    loaded = load_localiser(tmp_path / "ptr")
    assert loaded.config.points and loaded.config == model.config
    for image in _images(3, 48, 64):
        (uv0, y0), (uv1, y1) = model.point(image), loaded.point(image)
        assert uv0.shape == (2,) and np.array_equal(uv0, uv1) and y0 == y1
        assert -0.5 <= uv0[0] <= 63.5 and -0.5 <= uv0[1] <= 47.5  # inside the 64 x 48 image
        assert (y0 is None) == (yaw_symmetry == 0)
    with pytest.raises(ValueError, match="needs depth"):
        model.predict(_images(1)[0])
    with pytest.raises(ValueError, match="regresses positions"):
        _model().point(_images(1)[0])


def test_a_pointer_needs_a_calibration_to_train_and_a_regressor_takes_no_projection(tmp_path):
    _dot_dataset(tmp_path / "data", episodes=3, length=2)
    with pytest.raises(DatasetError, match="3 episode.s. carry no calibration of camera 'kinect'"):
        train_localiser(tmp_path / "data", tmp_path / "out", steps=1, progress=False,
                        config=LocaliserConfig(output="pixel", **TINY))
    with pytest.raises(ValueError, match="pixel_of"):
        train_localiser(tmp_path / "data", tmp_path / "out", steps=1, progress=False,
                        config=LocaliserConfig(**TINY), pixel_of=dot_pixel)


def test_pixel_labels_come_from_each_episodes_recorded_calibration(tmp_path):
    """Two sessions with the camera in two places: each episode's target projects through its
    own calibration, and a calibration at another resolution than the stored images gives the
    same image point."""
    from fdvla_model.localise.calibration import episode_calibration, target_pixels
    from fdvla_msgs.camera_geometry import project_point
    from fdvla_msgs.types import CameraIntrinsics

    k = CameraIntrinsics.from_fovy(64, 48, 50.0)
    down = Rotation.from_euler("x", np.pi)  # optical z along base -z: looking down
    poses = [[-0.45, -0.13, 0.8, *down.as_quat()], [-0.40, -0.10, 0.7, *down.as_quat()]]
    root = tmp_path / "data"
    create_dataset(root, fps=10, cameras={"kinect": (24, 32)})
    target = np.array([-0.44, -0.12, 0.09])
    for pose in poses:
        cal = {"kinect": {"intrinsics": {"width": 64, "height": 48, "fx": k.fx, "fy": k.fy,
                                         "cx": k.cx, "cy": k.cy, "distortion": []},
                          "pose_in_base": pose}}
        with EpisodeWriter(root, instruction="press", task="button",
                           extra={"target": {"name": "dot", "pose": [*target, 0, 0, 0, 1]},
                                  "calibration": cal}) as ep:
            ep.append(0.0, np.zeros(15), np.zeros(9), np.zeros(6),
                      {"kinect": np.zeros((24, 32, 3), np.uint8)})
    episodes = sorted(p for p in root.iterdir() if p.is_dir())
    got = target_pixels(episodes, np.stack([target, target]), "kinect")
    want = [pixel_to_normalised(np.array(project_point(target, k, Pose(p[:3], p[3:]).as_matrix())),
                                (48, 64)) for p in poses]
    assert got == pytest.approx(np.stack(want))
    assert np.abs(got[0] - got[1]).max() > 0.05  # the moved camera sees it elsewhere
    assert episode_calibration(episodes[0], "wrist") is None


def test_the_pointer_learns_where_the_dot_is(tmp_path):
    targets = _dot_dataset(tmp_path / "data", episodes=80, length=3)
    metrics = train_localiser(tmp_path / "data", tmp_path / "out", steps=300, batch_size=16,
                              lr=3e-3, config=LocaliserConfig(output="pixel", **TINY),
                              progress=False, pixel_of=dot_pixel)
    val = [int(name.split("_")[1]) for name in metrics["val_episodes"]]
    train = [int(name.split("_")[1]) for name in metrics["train_episodes"]]
    mean_error = np.linalg.norm(dot_pixel(targets[val]) - dot_pixel(targets[train]).mean(axis=0),
                                axis=1).mean()
    assert metrics["output"] == "pixel" and metrics["val_position_error_mm"] is None
    assert metrics["val_mean_predictor_pixel_error_px"] == pytest.approx(mean_error)
    assert metrics["val_pixel_error_px"] < 0.4 * mean_error, metrics
    # The saved pointer answers in the pixels of the image it is given.
    pointer = load_localiser(tmp_path / "out")
    frame = np.full((24, 32, 3), 60, np.uint8)
    frame[11:14, 20:23] = (230, 40, 40)  # a dot centred on pixel (21, 12)
    uv, _ = pointer.point(frame)
    assert np.linalg.norm(uv - [21, 12]) < 2.0, uv


def test_the_localiser_imports_no_ros_and_no_higher_layer():
    code = ("import sys, fdvla_model.localise, fdvla_model.localise.train_localiser; "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('rclpy', 'fdvla_drivers', 'fdvla_policy_node', 'fdvla_teleop', 'fdvla')]; "
            "sys.exit(str(bad) if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
