"""The on-disk episode dataset: writer, reader (torch Dataset), statistics, synthetic data.

Layout (format version 1; docs/dataset.md is the reference):

    DATASET/
      meta.json                    format, version, fps, cameras + image shapes, field names
      episode_000000/
        episode.json               instruction, task, length, success, extra
        lowdim.safetensors         timestamp (T,) f64, state (T,S) f32, action (T,A) f32,
                                   wrench (T,6) f32 (NaN rows where no sensor was present)
        <camera>.npy               uint8 (T,H,W,3) RGB, one per camera in meta.json
      episode_000001/ ...

Why this shape: every file is a format numpy/safetensors read without our code, images are
plain .npy so `np.load(mmap_mode="r")` pages in only the frames a sample touches (no decoder in
the data loader, no pickle), and one folder per episode lets a recorder append episodes while
a reader skips the ones still being written. An episode is written under
`episode_NNNNNN.partial/` and renamed when it is closed, so a crash never leaves a half episode
that a reader would take for a whole one.

Row t of every array is one control step: the observation (images, state, wrench) sampled at
timestamp[t] and the action commanded at that step (the target TCP pose to reach next).
"""

from __future__ import annotations

import bisect
import json
import os
import re
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np
from safetensors.numpy import load_file as load_safetensors
from safetensors.numpy import save_file as save_safetensors
from scipy.spatial.transform import Rotation

from fdvla_policy_node.action_space import (
    ACTION_NAMES,
    STATE_NAMES,
    WRENCH_NAMES,
    poses_to_vectors,
)

FORMAT_NAME = "fdvla-episodes"
FORMAT_VERSION = 1
META_FILE = "meta.json"
EPISODE_FILE = "episode.json"
LOWDIM_FILE = "lowdim.safetensors"
EPISODE_PREFIX = "episode_"
PARTIAL_SUFFIX = ".partial"
DEFAULT_CAMERAS = ("kinect", "wrist")
# Below this a dimension counts as constant in the normalisation statistics.
MIN_STD = 1e-6
_EPISODE_DIR_RE = re.compile(r"^episode_(\d{6,})$")
_ANY_EPISODE_DIR_RE = re.compile(r"^episode_(\d{6,})(\.partial)?$")


class DatasetError(ValueError):
    """The dataset on disk is missing, malformed or does not fit what was asked of it."""


# --------------------------------------------------------------------------------------------
# meta.json


@dataclass(frozen=True)
class CameraSpec:
    name: str
    height: int
    width: int


@dataclass(frozen=True)
class DatasetMeta:
    fps: float
    cameras: tuple  # CameraSpec, in a fixed order
    state_names: tuple = STATE_NAMES
    action_names: tuple = ACTION_NAMES
    wrench_names: tuple = WRENCH_NAMES
    version: int = FORMAT_VERSION
    extra: dict = field(default_factory=dict)  # free-form: robot, sim/real, builder version...

    @property
    def camera_names(self) -> tuple:
        return tuple(c.name for c in self.cameras)

    @property
    def state_dim(self) -> int:
        return len(self.state_names)

    @property
    def action_dim(self) -> int:
        return len(self.action_names)

    @property
    def wrench_dim(self) -> int:
        return len(self.wrench_names)

    def camera(self, name: str) -> CameraSpec:
        for c in self.cameras:
            if c.name == name:
                return c
        raise DatasetError(f"camera {name!r} is not in this dataset (has {self.camera_names})")

    def to_json(self) -> dict:
        return {
            "format": FORMAT_NAME,
            "version": self.version,
            "fps": self.fps,
            "cameras": {c.name: {"height": c.height, "width": c.width, "channels": 3,
                                 "dtype": "uint8", "encoding": "rgb"} for c in self.cameras},
            "state": {"dim": self.state_dim, "names": list(self.state_names)},
            "action": {"dim": self.action_dim, "names": list(self.action_names)},
            "wrench": {"dim": self.wrench_dim, "names": list(self.wrench_names)},
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, d: dict) -> "DatasetMeta":
        if d.get("format") != FORMAT_NAME:
            raise DatasetError(f"not an {FORMAT_NAME} dataset (format={d.get('format')!r})")
        if int(d.get("version", -1)) != FORMAT_VERSION:
            raise DatasetError(f"dataset format version {d.get('version')} is not supported "
                               f"(this code reads version {FORMAT_VERSION})")
        try:
            cams = tuple(CameraSpec(name, int(c["height"]), int(c["width"]))
                         for name, c in d["cameras"].items())
            meta = cls(fps=float(d["fps"]), cameras=cams,
                       state_names=tuple(d["state"]["names"]),
                       action_names=tuple(d["action"]["names"]),
                       wrench_names=tuple(d["wrench"]["names"]),
                       version=int(d["version"]), extra=dict(d.get("extra", {})))
        except (KeyError, TypeError) as e:
            raise DatasetError(f"{META_FILE} is missing a field: {e}") from e
        for key, names in (("state", meta.state_names), ("action", meta.action_names),
                           ("wrench", meta.wrench_names)):
            if int(d[key].get("dim", len(names))) != len(names):
                raise DatasetError(f"{META_FILE}: {key}.dim does not match its names")
        return meta


