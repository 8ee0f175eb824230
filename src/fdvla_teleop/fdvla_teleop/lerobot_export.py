"""`fdvla dataset export-lerobot`: our episode dataset -> a LeRobotDataset, format v3.0.

Layout written (all episodes in one file per kind, as lerobot does for small datasets):
  meta/info.json                                   codebase_version "v3.0", features, paths
  meta/stats.json                                  per feature: min, max, mean, std, count
  meta/tasks.parquet                               task_index, indexed by the task text
  meta/episodes/chunk-000/file-000.parquet         one row per episode: length, tasks, row
                                                   range, video time range per camera, stats
  data/chunk-000/file-000.parquet                  one row per frame
  videos/observation.images.<cam>/chunk-000/file-000.mp4   H.264, yuv420p, all episodes
Features: observation.state (15), action (9), observation.force (6, the measured wrench; NaN
rows for sensorless episodes), observation.images.<camera> (video), and lerobot's timestamp,
frame_index, episode_index, index, task_index. Written with pyarrow and PyAV (libx264).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"
EPISODES_PATH = "meta/episodes/" + CHUNK_FILE + ".parquet"


def _stats(x: np.ndarray) -> dict:
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        return {"min": np.nanmin(x, axis=0).tolist(), "max": np.nanmax(x, axis=0).tolist(),
                "mean": np.nanmean(x, axis=0).tolist(), "std": np.nanstd(x, axis=0).tolist(),
                "count": [int(len(x))]}


def _image_stats(frames: np.ndarray) -> dict:
    """Per-channel stats in [0, 1], shaped (3, 1, 1) as lerobot stores image stats."""
    x = frames.reshape(-1, 3).astype(np.float64) / 255.0
    s = _stats(x)
    return {k: (np.asarray(v).reshape(3, 1, 1).tolist() if k != "count" else v)
            for k, v in s.items()}


def _encode_video(path: Path, episodes_frames, fps: int, crf: int = 23) -> None:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    first = next(iter(episodes_frames))
    h, w = first.shape[1:3]
    if h % 2 or w % 2:
        raise ValueError(f"video frames must have even sizes for yuv420p, got {w}x{h}")
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "g": "2"}
        for frames in episodes_frames:
            for f in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f),
                                                                       format="rgb24")):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def export_lerobot(dataset, out, robot_type: str = "ur5e", progress: bool = True) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tqdm import tqdm

    from fdvla_model.dataset import episode_dirs, load_episode_arrays, load_meta

    dataset, out = Path(dataset), Path(out)
    meta = load_meta(dataset)
    fps = meta.fps
    if abs(fps - round(fps)) > 1e-9:
        raise ValueError(f"LeRobotDataset needs an integer fps; {dataset} has {fps}")
    fps = int(round(fps))
    eps = episode_dirs(dataset)
    if not eps:
        raise ValueError(f"{dataset} holds no episodes")
    if (out / "meta" / "info.json").exists():
        raise FileExistsError(f"{out} already holds a LeRobot dataset")
    cams = meta.camera_names
    tasks: dict[str, int] = {}
    cols = {k: [] for k in ("observation.state", "action", "observation.force", "timestamp",
                            "frame_index", "episode_index", "index", "task_index")}
    ep_rows = []
    frames = {c: [] for c in cams}
    offset = 0
    for e, ep_dir in enumerate(tqdm(eps, desc="export-lerobot", unit="ep", disable=not progress)):
        info = json.loads((ep_dir / "episode.json").read_text())
        arr = load_episode_arrays(ep_dir)
        n = len(arr["timestamp"])
        task = info.get("instruction") or info.get("task") or ""
        ti = tasks.setdefault(task, len(tasks))
        cols["observation.state"].append(arr["state"].astype(np.float32))
        cols["action"].append(arr["action"].astype(np.float32))
        cols["observation.force"].append(arr["wrench"].astype(np.float32))
        cols["timestamp"].append((np.arange(n) / fps).astype(np.float32))
        cols["frame_index"].append(np.arange(n, dtype=np.int64))
        cols["episode_index"].append(np.full(n, e, dtype=np.int64))
        cols["index"].append(np.arange(offset, offset + n, dtype=np.int64))
        cols["task_index"].append(np.full(n, ti, dtype=np.int64))
        row = {"episode_index": e, "tasks": [task], "length": n,
               "data/chunk_index": 0, "data/file_index": 0,
               "dataset_from_index": offset, "dataset_to_index": offset + n}
        t_video = offset / fps
        for c in cams:
            imgs = np.load(ep_dir / f"{c}.npy")
            frames[c].append(imgs)
            key = f"observation.images.{c}"
            row.update({f"videos/{key}/chunk_index": 0, f"videos/{key}/file_index": 0,
                        f"videos/{key}/from_timestamp": t_video,
                        f"videos/{key}/to_timestamp": t_video + n / fps})
        for name, x in (("observation.state", arr["state"]), ("action", arr["action"]),
                        ("observation.force", arr["wrench"])):
            for k, v in _stats(x).items():
                row[f"stats/{name}/{k}"] = v
        row.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0})
        ep_rows.append(row)
        offset += n

    # data
    data = {k: np.concatenate(v) for k, v in cols.items()}
    table = pa.table({
        **{k: pa.FixedSizeListArray.from_arrays(pa.array(data[k].reshape(-1)), data[k].shape[1])
           for k in ("observation.state", "action", "observation.force")},
        **{k: pa.array(data[k]) for k in ("timestamp", "frame_index", "episode_index", "index",
                                          "task_index")}})
    path = out / DATA_PATH.format(chunk_index=0, file_index=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    # videos
    for c in cams:
        _encode_video(out / VIDEO_PATH.format(video_key=f"observation.images.{c}",
                                              chunk_index=0, file_index=0), frames[c], fps)
    # episodes
    path = out / EPISODES_PATH.format(chunk_index=0, file_index=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(ep_rows), path)
    # tasks: a pandas-style frame (index = the task text), as lerobot writes it
    names = list(tasks)
    t = pa.table({"task_index": pa.array([tasks[n] for n in names], pa.int64()),
                  "task": pa.array(names, pa.string())})
    pandas_meta = {"index_columns": ["task"], "column_indexes": [],
                   "columns": [{"name": "task_index", "field_name": "task_index",
                                "pandas_type": "int64", "numpy_type": "int64", "metadata": None},
                               {"name": "task", "field_name": "task", "pandas_type": "unicode",
                                "numpy_type": "object", "metadata": None}],
                   "creator": {"library": "pyarrow", "version": pa.__version__},
                   "pandas_version": "2.2.3"}
    t = t.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})
    pq.write_table(t, out / "meta" / "tasks.parquet")
    # stats
    stats = {k: _stats(data[k]) for k in ("observation.state", "action", "observation.force",
                                          "timestamp", "frame_index", "episode_index", "index",
                                          "task_index")}
    for c in cams:
        stats[f"observation.images.{c}"] = _image_stats(np.concatenate(frames[c]))
    (out / "meta" / "stats.json").write_text(json.dumps(stats, indent=2))
    # info
    vec = lambda names: {"dtype": "float32", "shape": [len(names)], "names": list(names)}  # noqa
    features = {"observation.state": vec(meta.state_names), "action": vec(meta.action_names),
                "observation.force": vec(meta.wrench_names)}
    for cam in meta.cameras:
        features[f"observation.images.{cam.name}"] = {
            "dtype": "video", "shape": [cam.height, cam.width, 3],
            "names": ["height", "width", "channels"],
            "info": {"video.height": cam.height, "video.width": cam.width,
                     "video.codec": "h264", "video.pix_fmt": "yuv420p",
                     "video.is_depth_map": False, "video.fps": fps, "video.channels": 3,
                     "has_audio": False}}
    for k, dt in (("timestamp", "float32"), ("frame_index", "int64"), ("episode_index", "int64"),
                  ("index", "int64"), ("task_index", "int64")):
        features[k] = {"dtype": dt, "shape": [1], "names": None}
    info = {"codebase_version": "v3.0", "robot_type": robot_type,
            "total_episodes": len(eps), "total_frames": int(offset), "total_tasks": len(tasks),
            "chunks_size": 1000, "data_files_size_in_mb": 100, "video_files_size_in_mb": 500,
            "fps": fps, "splits": {"train": f"0:{len(eps)}"}, "data_path": DATA_PATH,
            "video_path": VIDEO_PATH, "features": features}
    (out / "meta" / "info.json").write_text(json.dumps(info, indent=4))
    return out
