"""A dataset's episodes in the frame of their task's target: the data a ViTaL local policy
trains on (docs/vital.md).

Each episode's state, action and wrench are expressed in `TargetFrame.from_label(label,
yaw_symmetry)` (fdvla_model.action_space), the label being the episode's target
(target_label.episode_target: recorded, or the TCP at first contact): positions relative to the
target, rotations and wrench axes turned by its symmetric yaw, joint angles zeroed. Camera frames are the same pixels, hard
linked where the file system allows (copied otherwise). meta.json's `extra.frame` records the
frame, which `fdvla train` writes into the checkpoint's configuration; episodes without a
target label (a sensorless recording without a recorded target) are skipped and counted.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file as save_safetensors

from fdvla_msgs.types import equivalent_yaw
from fdvla_model.action_space import TargetFrame
from .meta import (EPISODE_FILE, LOWDIM_FILE, MASK_SUFFIX, PARTIAL_SUFFIX, DatasetError, create_dataset,
                   episode_dirs, link_or_copy, load_meta)
from .reader import load_episode_arrays
from .target_label import episode_target

#: meta.json `extra` key naming the frame a dataset's vectors are in (absent: `base`).
FRAME_KEY = "frame"


@dataclass
class FrameReport:
    yaw_symmetry: int = 0
    written: int = 0
    skipped: list = field(default_factory=list)  # episode folder names without a target


def dataset_frame(meta) -> dict:
    """{"name": "base"|"target", "yaw_symmetry": k} of a dataset's meta."""
    frame = dict(meta.extra.get(FRAME_KEY) or {"name": "base"})
    frame.setdefault("yaw_symmetry", 0)
    return frame


def write_target_frame_dataset(src, dst, yaw_symmetry: int | None = None,
                               progress: bool = True, cameras=None) -> FrameReport:
    """Write `src`'s labelled episodes into `dst` in their targets' frames. `yaw_symmetry`
    (None: the one the labels record, which must agree); `cameras`: the cameras kept (None:
    all; a ViTaL local policy sees the wrist camera only)."""
    from tqdm import tqdm

    src, dst = Path(src), Path(dst)
    meta = load_meta(src)
    if dataset_frame(meta)["name"] != "base":
        raise DatasetError(f"{src} is already in the {dataset_frame(meta)['name']!r} frame")
    labels = {ep: episode_target(ep) for ep in episode_dirs(src)}
    if yaw_symmetry is None:
        recorded = {lab.yaw_symmetry for lab in labels.values() if lab is not None}
        if len(recorded) != 1 or None in recorded:
            raise DatasetError(f"{src}: the target labels record yaw symmetries {sorted(recorded, key=str)}; "
                               "give the target's yaw symmetry (--yaw-symmetry)")
        yaw_symmetry = recorded.pop()
    equivalent_yaw(0.0, yaw_symmetry)  # raises for a negative symmetry
    if dst.exists() and any(dst.iterdir()):
        raise DatasetError(f"{dst} exists and is not empty")
    kept = [meta.camera(c) for c in cameras] if cameras else list(meta.cameras)
    extra = {**meta.extra, FRAME_KEY: {"name": "target", "yaw_symmetry": int(yaw_symmetry)},
             "source_dataset": str(src)}
    create_dataset(dst, meta.fps, {c.name: (c.height, c.width) for c in kept},
                   state_names=meta.state_names, action_names=meta.action_names,
                   wrench_names=meta.wrench_names, extra=extra)
    report = FrameReport(yaw_symmetry=int(yaw_symmetry))
    for ep in tqdm(episode_dirs(src), desc="to target frame", unit="ep", disable=not progress):
        if labels[ep] is None:
            report.skipped.append(ep.name)
            continue
        frame = TargetFrame.from_label(labels[ep], yaw_symmetry)
        arrays = load_episode_arrays(ep)
        tmp = dst / (ep.name + PARTIAL_SUFFIX)
        tmp.mkdir()
        save_safetensors({
            "timestamp": np.asarray(arrays["timestamp"], dtype=np.float64),
            "state": frame.states_in(arrays["state"]).astype(np.float32),
            "action": frame.poses_in(arrays["action"]).astype(np.float32),
            "wrench": frame.wrenches_in(arrays["wrench"]).astype(np.float32),
        }, str(tmp / LOWDIM_FILE))
        for cam in kept:
            link_or_copy(ep / f"{cam.name}.npy", tmp / f"{cam.name}.npy")
            if (ep / f"{cam.name}{MASK_SUFFIX}").is_file():  # recorded for semantic augmentation
                link_or_copy(ep / f"{cam.name}{MASK_SUFFIX}", tmp / f"{cam.name}{MASK_SUFFIX}")
        info = json.loads((ep / EPISODE_FILE).read_text())
        info.setdefault("extra", {})[FRAME_KEY] = {"position": frame.position.tolist(),
                                                   "yaw": frame.yaw}
        (tmp / EPISODE_FILE).write_text(json.dumps(info, indent=2) + "\n")
        os.rename(tmp, dst / ep.name)
        report.written += 1
    if not report.written:
        raise DatasetError(f"{src}: no episode has a target label (episode.json extra.target, "
                           "or a measured contact); record in simulation, where the recorder "
                           "stores the target, or with a force sensor")
    return report