def _write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def create_dataset(root, fps: float, cameras: Mapping[str, Sequence[int]], *,
                   state_names: Sequence[str] = STATE_NAMES,
                   action_names: Sequence[str] = ACTION_NAMES,
                   wrench_names: Sequence[str] = WRENCH_NAMES,
                   extra: Optional[dict] = None) -> DatasetMeta:
    """Create DATASET/meta.json (cameras: name -> (height, width)).

    Opening an existing dataset with an identical description is allowed, so several recording
    sessions can append episodes to one dataset; a different description is an error.
    """
    root = Path(root)
    meta = DatasetMeta(fps=float(fps),
                       cameras=tuple(CameraSpec(n, int(h), int(w)) for n, (h, w) in cameras.items()),
                       state_names=tuple(state_names), action_names=tuple(action_names),
                       wrench_names=tuple(wrench_names), extra=dict(extra or {}))
    if not meta.cameras:
        raise DatasetError("a dataset needs at least one camera")
    meta_path = root / META_FILE
    if meta_path.exists():
        existing = load_meta(root)
        if (existing.fps, existing.cameras, existing.state_names, existing.action_names,
                existing.wrench_names) != (meta.fps, meta.cameras, meta.state_names,
                                           meta.action_names, meta.wrench_names):
            raise DatasetError(f"{root} already holds a dataset with a different description")
        return existing
    root.mkdir(parents=True, exist_ok=True)
    _write_json_atomic(meta_path, meta.to_json())
    return meta


def load_meta(root) -> DatasetMeta:
    path = Path(root) / META_FILE
    if not path.is_file():
        raise DatasetError(f"{path} not found: not a dataset directory")
    try:
        d = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path} is not valid JSON: {e}") from e
    return DatasetMeta.from_json(d)


def episode_dirs(root) -> list:
    """Finished episode folders, in index order (partial ones are skipped)."""
    root = Path(root)
    found = [p for p in root.iterdir() if p.is_dir() and _EPISODE_DIR_RE.match(p.name)]
    return sorted(found, key=lambda p: int(_EPISODE_DIR_RE.match(p.name).group(1)))


# --------------------------------------------------------------------------------------------
# writing


