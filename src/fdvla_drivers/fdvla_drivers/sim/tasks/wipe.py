"""Wipe marker strokes off a whiteboard: a mark is erased only under the eraser pad, and only
while the pad presses on the board with at least `erase_force` newtons."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
from scipy.spatial.transform import Rotation

from fdvla_msgs.types import Pose
from fdvla_drivers.sim.tasks.base import (WORK_CENTRE, SimTask, contact_normal_force,
                                          yaw_quat_wxyz)

_HIDDEN_Z = -0.5  # erased marks are moved under the table, out of every camera's view


@dataclass
class WipeParams:
    board_half: tuple = (0.13, 0.10, 0.006)
    pad_half: tuple = (0.035, 0.022, 0.008)  # eraser pad, along tool x, tool y, tool z
    strokes: int = 2
    dots_per_stroke: int = 4
    dot_spacing: float = 0.016
    dot_half: float = 0.006
    #: Normal force (N) the pad must press with for marks under it to be erased.
    erase_force: float = 8.0
    #: Marks are drawn within this half extent around the board centre (board axes).
    mark_region_half: tuple = (0.08, 0.06)
    placement_half_extent: tuple = (0.05, 0.05)
    max_yaw: float = 0.5


class WipeTask(SimTask):
    name = "wipe"
    instruction = "wipe the marks off the whiteboard"

    def __init__(self, params: WipeParams | None = None, **kw):
        super().__init__(**kw)
        self.p = params or WipeParams()
        self.holder_length = 0.06
        self.tool_length = self.holder_length + 2 * self.p.pad_half[2]
        self.n_marks = self.p.strokes * self.p.dots_per_stroke
        self._xy = WORK_CENTRE[:2].copy()
        self._yaw = 0.0
        self.mark_xy_board = np.zeros((self.n_marks, 2))
        self.erased = np.zeros(self.n_marks, dtype=bool)
        self.max_normal_force = 0.0

    def tool_xml(self) -> str:
        hx, hy, hz = self.p.pad_half
        h = self.holder_length
        return f"""
<geom name="eraser_holder" class="tool" type="box" size="0.015 0.015 {h / 2:.6g}"
      pos="0 0 {h / 2:.6g}" mass="0.1"/>
<geom name="eraser_pad" class="tool" type="box" size="{hx} {hy} {hz}" pos="0 0 {h + hz:.6g}"
      friction="0.35 0.005 0.0001" rgba="0.2 0.3 0.8 1" mass="0.05"/>
"""

    def world_xml(self) -> str:
        bx, by, bz = self.p.board_half
        d = self.p.dot_half
        marks = "\n".join(
            f'<body name="mark{i}" mocap="true" pos="{WORK_CENTRE[0]} {WORK_CENTRE[1]} '
            f'{2 * bz + 0.0004}">'
            f'<geom class="decal" type="box" size="{d} {d} 0.0004" rgba="0.05 0.1 0.6 1"/></body>'
            for i in range(self.n_marks))
        return f"""
<body name="whiteboard" mocap="true" pos="{WORK_CENTRE[0]} {WORK_CENTRE[1]} 0">
  <geom name="board" class="object" type="box" size="{bx} {by} {bz}" pos="0 0 {bz}"
        friction="0.35 0.005 0.0001" rgba="0.97 0.97 0.97 1"/>
  <geom class="decal" type="box" size="{bx + 0.008} {by + 0.008} {bz * 0.9:.6g}"
        pos="0 0 {bz * 0.9:.6g}" rgba="0.6 0.6 0.62 1"/>
</body>
{marks}
"""

    @property
    def surface_z(self) -> float:
        return 2 * self.p.board_half[2]

    def bind(self, model):
        super().bind(model)
        self._board_mocap = self._mocap_id("whiteboard")
        self._mark_mocap = [self._mocap_id(f"mark{i}") for i in range(self.n_marks)]
        self._pad = {self._id(mujoco.mjtObj.mjOBJ_GEOM, "eraser_pad")}
        self._board = {self._id(mujoco.mjtObj.mjOBJ_GEOM, "board")}
        self._pad_id = next(iter(self._pad))

    def randomize(self, data, rng):
        p = self.p
        self._xy = WORK_CENTRE[:2] + rng.uniform(-1, 1, 2) * np.asarray(p.placement_half_extent)
        self._yaw = float(rng.uniform(-p.max_yaw, p.max_yaw))
        data.mocap_pos[self._board_mocap] = [self._xy[0], self._xy[1], 0.0]
        data.mocap_quat[self._board_mocap] = yaw_quat_wxyz(self._yaw)
        pts = []
        span = (p.dots_per_stroke - 1) * p.dot_spacing
        region = np.asarray(p.mark_region_half) - span / 2
        for _ in range(p.strokes):
            centre = rng.uniform(-1, 1, 2) * region
            angle = rng.uniform(-np.pi, np.pi)
            direction = np.array([np.cos(angle), np.sin(angle)])
            offsets = (np.arange(p.dots_per_stroke) - (p.dots_per_stroke - 1) / 2) * p.dot_spacing
            pts.extend(centre + o * direction for o in offsets)
        self.mark_xy_board = np.array(pts)
        self.erased[:] = False
        self.max_normal_force = 0.0
        world = self.marks_world()
        for i, m in enumerate(self._mark_mocap):
            data.mocap_pos[m] = world[i]
            data.mocap_quat[m] = yaw_quat_wxyz(self._yaw)

    def _board_rotation(self) -> np.ndarray:
        c, s = np.cos(self._yaw), np.sin(self._yaw)
        return np.array([[c, -s], [s, c]])

    def marks_world(self) -> np.ndarray:
        """(N, 3) base-frame positions of the marks (erased ones included)."""
        xy = self.mark_xy_board @ self._board_rotation().T + self._xy
        return np.column_stack([xy, np.full(len(xy), self.surface_z + 0.0004)])

    def after_step(self, data):
        if self.erased.all():
            return
        force = contact_normal_force(self.model, data, self._pad, self._board)
        self.max_normal_force = max(self.max_normal_force, force)
        if force < self.p.erase_force:
            return
        R = data.geom_xmat[self._pad_id].reshape(3, 3)
        centre = data.geom_xpos[self._pad_id]
        hx, hy, _ = self.p.pad_half
        local = (self.marks_world() - centre) @ R  # mark positions in pad axes
        under = (np.abs(local[:, 0]) <= hx) & (np.abs(local[:, 1]) <= hy)
        newly = under & ~self.erased
        if newly.any():
            self.erased |= newly
            for i in np.flatnonzero(newly):
                data.mocap_pos[self._mark_mocap[i], 2] = _HIDDEN_Z

    def success(self) -> bool:
        return bool(self.erased.all())

    def failure_cause(self) -> str:
        left = int((~self.erased).sum())
        return f"marks left: {left}/{self.n_marks}" if left else ""

    def progress(self) -> float:
        return float(self.erased.mean())

    def object_poses(self) -> dict[str, Pose]:
        rot = Rotation.from_euler("z", self._yaw)
        poses = {"board_surface": Pose.from_rotation([*self._xy, self.surface_z], rot)}
        for i, p in enumerate(self.marks_world()):
            if not self.erased[i]:
                poses[f"mark{i}"] = Pose.from_rotation(p, rot)
        return poses
