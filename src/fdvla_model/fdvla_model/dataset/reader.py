"""Reading one finished episode: its episode.json (validated against meta.json), its
low-dimensional arrays and its memory-mapped camera frames."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from safetensors.numpy import load_file as load_safetensors

from .meta import EPISODE_FILE, LOWDIM_FILE, MASK_SUFFIX, META_FILE, DatasetError, DatasetMeta


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
        mask = path / f"{cam.name}{MASK_SUFFIX}"
        if mask.is_file():
            shape, dtype = _npy_shape(mask)
            if shape != (info.length, cam.height, cam.width) or dtype != np.bool_:
                raise DatasetError(f"{mask}: {dtype} {shape}, expected bool "
                                   f"{(info.length, cam.height, cam.width)}")
    if info.length == 0:
        raise DatasetError(f"{path} is an empty episode")
    return info


def load_episode_arrays(path) -> dict:
    """The low-dimensional arrays of one episode (timestamp, state, action, wrench)."""
    return load_safetensors(str(Path(path) / LOWDIM_FILE))


def load_episode_images(path, camera: str) -> np.ndarray:
    """Memory-mapped uint8 (T, H, W, 3) frames of one camera."""
    return np.load(Path(path) / f"{camera}.npy", mmap_mode="r", allow_pickle=False)


def load_episode_masks(path, camera: str) -> Optional[np.ndarray]:
    """Memory-mapped bool (T, H, W) foreground masks of one camera, or None if not recorded."""
    file = Path(path) / f"{camera}{MASK_SUFFIX}"
    if not file.is_file():
        return None
    return np.load(file, mmap_mode="r", allow_pickle=False)