class _NpyFrameWriter:
    """Appends fixed-shape frames to a .npy file whose header is filled in on close.

    The header gets a fixed 128-byte slot (the .npy v1.0 format lets it be padded with spaces),
    so frames stream straight to disk and nothing is copied at the end.
    """

    HEADER_BYTES = 128

    def __init__(self, path: Path, frame_shape: tuple, dtype=np.uint8):
        self.path = path
        self.frame_shape = tuple(frame_shape)
        self.dtype = np.dtype(dtype)
        self.count = 0
        self._file = open(path, "wb")
        self._file.write(b"\0" * self.HEADER_BYTES)

    def append(self, frame: np.ndarray) -> None:
        frame = np.ascontiguousarray(frame)
        if frame.shape != self.frame_shape or frame.dtype != self.dtype:
            raise ValueError(f"{self.path.stem}: expected a {self.dtype} frame of shape "
                             f"{self.frame_shape}, got {frame.dtype} {frame.shape}")
        self._file.write(frame.tobytes())
        self.count += 1

    def close(self) -> None:
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": (self.count, *self.frame_shape)}
        text = repr(header).encode("latin1")
        preamble_len = len(np.lib.format.MAGIC_PREFIX) + 2 + 2
        body_len = self.HEADER_BYTES - preamble_len
        if len(text) + 1 > body_len:
            raise ValueError("npy header does not fit its slot")
        body = text + b" " * (body_len - len(text) - 1) + b"\n"
        self._file.seek(0)
        self._file.write(np.lib.format.MAGIC_PREFIX + bytes([1, 0]) + struct.pack("<H", body_len))
        self._file.write(body)
        self._file.close()

    def abort(self) -> None:
        self._file.close()


class EpisodeWriter:
    """Writes one episode frame by frame; crash-safe (temp folder renamed on close).

        with EpisodeWriter(root, instruction="press the red button", task="press_button") as ep:
            for ...:
                ep.append(timestamp, state, action, wrench, {"kinect": rgb, "wrist": rgb})
            ep.success = True
        # leaving the block with an exception discards the episode

    `create_dataset` must have written meta.json first. wrench=None records a NaN row (a setup
    without a force sensor); variants that train on force refuse such episodes.
    """

    def __init__(self, root, instruction: str, task: str = "", *,
                 episode_index: Optional[int] = None, extra: Optional[dict] = None):
        self.root = Path(root)
        self.meta = load_meta(self.root)
        self.instruction = str(instruction)
        self.task = str(task)
        self.extra = dict(extra or {})
        self.success: Optional[bool] = None
        self.index, self.tmp_dir = self._claim_folder(episode_index)
        self._timestamps: list = []
        self._states: list = []
        self._actions: list = []
        self._wrenches: list = []
        self._frames = {c.name: _NpyFrameWriter(self.tmp_dir / f"{c.name}.npy", (c.height, c.width, 3))
                        for c in self.meta.cameras}
        self._open = True

    def _claim_folder(self, wanted: Optional[int]):
        # os.mkdir is atomic, so two writers in one dataset never share an index.
        if wanted is not None:
            final = self.root / f"{EPISODE_PREFIX}{wanted:06d}"
            tmp = final.with_name(final.name + PARTIAL_SUFFIX)
            if final.exists():
                raise FileExistsError(f"{final} already exists")
            tmp.mkdir()
            return wanted, tmp
        taken = [int(m.group(1)) for m in (_ANY_EPISODE_DIR_RE.match(p.name) for p in self.root.iterdir())
                 if m]
        index = max(taken, default=-1) + 1
        while True:
            tmp = self.root / f"{EPISODE_PREFIX}{index:06d}{PARTIAL_SUFFIX}"
            try:
                tmp.mkdir()
            except FileExistsError:
                index += 1
                continue
            if (self.root / f"{EPISODE_PREFIX}{index:06d}").exists():
                tmp.rmdir()
                index += 1
                continue
            return index, tmp

    def __len__(self) -> int:
        return len(self._timestamps)

    def append(self, timestamp: float, state, action, wrench, images: Mapping[str, np.ndarray]) -> None:
        if not self._open:
            raise RuntimeError("episode already closed")
        m = self.meta
        state = np.asarray(state, dtype=np.float32).reshape(-1)
        action = np.asarray(action, dtype=np.float32).reshape(-1)
        wrench = (np.full(m.wrench_dim, np.nan, dtype=np.float32) if wrench is None
                  else np.asarray(wrench, dtype=np.float32).reshape(-1))
        for name, v, dim in (("state", state, m.state_dim), ("action", action, m.action_dim),
                             ("wrench", wrench, m.wrench_dim)):
            if v.shape != (dim,):
                raise ValueError(f"{name} must have {dim} elements, got {v.shape}")
        if set(images) != set(self._frames):
            raise ValueError(f"images for cameras {sorted(images)} but the dataset has {sorted(self._frames)}")
        if self._timestamps and timestamp <= self._timestamps[-1]:
            raise ValueError(f"timestamps must increase ({timestamp} after {self._timestamps[-1]})")
        for name, frame in images.items():
            self._frames[name].append(np.asarray(frame))
        self._timestamps.append(float(timestamp))
        self._states.append(state)
        self._actions.append(action)
        self._wrenches.append(wrench)

    def close(self, success: Optional[bool] = None) -> Path:
        """Finish the episode; returns its final folder."""
        if not self._open:
            raise RuntimeError("episode already closed")
        if success is not None:
            self.success = bool(success)
        if not self._timestamps:
            self.discard()
            raise DatasetError("refusing to write an empty episode")
        for w in self._frames.values():
            w.close()
        save_safetensors({
            "timestamp": np.asarray(self._timestamps, dtype=np.float64),
            "state": np.stack(self._states),
            "action": np.stack(self._actions),
            "wrench": np.stack(self._wrenches),
        }, str(self.tmp_dir / LOWDIM_FILE))
        info = {"index": self.index, "instruction": self.instruction, "task": self.task,
                "length": len(self._timestamps), "success": self.success, "extra": self.extra}
        (self.tmp_dir / EPISODE_FILE).write_text(json.dumps(info, indent=2) + "\n")
        final = self.root / f"{EPISODE_PREFIX}{self.index:06d}"
        os.rename(self.tmp_dir, final)
        self._open = False
        return final

    def discard(self) -> None:
        if not self._open:
            return
        for w in self._frames.values():
            w.abort()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self._open = False

    def __enter__(self) -> "EpisodeWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.discard()
        elif self._open:
            self.close()


