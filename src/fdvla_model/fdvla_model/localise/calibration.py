"""The scene camera's calibration an episode was recorded with, and the target's pixel in it: the
label a pointing localiser learns (ViTaL's pointer; docs/vital.md "Pointer").

`fdvla dataset build` stores it per episode from the bag (the camera's camera_info and its
latched extrinsics, /<camera>/extrinsics) as `episode.json` `extra.calibration.<camera> =
{"intrinsics": {width, height, fx, fy, cx, cy, distortion}, "pose_in_base": [x, y, z, qx, qy,
qz, qw]}`: per episode, so a camera moved and calibrated again between sessions labels each
session's episodes with its own pose.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

from fdvla_model.dataset.meta import EPISODE_FILE, DatasetError
from fdvla_model.dataset.target_label import CONTACT_FORCE, dataset_targets
from fdvla_msgs.camera_geometry import calibration_from_dict, project_point

from .modeling_localiser import pixel_to_normalised


def episode_calibration(episode_dir, camera: str) -> Optional[tuple]:
    """The episode's calibration of `camera` (calibration_from_dict), or None if it has none."""
    ep_file = Path(episode_dir) / EPISODE_FILE
    extra = json.loads(ep_file.read_text()).get("extra") or {}
    stored = (extra.get("calibration") or {}).get(camera)
    if stored is None:
        return None
    try:
        return calibration_from_dict(stored)
    except ValueError as e:
        raise DatasetError(f"{ep_file}: extra.calibration.{camera}: {e}") from None


def target_pixels(episodes: list, positions: np.ndarray, camera: str) -> np.ndarray:
    """(E, 2) each episode's target position in `base` projected into its own calibration, in
    the pointer's normalised image coordinates ([-1, 1]; independent of the image's size, so a
    dataset resized after recording keeps its labels). DatasetError naming the episodes that
    carry no calibration of `camera`."""
    out, missing = [], []
    for ep, p in zip(episodes, np.asarray(positions, dtype=np.float64)):
        cal = episode_calibration(ep, camera)
        if cal is None:
            missing.append(Path(ep).name)
            continue
        k, T = cal
        out.append(pixel_to_normalised(np.array(project_point(p, k, T)), (k.height, k.width)))
    if missing:
        raise DatasetError(
            f"{len(missing)} episode(s) carry no calibration of camera {camera!r} "
            f"({', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}): a pointing "
            "localiser learns the target's pixel from it. Record with a camera that publishes "
            f"its extrinsics (cameras.{camera}.pose_in_base; a simulated one does) and build "
            "the dataset again")
    return np.stack(out)


def check_pixel_labels(dataset_dir, camera: str, contact_force: float = CONTACT_FORCE) -> None:
    """Before any training: every labelled episode of the dataset carries its calibration of
    `camera` (target_pixels' DatasetError otherwise)."""
    labels = dataset_targets(dataset_dir, contact_force).labelled
    if labels:
        target_pixels([ep for ep, _ in labels], np.stack([lab.position for _, lab in labels]),
                      camera)
