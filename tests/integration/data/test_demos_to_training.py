"""The data path end to end: `fdvla sim-demos` (real graph, real sim, real recorder) ->
`fdvla dataset build` -> one `fdvla train` step, `fdvla dataset export-lerobot` read back with
pyarrow and PyAV, and `fdvla plot`."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

pytestmark = pytest.mark.slow

CAMERAS = ["cameras.kinect.width=64", "cameras.kinect.height=48", "cameras.kinect.fps=15",
           "cameras.wrist.width=64", "cameras.wrist.height=48", "cameras.wrist.fps=15"]


def fdvla(*args, timeout=300):
    out = subprocess.run([sys.executable, "-m", "fdvla.cli", *map(str, args)],
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    root = tmp_path_factory.mktemp("data_path")
    sets = [a for s in CAMERAS for a in ("--set", s)]
    text = fdvla("sim-demos", "--task", "button", "--episodes", 2, "--out", root / "bags",
                 "--seed", 5, "--max-duration", 20, *sets)
    return root, text


@pytest.fixture(scope="module")
def dataset(demos):
    root, _ = demos
    text = fdvla("dataset", "build", root / "bags", "--out", root / "data", "--fps", 10,
                 "--include-failed")
    return root / "data", text


def test_sim_demos_records_one_bag_per_episode_with_the_checkers_verdict(demos):
    root, text = demos
    assert "2 episodes" in text
    bags = sorted(p for p in (root / "bags").iterdir() if p.name.startswith("episode_"))
    assert [b.name for b in bags] == ["episode_0000", "episode_0001"]
    for k, bag in enumerate(bags):
        with Reader(bag) as r:
            topics = {c.topic for c in r.connections}
        assert {"/fdvla/action_chunk", "/controller/target_pose", "/joint_states", "/wrench",
                "/kinect/color/image_raw", "/sim/task_state", "/kinect/extrinsics"} <= topics

        facts = yaml.safe_load((bag / "metadata.yaml").read_text())[
            "rosbag2_bagfile_information"]["custom_data"]
        assert facts["seed"] == str(5 + k) and facts["task"] == "button"
        assert facts["operator"] == "scripted expert"
        # The recorded task state agrees with the verdict stored for the episode.
        ts = get_typestore(Stores.ROS2_JAZZY)
        with Reader(bag) as r:
            conn = [c for c in r.connections if c.topic == "/sim/task_state"]
            last = [json.loads(ts.deserialize_cdr(raw, c.msgtype).data)
                    for c, _, raw in r.messages(connections=conn)][-1]
        assert facts["success"] == str(last["success"]).lower()
        # The target's pose where the episode started (a localiser's label, ViTaL): the cap
        # top before any press, as the first recorded task state has it.
        with Reader(bag) as r:
            first = next(json.loads(ts.deserialize_cdr(raw, c.msgtype).data)
                         for c, _, raw in r.messages(connections=conn))
        target = json.loads(facts["target"])
        assert target["name"] == "button_cap_top" == first["target"]["name"]
        np.testing.assert_allclose(target["pose"], first["object_poses"]["button_cap_top"],
                                   atol=1e-4)
    assert "success=" in text  # the progress bar's running success rate


def test_dataset_rows_follow_the_alignment_rule(demos, dataset):
    from fdvla_model.action_space import action_vector
    from fdvla_model.dataset import episode_dirs, load_episode_arrays, load_meta
    from fdvla_msgs.types import Pose

    root, _ = demos
    data, text = dataset
    assert "2 of 2 bags written" in text and "rates Hz" in text
    meta = load_meta(data)
    assert meta.fps == 10 and meta.camera_names == ("kinect", "wrist")
    eps = episode_dirs(data)
    assert len(eps) == 2
    info = json.loads((eps[0] / "episode.json").read_text())
    assert info["extra"]["action_source"] == "controller_target_at_next_tick"
    facts = yaml.safe_load((Path(info["extra"]["bag"]) / "metadata.yaml").read_text())[
        "rosbag2_bagfile_information"]["custom_data"]
    assert info["extra"]["target"] == json.loads(facts["target"])
    assert len(info["extra"]["target"]["pose"]) == 7
    arr = load_episode_arrays(eps[0])
    t = arr["timestamp"]
    np.testing.assert_allclose(np.diff(t), 0.1, atol=1e-6)  # epoch seconds in float64
    assert not np.isnan(arr["wrench"]).any()
    assert np.load(eps[0] / "kinect.npy").shape == (len(t), 48, 64, 3)
    # Recompute the labels from the bag with the bag library alone.
    ts = get_typestore(Stores.ROS2_JAZZY)
    bag = Path(info["extra"]["bag"])
    targets, tcps = [], []
    with Reader(bag) as r:
        for c, _, raw in r.messages():
            if c.topic in ("/controller/target_pose", "/tcp_pose"):
                m = ts.deserialize_cdr(raw, c.msgtype)
                stamp = m.header.stamp.sec + m.header.stamp.nanosec * 1e-9
                p, q = m.pose.position, m.pose.orientation
                pose = Pose(np.array([p.x, p.y, p.z]), np.array([q.x, q.y, q.z, q.w]))
                (targets if c.topic == "/controller/target_pose" else tcps).append((stamp, pose))
    targets.sort(key=lambda x: x[0])
    tcps.sort(key=lambda x: x[0])
    for row in (0, len(t) // 2, len(t) - 2):
        due = t[row] + 0.1
        expected = [p for s, p in targets if s <= due][-1]
        np.testing.assert_allclose(arr["action"][row], action_vector(expected), atol=1e-6)
        measured = [p for s, p in tcps if s <= t[row]][-1]
        np.testing.assert_allclose(arr["state"][row, :3], measured.position, atol=1e-6)


def test_a_bag_without_wrench_gives_nan_rows(demos, tmp_path):
    from fdvla_teleop.bags import read_bag
    from fdvla_teleop.dataset_build import episode_arrays

    root, _ = demos
    everything = read_bag(root / "bags" / "episode_0000")
    sensorless = read_bag(root / "bags" / "episode_0000",
                          topics=[t for t in everything.types if t != "/wrench"])
    sensorless.messages.pop("/wrench", None)
    ep = episode_arrays(sensorless, fps=10)
    assert ep["wrench"] is None  # the writer turns None rows into NaN rows
    from fdvla_model.dataset import EpisodeWriter, create_dataset, load_episode_arrays

    create_dataset(tmp_path, 10, {c: a.shape[1:3] for c, a in ep["images"].items()})
    with EpisodeWriter(tmp_path, "x") as w:
        for i in range(len(ep["timestamp"])):
            w.append(ep["timestamp"][i], ep["state"][i], ep["action"][i], None,
                     {c: ep["images"][c][i] for c in ep["images"]})
        path = w.close(success=True)
    assert np.isnan(load_episode_arrays(path)["wrench"]).all()


def test_an_episode_starts_once_the_wrench_has_a_sample(demos):
    """A wrench stream that starts after the cameras must not leave the first frames without a
    force (a wrench-input variant would refuse the dataset)."""
    from fdvla_teleop.bags import deserialize, read_bag, stamp_of
    from fdvla_teleop.dataset_build import episode_arrays

    root, _ = demos
    bag = read_bag(root / "bags" / "episode_0000")
    full = episode_arrays(bag, fps=10)
    # The wrench starts 0.5 s after the episode did (by its stamps: how far ahead of the cameras
    # the wrench stream began depends on how fast the processes came up).
    typ = bag.types["/wrench"]
    start = full["timestamp"][0] + 0.5
    bag.messages["/wrench"] = [(t, raw) for t, raw in bag.messages["/wrench"]
                               if stamp_of(deserialize(raw, typ)) >= start]
    late = episode_arrays(bag, fps=10)
    assert late["timestamp"][0] >= full["timestamp"][0] + 0.5 - 1e-6
    assert np.isfinite(late["wrench"]).all()


def test_one_training_step_on_the_built_dataset(dataset, tmp_path):
    data, _ = dataset
    text = fdvla("train", "--dataset", data, "--out", tmp_path / "run", "--preset", "tiny",
                 "--steps", 1, "--batch-size", 2, "--num-workers", 0, "--device", "cpu",
                 "--no-progress", timeout=600)
    assert "trained" in text and (tmp_path / "run" / "policy").is_dir()


def test_lerobot_export_files(dataset, tmp_path):
    import av
    import pyarrow.parquet as pq

    from fdvla_model.dataset import episode_dirs, load_episode_arrays

    data, _ = dataset
    out = tmp_path / "lerobot"
    fdvla("dataset", "export-lerobot", data, "--out", out)
    info = json.loads((out / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 10
    lengths = [len(load_episode_arrays(e)["timestamp"]) for e in episode_dirs(data)]
    assert info["total_episodes"] == 2 and info["total_frames"] == sum(lengths)
    feats = info["features"]
    assert feats["observation.state"]["shape"] == [15] and feats["action"]["shape"] == [9]
    assert feats["observation.force"]["shape"] == [6]
    assert feats["observation.images.kinect"]["dtype"] == "video"
    table = pq.read_table(out / "data" / "chunk-000" / "file-000.parquet")
    assert table.num_rows == sum(lengths)
    assert {"observation.state", "action", "observation.force", "timestamp", "frame_index",
            "episode_index", "index", "task_index"} <= set(table.column_names)
    np.testing.assert_array_equal(table.column("index").to_numpy(), np.arange(sum(lengths)))
    eps = pq.read_table(out / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    assert [e["length"] for e in eps] == lengths
    assert eps[1]["dataset_from_index"] == lengths[0]
    assert eps[1]["videos/observation.images.wrist/from_timestamp"] == pytest.approx(
        lengths[0] / 10)
    tasks = pq.read_table(out / "meta" / "tasks.parquet").to_pylist()
    assert tasks == [{"task_index": 0, "task": "press the emergency button"}]
    stats = json.loads((out / "meta" / "stats.json").read_text())
    assert len(stats["observation.state"]["mean"]) == 15
    for cam in ("kinect", "wrist"):
        path = out / "videos" / f"observation.images.{cam}" / "chunk-000" / "file-000.mp4"
        with av.open(str(path)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        assert len(frames) == sum(lengths) and frames[0].shape == (48, 64, 3)


def test_plot_of_a_bag_and_of_an_episode(demos, dataset, tmp_path):
    root, _ = demos
    data, _ = dataset
    fdvla("plot", root / "bags" / "episode_0000", "--out", tmp_path / "bag.png")
    fdvla("plot", data / "episode_000000", "--out", tmp_path / "ep.png")
    for p in ("bag.png", "ep.png"):
        assert (tmp_path / p).stat().st_size > 10_000


def test_each_episode_carries_the_scene_cameras_calibration_from_its_bag(dataset):
    """camera_info and the latched /kinect/extrinsics (published once, before the recorder's
    episode began) become the episode's `extra.calibration.kinect`, what a pointing localiser is
    trained with; the wrist camera moves with the arm and has none."""
    from fdvla_drivers.camera.sim_camera import SimCamera
    from fdvla_drivers.robot.sim_backend import SimRobotBackend
    from fdvla_model.localise.calibration import episode_calibration

    data, _ = dataset
    backend = SimRobotBackend("button", realtime=False)
    backend.connect()
    try:
        camera = SimCamera(backend, "scene", width=64, height=48)
        truth_k, truth_T = camera.intrinsics(), camera.pose_in_base()
    finally:
        backend.close()
    episodes = sorted(p for p in data.iterdir() if p.name.startswith("episode_"))
    assert episodes
    for ep in episodes:
        k, T = episode_calibration(ep, "kinect")
        assert k == truth_k
        np.testing.assert_allclose(T, truth_T, atol=1e-9)
        assert episode_calibration(ep, "wrist") is None