# --------------------------------------------------------------------------------------------
# reading


@dataclass(frozen=True)
class EpisodeInfo:
    path: Path
    index: int
    instruction: str
    task: str
    length: int
    success: Optional[bool]


def _npy_shape(path: Path) -> tuple:
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        shape, _, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                           else np.lib.format.read_array_header_2_0(f))
    return shape, dtype


def _load_episode_info(path: Path, meta: DatasetMeta) -> EpisodeInfo:
    ep_file = path / EPISODE_FILE
    if not ep_file.is_file():
        raise DatasetError(f"{ep_file} is missing")
    try:
        d = json.loads(ep_file.read_text())
        info = EpisodeInfo(path, int(d["index"]), str(d["instruction"]), str(d.get("task", "")),
                           int(d["length"]), d.get("success"))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise DatasetError(f"{ep_file} is malformed: {e}") from e
    lowdim_path = path / LOWDIM_FILE
    if not lowdim_path.is_file():
        raise DatasetError(f"{lowdim_path} is missing")
    lowdim = load_safetensors(str(lowdim_path))
    expected = {"timestamp": (info.length,), "state": (info.length, meta.state_dim),
                "action": (info.length, meta.action_dim), "wrench": (info.length, meta.wrench_dim)}
    for key, shape in expected.items():
        if key not in lowdim:
            raise DatasetError(f"{lowdim_path} has no {key!r} array")
        if lowdim[key].shape != shape:
            raise DatasetError(f"{lowdim_path}: {key} has shape {lowdim[key].shape}, expected {shape} "
                               f"(episode length {info.length}, dims from {META_FILE})")
    for cam in meta.cameras:
        npy = path / f"{cam.name}.npy"
        if not npy.is_file():
            raise DatasetError(f"{npy} is missing (camera {cam.name!r} is listed in {META_FILE})")
        shape, dtype = _npy_shape(npy)
        if shape != (info.length, cam.height, cam.width, 3) or dtype != np.uint8:
            raise DatasetError(f"{npy}: {dtype} {shape}, expected uint8 "
                               f"{(info.length, cam.height, cam.width, 3)}")
    if info.length == 0:
        raise DatasetError(f"{path} is an empty episode")
    return info


