"""Where the task's target is, per episode: the label the localiser learns and the frame a
target-frame dataset is written in (one reader of `extra.target` for both).

The label contract (docs/vital.md):

1. `episode.json` `extra.target = {"name": ..., "pose": [x, y, z, qx, qy, qz, qw],
   "yaw_symmetry": k}`: the target's pose in `base` at the episode's start (simulation: the
   privileged object pose) and how many ways round it looks the same. Source "recorded".
2. Otherwise (hardware recordings): the TCP pose at the first row whose measured force norm
   exceeds `CONTACT_FORCE` (5 N), i.e. where the demonstration made contact; position, and the
   TCP's yaw about base z; no yaw symmetry recorded. Source "first_contact".
3. Neither (no target, and no contact: a sensorless recording has NaN wrench rows): None; the
   trainer skips the episode and says how many it skipped.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from scipy.spatial.transform import Rotation

from .meta import EPISODE_FILE, DatasetError, episode_dirs, load_meta
from .reader import load_episode_arrays

#: Force norm (N) above which a row counts as the demonstration's first contact.
CONTACT_FORCE = 5.0
FIRST_CONTACT_NAME = "tcp_at_first_contact"
SOURCES = ("recorded", "first_contact")


@dataclass(frozen=True)
class TargetLabel:
    name: str
    position: np.ndarray  # (3,) m, frame `base`
    yaw: float  # rad, about base z
    source: str  # "recorded" | "first_contact"
    yaw_symmetry: Optional[int] = None  # as recorded (None: not recorded)

    def __post_init__(self):
        p = np.asarray(self.position, dtype=np.float64).reshape(-1)
        if p.shape != (3,) or not np.all(np.isfinite(p)):
            raise ValueError(f"target position must be 3 finite numbers, got {self.position!r}")
        if not math.isfinite(self.yaw):
            raise ValueError(f"target yaw must be finite, got {self.yaw!r}")
        if self.source not in SOURCES:
            raise ValueError(f"target source must be one of {SOURCES}, got {self.source!r}")
        object.__setattr__(self, "position", p)
        object.__setattr__(self, "yaw", float(self.yaw))
        if self.yaw_symmetry is not None:
            if int(self.yaw_symmetry) < 0:
                raise ValueError(f"target yaw symmetry must be >= 0, got {self.yaw_symmetry!r}")
            object.__setattr__(self, "yaw_symmetry", int(self.yaw_symmetry))


def yaw_of_rotation(matrix: np.ndarray) -> float:
    """Yaw about base z of a rotation: the heading of its x axis projected on the base xy plane
    (defined for any tool that is not pointing its x axis straight up or down)."""
    m = np.asarray(matrix, dtype=np.float64)
    return float(math.atan2(m[1, 0], m[0, 0]))


def _recorded_target(target, episode_dir: Path) -> TargetLabel:
    return target_from_dict(target, f"{episode_dir / EPISODE_FILE}: extra.target")


def target_from_dict(target, where: str = "target") -> TargetLabel:
    """A task's target as the sim reports it (`SimTask.target()`, /sim/task_state "target") and
    datasets store it (episode.json `extra.target`); DatasetError naming `where` if malformed."""
    if not isinstance(target, dict) or "pose" not in target:
        raise DatasetError(f"{where} must be {{'name': ..., 'pose': [x, y, z, qx, qy, qz, qw]}}")
    try:
        pose = np.asarray(target["pose"], dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as e:
        raise DatasetError(f"{where}.pose is not a list of numbers: {e}") from e
    if pose.shape != (7,) or not np.all(np.isfinite(pose)) or np.linalg.norm(pose[3:]) < 1e-9:
        raise DatasetError(f"{where}.pose must be 7 finite numbers [x, y, z, qx, qy, qz, qw] "
                           f"with a non-zero quaternion, got {target['pose']!r}")
    yaw = yaw_of_rotation(Rotation.from_quat(pose[3:]).as_matrix())
    symmetry = target.get("yaw_symmetry")
    if symmetry is not None and (isinstance(symmetry, bool) or not isinstance(symmetry, int)
                                 or symmetry < 0):
        raise DatasetError(f"{where}.yaw_symmetry must be an int >= 0, got {symmetry!r}")
    return TargetLabel(str(target.get("name", "target")), pose[:3], yaw, "recorded", symmetry)


def _first_contact_target(episode_dir: Path, contact_force: float) -> Optional[TargetLabel]:
    arrays = load_episode_arrays(episode_dir)
    wrench = np.asarray(arrays["wrench"], dtype=np.float64)
    force = np.linalg.norm(wrench[:, :3], axis=1)  # NaN rows (no sensor) compare False
    hits = np.flatnonzero(force > contact_force)
    if hits.size == 0:
        return None
    state = np.asarray(arrays["state"], dtype=np.float64)[hits[0]]
    # state = TCP xyz + the first two rotation columns (r11 r21 r31 r12 r22 r32) + joints
    # (docs/dataset.md); the yaw needs only the first column.
    yaw = math.atan2(state[4], state[3])
    return TargetLabel(FIRST_CONTACT_NAME, state[:3], yaw, "first_contact")


def episode_target(episode_dir, contact_force: float = CONTACT_FORCE) -> Optional[TargetLabel]:
    """The episode's target label (see the module doc), or None when it has neither a recorded
    target nor a contact. A malformed recorded target is a DatasetError, not a silent skip."""
    episode_dir = Path(episode_dir)
    ep_file = episode_dir / EPISODE_FILE
    try:
        info = json.loads(ep_file.read_text())
    except FileNotFoundError as e:
        raise DatasetError(f"{ep_file} is missing") from e
    except json.JSONDecodeError as e:
        raise DatasetError(f"{ep_file} is not valid JSON: {e}") from e
    extra = info.get("extra") or {}
    if not isinstance(extra, dict):
        raise DatasetError(f"{ep_file}: extra must be an object")
    if extra.get("target") is not None:
        return _recorded_target(extra["target"], episode_dir)
    return _first_contact_target(episode_dir, contact_force)


@dataclass(frozen=True)
class DatasetLabels:
    """Every finished episode of a dataset with its label; `skipped`: episodes without one."""

    labelled: list  # [(episode_dir, TargetLabel)]
    skipped: list  # [episode_dir]

    def counts(self) -> dict:
        by_source = {s: sum(1 for _, lab in self.labelled if lab.source == s) for s in SOURCES}
        return {**by_source, "skipped": len(self.skipped)}


def dataset_targets(dataset_dir, contact_force: float = CONTACT_FORCE) -> DatasetLabels:
    """The labels of every finished episode of a dataset (meta.json is checked first)."""
    load_meta(dataset_dir)
    labelled, skipped = [], []
    for ep in episode_dirs(dataset_dir):
        label = episode_target(ep, contact_force)
        if label is None:
            skipped.append(ep)
        else:
            labelled.append((ep, label))
    return DatasetLabels(labelled, skipped)
