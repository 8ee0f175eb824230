"""A dataset's episodes in the frame of their task's target: the data a ViTaL local policy
trains on (docs/vital.md).

Each episode's state, action and wrench are expressed in `TargetFrame.from_label(label,
yaw_symmetry)` (fdvla_model.action_space), the label being the episode's target
(target_label.episode_target: recorded, or the TCP at first contact): positions relative to the
target, rotations and wrench axes turned by its symmetric yaw, joint angles zeroed. Camera frames are the same pixels, hard
linked where the file system allows (copied otherwise). meta.json's `extra.frame` records the
frame, which `fdvla train` writes into the checkpoint's configuration; episodes without a
target label (a sensorless recording without a recorded target) are skipped and counted.

With `FrameNoise`, each episode is written `copies` times, each in a frame displaced from its
target by its own seeded draw: the error a localiser makes, once per placement. The demonstration
still goes to the true target, so in the displaced frame the policy can only get there by seeing
where the target is in the wrist camera, which is what ViTaL's local policy does when the
localiser hands over a few millimetres off.
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
from .meta import (EPISODE_FILE, EPISODE_PREFIX, LOWDIM_FILE, MASK_SUFFIX, PARTIAL_SUFFIX, DatasetError, create_dataset,
                   episode_dirs, link_or_copy, load_meta)
from .reader import load_episode_arrays
from .target_label import episode_target

#: meta.json `extra` key naming the frame a dataset's vectors are in (absent: `base`).
FRAME_KEY = "frame"


@dataclass(frozen=True)
class FrameNoise:
    """A localiser's error drawn per written episode copy: Gaussian in x and y (m) and in yaw
    (rad), each cut at `CUT` standard deviations (a localiser that errs by more is a miss the
    local policy cannot recover anyway)."""
    xy: float = 0.0
    yaw: float = 0.0
    copies: int = 1
    seed: int = 0

    CUT = 2.5

    def __post_init__(self):
        if not (self.xy >= 0.0 and self.yaw >= 0.0 and np.isfinite(self.xy) and np.isfinite(self.yaw)):
            raise DatasetError(f"frame noise must be finite and >= 0, got xy {self.xy} m, yaw {self.yaw} rad")
        if int(self.copies) != self.copies or self.copies < 1:
            raise DatasetError(f"frame copies must be a positive integer, got {self.copies}")

    @property
    def active(self) -> bool:
        return self.xy > 0.0 or self.yaw > 0.0

    @property
    def changes_data(self) -> bool:
        """False for the default: one exact copy, the dataset as without noise."""
        return self.active or self.copies > 1

    def draw(self, episode: int, copy: int) -> tuple[np.ndarray, float]:
        """((3,) position offset with z = 0, yaw offset) for one copy of one source episode; the
        same arguments always draw the same offset."""
        rng = np.random.default_rng([int(self.seed), int(episode), int(copy)])
        z = np.clip(rng.standard_normal(3), -self.CUT, self.CUT)
        return np.array([z[0] * self.xy, z[1] * self.xy, 0.0]), float(z[2] * self.yaw)

    def as_dict(self) -> dict:
        return {"xy": self.xy, "yaw": self.yaw, "copies": int(self.copies), "seed": int(self.seed)}


def add_frame_noise_args(parser) -> None:
    """The FrameNoise options, shared by `fdvla dataset target-frame` and `fdvla train --vital`."""
    g = parser.add_argument_group("localiser error the local policy learns to correct")
    g.add_argument("--frame-noise-xy", type=float, default=0.0, metavar="M",
                   help="standard deviation (m) of each episode copy's frame offset in x and y")
    g.add_argument("--frame-noise-yaw", type=float, default=0.0, metavar="DEG",
                   help="standard deviation (deg) of its yaw offset")
    g.add_argument("--frame-copies", type=int, default=1, metavar="K",
                   help="write each episode K times, each copy with its own offset")
    g.add_argument("--frame-noise-seed", type=int, default=0)


def frame_noise_from_args(args) -> FrameNoise:
    import math

    a = args if isinstance(args, dict) else vars(args)
    return FrameNoise(a["frame_noise_xy"], math.radians(a["frame_noise_yaw"]), a["frame_copies"],
                      a["frame_noise_seed"])


FRAME_NOISE_ARGS = ("frame_noise_xy", "frame_noise_yaw", "frame_copies", "frame_noise_seed")


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
                               progress: bool = True, cameras=None,
                               noise: FrameNoise | None = None) -> FrameReport:
    """Write `src`'s labelled episodes into `dst` in their targets' frames. `yaw_symmetry`
    (None: the one the labels record, which must agree); `cameras`: the cameras kept (None:
    all; a ViTaL local policy sees the wrist camera only); `noise`: each episode written
    `noise.copies` times in frames displaced by a localiser-like error (copies of one source
    episode get adjacent indices)."""
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
    noise = noise or FrameNoise()
    frame_doc = {"name": "target", "yaw_symmetry": int(yaw_symmetry)}
    if noise.changes_data:
        frame_doc["noise"] = noise.as_dict()
    extra = {**meta.extra, FRAME_KEY: frame_doc, "source_dataset": str(src)}
    create_dataset(dst, meta.fps, {c.name: (c.height, c.width) for c in kept},
                   state_names=meta.state_names, action_names=meta.action_names,
                   wrench_names=meta.wrench_names, extra=extra)
    report = FrameReport(yaw_symmetry=int(yaw_symmetry))
    index = 0
    for ep in tqdm(episode_dirs(src), desc="to target frame", unit="ep", disable=not progress):
        if labels[ep] is None:
            report.skipped.append(ep.name)
            continue
        true_frame = TargetFrame.from_label(labels[ep], yaw_symmetry)
        arrays = load_episode_arrays(ep)
        source_index = int(ep.name[len(EPISODE_PREFIX):])
        for copy in range(noise.copies):
            frame = true_frame
            if noise.active:
                shift, turn = noise.draw(source_index, copy)
                frame = TargetFrame(true_frame.position + shift, true_frame.yaw + turn)
            name = ep.name if noise.copies == 1 else f"{EPISODE_PREFIX}{index:06d}"
            doc = {"position": frame.position.tolist(), "yaw": frame.yaw}
            if noise.changes_data:
                doc.update(source_episode=ep.name, copy=copy, error_from_target={
                    "position": (frame.position - true_frame.position).tolist(),
                    "yaw": frame.yaw - true_frame.yaw})
            _write_episode_in(frame, ep, arrays, dst / name, kept, doc)
            index += 1
            report.written += 1
    if not report.written:
        raise DatasetError(f"{src}: no episode has a target label (episode.json extra.target, "
                           "or a measured contact); record in simulation, where the recorder "
                           "stores the target, or with a force sensor")
    return report


def _write_episode_in(frame: TargetFrame, ep: Path, arrays: dict, out: Path, cameras,
                      frame_doc: dict) -> None:
    """One episode's vectors in `frame`, its camera files linked, written as `out` atomically."""
    tmp = out.with_name(out.name + PARTIAL_SUFFIX)
    tmp.mkdir()
    save_safetensors({
        "timestamp": np.asarray(arrays["timestamp"], dtype=np.float64),
        "state": frame.states_in(arrays["state"]).astype(np.float32),
        "action": frame.poses_in(arrays["action"]).astype(np.float32),
        "wrench": frame.wrenches_in(arrays["wrench"]).astype(np.float32),
    }, str(tmp / LOWDIM_FILE))
    for cam in cameras:
        link_or_copy(ep / f"{cam.name}.npy", tmp / f"{cam.name}.npy")
        if (ep / f"{cam.name}{MASK_SUFFIX}").is_file():  # recorded for semantic augmentation
            link_or_copy(ep / f"{cam.name}{MASK_SUFFIX}", tmp / f"{cam.name}{MASK_SUFFIX}")
    info = json.loads((ep / EPISODE_FILE).read_text())
    info["index"] = int(out.name[len(EPISODE_PREFIX):])  # the folder's number (copies renumber)
    info.setdefault("extra", {})[FRAME_KEY] = frame_doc
    (tmp / EPISODE_FILE).write_text(json.dumps(info, indent=2) + "\n")
    os.rename(tmp, out)