def load_episode_arrays(path) -> dict:
    """The low-dimensional arrays of one episode (timestamp, state, action, wrench)."""
    return load_safetensors(str(Path(path) / LOWDIM_FILE))


def load_episode_images(path, camera: str) -> np.ndarray:
    """Memory-mapped uint8 (T, H, W, 3) frames of one camera."""
    return np.load(Path(path) / f"{camera}.npy", mmap_mode="r", allow_pickle=False)


class EpisodeDataset:
    """Training samples from an episode dataset; a map-style torch Dataset.

    Sample i is frame t of some episode:
      images[cam]   float32 (3, H, W) in [0, 1]
      state         float32 (S,)          at t
      wrench        float32 (6,)          at t (NaN if the episode has no force sensor)
      actions       float32 (chunk, A)    actions[t : t+chunk], padded with the last action
      action_is_pad bool    (chunk,)      True on the padded rows
      task          str                   the episode's instruction
      episode_index, frame_index  int

    torch's default collate turns a list of these into the batch FDVLAPolicy.compute_loss takes.
    With images_as_uint8=True images stay uint8 (3, H, W); `images_to_float` converts them later
    (on the GPU, in training).
    Arrays are opened lazily per process, so DataLoader workers each hold their own mmaps.
    """

    def __init__(self, root, chunk_size: int, *, camera_names: Optional[Sequence[str]] = None,
                 episodes: Optional[Iterable[int]] = None, images_as_uint8: bool = False):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"dataset directory {self.root} does not exist")
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self.meta = load_meta(self.root)
        self.chunk_size = int(chunk_size)
        # uint8 keeps DataLoader worker -> trainer traffic 4x smaller; see images_to_float
        self.images_as_uint8 = bool(images_as_uint8)
        self.camera_names = tuple(camera_names) if camera_names is not None else self.meta.camera_names
        for name in self.camera_names:
            self.meta.camera(name)  # raises for an unknown camera
        dirs = episode_dirs(self.root)
        if episodes is not None:
            wanted = set(int(e) for e in episodes)
            dirs = [d for d in dirs if int(_EPISODE_DIR_RE.match(d.name).group(1)) in wanted]
        self.episodes = [_load_episode_info(d, self.meta) for d in dirs]
        if not self.episodes:
            raise DatasetError(f"{self.root} holds no finished episodes")
        self._starts = np.cumsum([0] + [e.length for e in self.episodes]).tolist()
        self._lowdim: dict = {}
        self._images: dict = {}

    def __len__(self) -> int:
        return self._starts[-1]

    def locate(self, i: int) -> tuple:
        """Sample index -> (position in self.episodes, frame index)."""
        if not 0 <= i < len(self):
            raise IndexError(i)
        k = bisect.bisect_right(self._starts, i) - 1
        return k, i - self._starts[k]

    def _arrays(self, k: int) -> dict:
        if k not in self._lowdim:
            self._lowdim[k] = load_episode_arrays(self.episodes[k].path)
        return self._lowdim[k]

    def _frames(self, k: int, cam: str) -> np.ndarray:
        key = (k, cam)
        if key not in self._images:
            self._images[key] = load_episode_images(self.episodes[k].path, cam)
        return self._images[key]

    def measured_wrench_fraction(self) -> float:
        """Share of frames with a measured (finite) wrench."""
        measured = sum(int(np.isfinite(self._arrays(k)["wrench"]).all(axis=1).sum())
                       for k in range(len(self.episodes)))
        return measured / len(self)

    def has_force(self) -> bool:
        """True when every frame of every episode has a measured wrench."""
        return self.measured_wrench_fraction() == 1.0

    def __getitem__(self, i: int) -> dict:
        import torch

        k, t = self.locate(int(i))
        ep = self.episodes[k]
        arrays = self._arrays(k)
        end = min(t + self.chunk_size, ep.length)
        actions = np.empty((self.chunk_size, self.meta.action_dim), dtype=np.float32)
        actions[: end - t] = arrays["action"][t:end]
        actions[end - t:] = arrays["action"][ep.length - 1]
        is_pad = np.zeros(self.chunk_size, dtype=bool)
        is_pad[end - t:] = True
        images = {}
        for cam in self.camera_names:
            frame = torch.from_numpy(np.array(self._frames(k, cam)[t])).permute(2, 0, 1)  # copy out of the mmap
            images[cam] = frame.contiguous() if self.images_as_uint8 else images_to_float(frame)
        return {
            "images": images,
            "state": torch.from_numpy(arrays["state"][t].astype(np.float32)),
            "wrench": torch.from_numpy(arrays["wrench"][t].astype(np.float32)),
            "actions": torch.from_numpy(actions),
            "action_is_pad": torch.from_numpy(is_pad),
            "task": ep.instruction,
            "episode_index": ep.index,
            "frame_index": t,
        }


