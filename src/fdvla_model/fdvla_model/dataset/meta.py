"""The dataset's on-disk layout: file names, meta.json (DatasetMeta), creating and opening a
dataset, and listing its finished episodes."""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Sequence

from fdvla_model.action_space import ACTION_NAMES, STATE_NAMES, WRENCH_NAMES

FORMAT_NAME = "fdvla-episodes"
FORMAT_VERSION = 1
META_FILE = "meta.json"
#: A trained policy keeps its dataset's meta.json under this name (fps, camera sizes).
POLICY_DATASET_META = "dataset_meta.json"
EPISODE_FILE = "episode.json"
LOWDIM_FILE = "lowdim.safetensors"
EPISODE_PREFIX = "episode_"
PARTIAL_SUFFIX = ".partial"
#: Optional beside <camera>.npy: <camera>.mask.npy, bool (T, H, W), True on the pixels of the
#: robot, tool and task objects (a simulated camera's segmentation): semantic augmentation.
MASK_SUFFIX = ".mask.npy"
DEFAULT_CAMERAS = ("kinect", "wrist")
_EPISODE_DIR_RE = re.compile(r"^episode_(\d{6,})$")
_ANY_EPISODE_DIR_RE = re.compile(r"^episode_(\d{6,})(\.partial)?$")


class DatasetError(ValueError):
    """The dataset on disk is missing, malformed or does not fit what was asked of it."""


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


def link_or_copy(src: Path, dst: Path) -> None:
    """A derived dataset shares its source's (large, never rewritten) files: a hard link where
    the file system allows, a copy otherwise."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
