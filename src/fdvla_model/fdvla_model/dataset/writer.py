"""Writing one episode frame by frame, crash-safe (EpisodeWriter)."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path
from typing import Mapping, Optional

import numpy as np
from safetensors.numpy import save_file as save_safetensors

from .meta import (
    _ANY_EPISODE_DIR_RE,
    EPISODE_FILE,
    EPISODE_PREFIX,
    LOWDIM_FILE,
    MASK_SUFFIX,
    PARTIAL_SUFFIX,
    DatasetError,
    load_meta,
)


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
        self._masks: Optional[dict] = None  # camera -> mask writer, from the first append
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

    def append(self, timestamp: float, state, action, wrench, images: Mapping[str, np.ndarray],
               masks: Optional[Mapping[str, np.ndarray]] = None) -> None:
        """One frame. `masks` (optional, the same cameras on every frame of an episode): bool
        (H, W) foreground masks, stored as <camera>.mask.npy."""
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
        masks = dict(masks or {})
        if self._masks is None:
            unknown = sorted(set(masks) - set(self._frames))
            if unknown:
                raise ValueError(f"masks for cameras {unknown} the dataset does not have")
            self._masks = {name: _NpyFrameWriter(self.tmp_dir / f"{name}{MASK_SUFFIX}",
                                                 self._frames[name].frame_shape[:2], dtype=bool)
                           for name in masks}
        elif set(masks) != set(self._masks):
            raise ValueError(f"masks for cameras {sorted(masks)}, but this episode started with "
                             f"{sorted(self._masks)}")
        for name, frame in images.items():
            self._frames[name].append(np.asarray(frame))
        for name, mask in masks.items():
            self._masks[name].append(np.asarray(mask, dtype=bool))
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
        for w in [*self._frames.values(), *(self._masks or {}).values()]:
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
        for w in [*self._frames.values(), *(self._masks or {}).values()]:
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