def images_to_float(images):
    """uint8 image tensor(s) (..., 3, H, W) -> float32 in [0, 1], on the tensor's device."""
    import torch

    return images.to(torch.float32).div_(255.0) if images.dtype == torch.uint8 else images


# --------------------------------------------------------------------------------------------
# statistics


class _RunningMoments:
    """Mean/variance/min/max merged chunk by chunk (Chan et al.'s parallel update), float64."""

    def __init__(self, dim: int):
        self.n = 0
        self.mean = np.zeros(dim)
        self.m2 = np.zeros(dim)
        self.min = np.full(dim, np.inf)
        self.max = np.full(dim, -np.inf)

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        x = x[np.isfinite(x).all(axis=1)]
        if len(x) == 0:
            return
        n_b = len(x)
        mean_b = x.mean(axis=0)
        m2_b = ((x - mean_b) ** 2).sum(axis=0)
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + delta ** 2 * (self.n * n_b / n)
        self.n = n
        self.min = np.minimum(self.min, x.min(axis=0))
        self.max = np.maximum(self.max, x.max(axis=0))

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / max(self.n, 1))


def compute_dataset_moments(root, episodes: Optional[Iterable[int]] = None) -> dict:
    """Streaming mean/std/min/max of state, action and wrench over every frame of the dataset.

    Returns {"state"|"action"|"wrench": {"mean", "std", "min", "max", "count"}} as float64
    numpy arrays; frames whose wrench is NaN (no sensor) are left out of the wrench moments.
    """
    meta = load_meta(root)
    dirs = episode_dirs(root)
    if episodes is not None:
        wanted = set(int(e) for e in episodes)
        dirs = [d for d in dirs if int(_EPISODE_DIR_RE.match(d.name).group(1)) in wanted]
    if not dirs:
        raise DatasetError(f"{root} holds no finished episodes")
    moments = {"state": _RunningMoments(meta.state_dim), "action": _RunningMoments(meta.action_dim),
               "wrench": _RunningMoments(meta.wrench_dim)}
    for d in dirs:
        arrays = load_episode_arrays(d)
        for key, m in moments.items():
            m.update(arrays[key])
    return {key: {"mean": m.mean, "std": m.std, "min": m.min, "max": m.max, "count": m.n}
            for key, m in moments.items()}


