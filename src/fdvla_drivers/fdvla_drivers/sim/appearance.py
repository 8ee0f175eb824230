"""Evaluation splits of what the cameras see: the paper's generalisation settings (its Fig. 7).

- `nominal`: the cell as built.
- `background`: a novel work surface: the table's colour (any hue, saturation and brightness)
  changes per episode, as a new tablecloth or bench would.
- `lighting`: colour and lighting perturbation: the lights' intensity (0.35-1.6x), their colour
  (each channel 0.7-1.3x) and the top light's direction (tilted up to 35 deg) change per episode.
- `distractors`: 3-6 objects that have nothing to do with the task (boxes, cylinders, balls and
  capsules, 3-7 cm, any colour) stand on the table around the work area, kept clear of the task's
  objects and the robot's base. They are drawn into each camera's scene (`decorate`), not added
  to any model: nothing can touch them.
- `camera_moved`: the scene camera stands `CAMERA_SHIFT` away and turned `CAMERA_TURN_DEG` about
  the vertical, as after a bumped tripod, and was calibrated again: its published extrinsics
  (`SimCamera.pose_in_base`, /kinect/extrinsics) say where it now is. The same for every episode.
  A localiser that regresses the target's position from the image has learnt the old camera's
  view; one that points at a pixel and lifts it with depth and the calibration has not.

Only renderers apply a split, each to its own copy of the model (`Appearance.model`), drawn
from the episode's seed (carried by every snapshot), so every camera of a cell, in this process
or another, draws the same scene, and the physics never changes. Task objects, the arm and the
tool keep their colours: the split changes the surroundings and the light, not what the task is.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # MuJoCo loads where a model exists; the CLI reads SPLITS before MUJOCO_GL
    import mujoco

SPLITS = ("nominal", "background", "lighting", "distractors", "camera_moved")

#: Multiplier range of the lights' intensity, of each colour channel, and the top light's tilt.
LIGHT_SCALE = (0.35, 1.6)
LIGHT_TINT = (0.7, 1.3)
LIGHT_TILT_DEG = 35.0
#: Distractors: how many, their half size (m), the box (about the work centre, m) they stand
#: in, and the clearance (m) they keep from every task object's bounding sphere and from the
#: robot's base.
DISTRACTOR_COUNT = (3, 6)
DISTRACTOR_HALF_SIZE = (0.015, 0.035)
DISTRACTOR_HALF_AREA = (0.28, 0.30)
DISTRACTOR_CLEARANCE = 0.02
ROBOT_BASE_KEEP_OUT = 0.22
#: camera_moved: the scene camera's shift (m, base axes) and turn about base z (degrees).
CAMERA_SHIFT = (0.03, -0.02, 0.02)
CAMERA_TURN_DEG = 2.0


def move_scene_camera(model: mujoco.MjModel, shift, turn_deg: float) -> None:
    """Shift the cell's scene camera by `shift` (m, base axes) and turn it by `turn_deg` about
    base z, in `model` (the renders and the camera's pose both follow it)."""
    from scipy.spatial.transform import Rotation

    from fdvla_drivers.sim.ur5e_model import SCENE_CAMERA

    cam = model.camera(SCENE_CAMERA).id
    model.cam_pos[cam] += np.asarray(shift, dtype=float)
    w, x, y, z = model.cam_quat[cam]
    turned = Rotation.from_euler("z", turn_deg, degrees=True) * Rotation.from_quat([x, y, z, w])
    x, y, z, w = turned.as_quat()
    model.cam_quat[cam] = [w, x, y, z]


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown appearance split {split!r}; expected one of {', '.join(SPLITS)}")
    return split


class Appearance:
    """A renderer's model with the split of the current episode applied (`for_episode`)."""

    def __init__(self, model: mujoco.MjModel, split: str = "nominal"):
        self.split = check_split(split)
        # Nominal renders the backend's model itself; a split renders a copy it may change.
        self.model = model if self.split == "nominal" else copy.copy(model)
        self.episode: int | None = None
        m = self.model
        self._table_mat = int(m.geom_matid[m.geom("table").id])
        if self.split == "camera_moved":
            move_scene_camera(m, CAMERA_SHIFT, CAMERA_TURN_DEG)
        # (Texture repeats are not varied: a renderer's GL context keeps the ones it was made
        # with, so a change would show in a camera started later and not in a running one.)
        self._distractors: list | None = None  # drawn at the episode's first decorate
        self._base = {"mat_rgba": m.mat_rgba.copy(),
                      "light_diffuse": m.light_diffuse.copy(),
                      "light_ambient": m.light_ambient.copy(), "light_dir": m.light_dir.copy(),
                      "head_diffuse": np.array(m.vis.headlight.diffuse),
                      "head_ambient": np.array(m.vis.headlight.ambient)}

    def for_episode(self, episode: int) -> mujoco.MjModel:
        """The model to render `episode` with (changed only when the episode changes)."""
        if self.split != "nominal" and episode != self.episode:
            self.episode = episode
            self._restore()
            self._distractors = None
            rng = np.random.default_rng([int(episode), SPLITS.index(self.split)])
            if self.split == "background":
                self._background(rng)
            elif self.split == "lighting":
                self._lighting(rng)
        return self.model

    def decorate(self, scene: mujoco.MjvScene, data: mujoco.MjData) -> int:
        """Add the episode's distractors to a camera's scene (after `update_scene`, before
        rendering); the number added. `data` is the episode's state after kinematics: the
        distractors are placed clear of where its task objects stand, the first time an episode
        is decorated, so every camera (in any process) draws the same ones: the objects do not
        move in the table's plane during an episode."""
        if self.split != "distractors" or self.episode is None:
            return 0
        import mujoco

        if self._distractors is None:
            rng = np.random.default_rng([int(self.episode), SPLITS.index(self.split)])
            self._distractors = self._draw_distractors(rng, data)
        added = 0
        for kind, size, pos, mat, rgba in self._distractors:
            if scene.ngeom >= scene.maxgeom:
                break
            geom = scene.geoms[scene.ngeom]
            mujoco.mjv_initGeom(geom, kind, size, pos, mat, rgba)
            # Segmentation renders index by segid; no model object stands behind a distractor.
            geom.segid = scene.ngeom
            geom.objtype = int(mujoco.mjtObj.mjOBJ_UNKNOWN)
            geom.objid = -1
            scene.ngeom += 1
            added += 1
        return added

    def _task_geoms(self, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
        """xy centres and bounding radii of the geoms of the task's objects: every body tree
        hanging from the world other than the robot's."""
        m = self.model
        robot_root = int(m.body_rootid[m.body("ur5e_link1").id])
        roots = m.body_rootid[m.geom_bodyid]
        task = (m.geom_bodyid != 0) & (roots != robot_root)
        return data.geom_xpos[task, :2].copy(), m.geom_rbound[task].copy()

    def _draw_distractors(self, rng: np.random.Generator, data: mujoco.MjData) -> list:
        import mujoco
        from scipy.spatial.transform import Rotation

        from fdvla_drivers.sim.tasks.base import WORK_CENTRE

        centres, radii = self._task_geoms(data)
        kinds = (mujoco.mjtGeom.mjGEOM_BOX, mujoco.mjtGeom.mjGEOM_CYLINDER,
                 mujoco.mjtGeom.mjGEOM_SPHERE, mujoco.mjtGeom.mjGEOM_CAPSULE)
        placed: list = []
        taken: list[tuple[np.ndarray, float]] = []
        want = int(rng.integers(DISTRACTOR_COUNT[0], DISTRACTOR_COUNT[1] + 1))
        for _ in range(200):  # rejection sampling; a crowded table gets fewer
            if len(placed) == want:
                break
            kind = kinds[int(rng.integers(len(kinds)))]
            half = rng.uniform(*DISTRACTOR_HALF_SIZE, size=3)
            xy = WORK_CENTRE[:2] + rng.uniform(-1.0, 1.0, size=2) * DISTRACTOR_HALF_AREA
            yaw = rng.uniform(0.0, 2 * np.pi)
            rgba = np.array([*rng.uniform(0.05, 0.95, size=3), 1.0])
            if kind == mujoco.mjtGeom.mjGEOM_SPHERE:
                half[:] = half[0]
            elif kind in (mujoco.mjtGeom.mjGEOM_CYLINDER, mujoco.mjtGeom.mjGEOM_CAPSULE):
                half[1] = half[0]  # radius, half length
            footprint = float(np.hypot(half[0], half[1])) if kind == mujoco.mjtGeom.mjGEOM_BOX \
                else float(half[0])
            clear = footprint + DISTRACTOR_CLEARANCE
            if np.linalg.norm(xy) < ROBOT_BASE_KEEP_OUT + footprint:
                continue
            if len(centres) and np.any(np.linalg.norm(centres - xy, axis=1) < radii + clear):
                continue
            if any(np.linalg.norm(c - xy) < r + clear for c, r in taken):
                continue
            # Standing on the table: a capsule's half height is its radius plus half length.
            if kind == mujoco.mjtGeom.mjGEOM_BOX or kind == mujoco.mjtGeom.mjGEOM_CYLINDER:
                height = half[2] if kind == mujoco.mjtGeom.mjGEOM_BOX else half[1]
            elif kind == mujoco.mjtGeom.mjGEOM_SPHERE:
                height = half[0]
            else:
                height = half[0] + half[1]
            # A scene geom's size: half extents (box), radius thrice (sphere), or radius,
            # radius, half length along its z axis (cylinder, capsule; as mjv_connector's).
            size = half if kind == mujoco.mjtGeom.mjGEOM_BOX else \
                np.array([half[0], half[0], half[1]])
            mat = Rotation.from_euler("z", yaw).as_matrix().reshape(-1)
            placed.append((int(kind), size.astype(np.float64), np.array([*xy, height]),
                           mat, rgba.astype(np.float32)))
            taken.append((xy, footprint))
        return placed

    def _restore(self) -> None:
        m, b = self.model, self._base
        m.mat_rgba[:] = b["mat_rgba"]
        m.light_diffuse[:] = b["light_diffuse"]
        m.light_ambient[:] = b["light_ambient"]
        m.light_dir[:] = b["light_dir"]
        m.vis.headlight.diffuse = b["head_diffuse"]
        m.vis.headlight.ambient = b["head_ambient"]

    def _background(self, rng: np.random.Generator) -> None:
        import colorsys

        m, i = self.model, self._table_mat
        # The material's colour multiplies the checker texture: any hue, never black or white.
        rgb = colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0.3, 0.8), rng.uniform(0.5, 1.0))
        m.mat_rgba[i, :3] = rgb

    def _lighting(self, rng: np.random.Generator) -> None:
        m = self.model
        gain = rng.uniform(*LIGHT_SCALE) * rng.uniform(*LIGHT_TINT, size=3)
        m.light_diffuse[:] = np.clip(self._base["light_diffuse"] * gain, 0.0, 1.0)
        m.light_ambient[:] = np.clip(self._base["light_ambient"] * gain, 0.0, 1.0)
        m.vis.headlight.diffuse = np.clip(self._base["head_diffuse"] * gain, 0.0, 1.0)
        m.vis.headlight.ambient = np.clip(self._base["head_ambient"] * gain, 0.0, 1.0)
        tilt = np.deg2rad(rng.uniform(0.0, LIGHT_TILT_DEG))
        azimuth = rng.uniform(0.0, 2 * np.pi)
        d = np.array([np.sin(tilt) * np.cos(azimuth), np.sin(tilt) * np.sin(azimuth),
                      -np.cos(tilt)])
        m.light_dir[:] = d  # every light of the cell points down: tilt them alike