def compute_normalization_stats(root, episodes: Optional[Iterable[int]] = None):
    """Dataset moments as the model's NormalizationStats (MEAN_STD normalisation).

    A dimension that never changes (std below MIN_STD, e.g. a torque axis the contact cannot
    excite) gets std 1: it is only centred, instead of having float noise blown up by 1/eps.
    Without any measured wrench the wrench statistics are left out (None).
    """
    from fdvla_policy_node.model.normalize import NormalizationStats

    m = compute_dataset_moments(root, episodes)

    def std(key):
        s = m[key]["std"].copy()
        s[s < MIN_STD] = 1.0
        return s.astype(np.float32)

    has_wrench = m["wrench"]["count"] > 0
    return NormalizationStats(
        state_mean=m["state"]["mean"].astype(np.float32), state_std=std("state"),
        action_mean=m["action"]["mean"].astype(np.float32), action_std=std("action"),
        wrench_mean=m["wrench"]["mean"].astype(np.float32) if has_wrench else None,
        wrench_std=std("wrench") if has_wrench else None,
    )



# --------------------------------------------------------------------------------------------
# synthetic data


@dataclass(frozen=True)
class SyntheticSurface:
    """A horizontal contact surface the synthetic TCP presses into (a spring, N/m)."""

    height: float = 0.20
    stiffness: float = 1500.0
    friction: float = 0.3


def _synthetic_trajectory(rng: np.random.Generator, length: int, fps: float, surface: SyntheticSurface):
    """Smooth TCP path that dips below the surface part of the time, with its joint angles."""
    t = np.arange(length + 1) / fps
    centre = np.array([0.45, 0.0, surface.height]) + rng.uniform([-0.05, -0.1, 0.0], [0.05, 0.1, 0.0])
    pos = np.repeat(centre[None], len(t), axis=0)
    for axis, amp in ((0, 0.06), (1, 0.06)):
        for _ in range(2):
            w = rng.uniform(0.3, 1.2)
            pos[:, axis] += amp / 2 * np.sin(2 * np.pi * w * t / 4 + rng.uniform(0, 2 * np.pi))
    # z: a slow dip through the surface so part of every episode is in contact
    pos[:, 2] += 0.025 * np.cos(2 * np.pi * t / (length / fps) + rng.uniform(0, 2 * np.pi)) + 0.005
    tool_down = Rotation.from_euler("x", np.pi)
    yaw = 0.3 * np.sin(2 * np.pi * t / (length / fps) * rng.uniform(0.5, 1.0) + rng.uniform(0, 2 * np.pi))
    tilt = 0.1 * np.sin(2 * np.pi * t / (length / fps) * rng.uniform(0.5, 1.0) + rng.uniform(0, 2 * np.pi))
    rot = Rotation.from_euler("zy", np.stack([yaw, tilt], axis=1)) * tool_down
    # joints: a fixed smooth (not kinematic) function of the pose, enough to be consistent
    mix = np.array([[2.0, 1.0, 0.0, 0.0, 0.0, 0.0],
                    [-1.0, 0.0, 3.0, 0.0, 0.0, 0.0],
                    [1.5, 0.0, -2.0, 0.0, 0.0, 0.0],
                    [0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
                    [0.0, 1.0, 0.0, 0.0, 1.0, 0.0],
                    [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]])
    features = np.concatenate([pos - centre, np.stack([yaw, tilt, yaw - tilt], axis=1)], axis=1)
    q = np.array([0.0, -1.57, 1.57, -1.57, -1.57, 0.0]) + features @ mix.T
    return t, pos, rot, q


def _synthetic_wrench(pos: np.ndarray, vel: np.ndarray, surface: SyntheticSurface) -> np.ndarray:
    """Spring contact normal force plus Coulomb-like friction opposing the sliding velocity."""
    depth = np.clip(surface.height - pos[:, 2], 0.0, None)
    fz = surface.stiffness * depth
    v_xy = vel[:, :2]
    speed = np.linalg.norm(v_xy, axis=1, keepdims=True)
    f_xy = -surface.friction * fz[:, None] * v_xy / np.sqrt(speed ** 2 + 1e-4)
    force = np.concatenate([f_xy, fz[:, None]], axis=1)
    lever = np.array([0.0, 0.0, -0.05])  # contact point 5 cm below the TCP
    torque = np.cross(lever, force)
    return np.concatenate([force, torque], axis=1)


def _render_blob(h: int, w: int, cy: np.ndarray, cx: np.ndarray, radius: float, color) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d2 = (yy - cy) ** 2 + (xx - cx) ** 2
    alpha = np.exp(-d2 / (2 * radius ** 2))[..., None]
    background = np.full((h, w, 3), 30, dtype=np.float32)
    img = background * (1 - alpha) + np.asarray(color, dtype=np.float32) * alpha
    return np.clip(img, 0, 255).astype(np.uint8)


def _render_synthetic_frames(pos, rot, wrench, image_sizes: dict, surface: SyntheticSurface) -> dict:
    """Scene camera: a dot at the TCP's xy, larger when higher, redder when pressing.
    Wrist camera: a dot that moves with the tool's yaw and height above the surface."""
    frames = {}
    fz = wrench[:, 2]
    yaw = rot.as_euler("zyx")[:, 0]
    for cam, (h, w) in image_sizes.items():
        out = np.empty((len(pos), h, w, 3), dtype=np.uint8)
        for i in range(len(pos)):
            red = 80 + min(175.0, 3.0 * fz[i])
            if cam == DEFAULT_CAMERAS[0] or not cam.startswith("wrist"):
                cx = (pos[i, 1] + 0.15) / 0.3 * (w - 1)
                cy = (pos[i, 0] - 0.35) / 0.2 * (h - 1)
                radius = max(1.5, (0.04 + pos[i, 2] - surface.height) * w * 1.5)
                out[i] = _render_blob(h, w, cy, cx, radius, (red, 200, 60))
            else:
                cx = (0.5 + 0.8 * np.sin(yaw[i] + np.pi) / 2) * (w - 1)
                cy = (0.5 + (pos[i, 2] - surface.height) / 0.06) * (h - 1)
                out[i] = _render_blob(h, w, cy, cx, w / 10, (red, 60, 220))
        frames[cam] = out
    return frames


def write_synthetic_dataset(root, *, episodes: int = 4, length: int = 40, fps: float = 10.0,
                            image_size: tuple = (64, 64),
                            cameras: Sequence[str] = DEFAULT_CAMERAS,
                            instructions: Sequence[str] = ("press the surface and slide along it",),
                            seed: int = 0, surface: SyntheticSurface = SyntheticSurface()) -> DatasetMeta:
    """A small dataset a model can learn, for tests and demos.

    The TCP follows a smooth random path that dips into a spring surface; the wrench is the
    contact force that path produces (so it is a function of the state and its velocity), the
    images show a dot that follows the pose and reddens under force, and the action at t is the
    pose at t+1. Deterministic for a given seed.
    """
    if episodes < 1 or length < 2:
        raise ValueError("need at least one episode of at least two frames")
    h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    meta = create_dataset(root, fps, {c: (h, w) for c in cameras},
                          extra={"synthetic": True, "seed": seed})
    rng = np.random.default_rng(seed)
    for e in range(episodes):
        t, pos, rot, q = _synthetic_trajectory(rng, length, fps, surface)
        vel = np.gradient(pos, t, axis=0)
        wrench = _synthetic_wrench(pos, vel, surface)
        pose_vectors = poses_to_vectors(pos, rot.as_quat())
        frames = _render_synthetic_frames(pos[:length], rot[:length], wrench[:length],
                                          {c: (h, w) for c in cameras}, surface)
        instruction = instructions[e % len(instructions)]
        with EpisodeWriter(root, instruction=instruction, task="synthetic",
                           extra={"synthetic": True}) as ep:
            for i in range(length):
                ep.append(float(t[i]), np.concatenate([pose_vectors[i], q[i]]), pose_vectors[i + 1],
                          wrench[i], {c: frames[c][i] for c in cameras})
            ep.success = True
    return meta
