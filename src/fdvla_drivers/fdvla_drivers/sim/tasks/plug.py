"""Insert a plug held by the tool into a socket with about 1 mm clearance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from fdvla_msgs.types import Pose
from fdvla_drivers.sim.tasks.base import WORK_CENTRE, SimTask, yaw_quat_wxyz


@dataclass
class PlugParams:
    prong_half_width: float = 0.010  # square prong, 20 mm
    prong_length: float = 0.030
    clearance: float = 0.001  # hole width minus prong width
    hole_depth: float = 0.025
    socket_half_width: float = 0.04
    socket_height: float = 0.06  # top face above the table
    #: Fully seated: the prong tip within this distance of the hole's bottom.
    seat_tolerance: float = 0.003
    placement_half_extent: tuple = (0.06, 0.06)
    max_yaw: float = 0.6


class PlugTask(SimTask):
    name = "plug"
    instruction = "insert the plug into the socket"

    def __init__(self, params: PlugParams | None = None, **kw):
        super().__init__(**kw)
        self.p = params or PlugParams()
        self.grip_length = 0.045
        self.tool_length = self.grip_length + self.p.prong_length
        self._xy = WORK_CENTRE[:2].copy()
        self._yaw = 0.0
        self.best_depth = 0.0
        self._seated = False

    def tool_xml(self) -> str:
        p = self.p
        g = self.grip_length
        return f"""
<geom name="plug_grip" class="tool" type="box" size="0.02 0.02 {g / 2:.6g}" pos="0 0 {g / 2:.6g}"
      rgba="0.1 0.1 0.12 1" mass="0.15"/>
<geom name="plug_prong" class="tool" type="box"
      size="{p.prong_half_width} {p.prong_half_width} {p.prong_length / 2:.6g}"
      pos="0 0 {g + p.prong_length / 2:.6g}" rgba="0.8 0.7 0.3 1" mass="0.03"/>
"""

    def world_xml(self) -> str:
        p = self.p
        H, W = p.socket_height, p.socket_half_width
        h = p.prong_half_width + p.clearance / 2  # half width of the hole
        bottom = H - p.hole_depth
        wall_half_h = p.hole_depth / 2
        wz = bottom + wall_half_h
        side = (W - h) / 2  # half thickness of a wall
        c = h + side
        rgba = 'rgba="0.92 0.92 0.90 1"'
        return f"""
<body name="socket" mocap="true" pos="{WORK_CENTRE[0]} {WORK_CENTRE[1]} 0">
  <geom name="socket_base" class="object" type="box" size="{W} {W} {bottom / 2:.6g}"
        pos="0 0 {bottom / 2:.6g}" {rgba}/>
  <geom name="socket_wall_px" class="object" type="box" size="{side:.6g} {W} {wall_half_h:.6g}"
        pos="{c:.6g} 0 {wz:.6g}" {rgba}/>
  <geom name="socket_wall_nx" class="object" type="box" size="{side:.6g} {W} {wall_half_h:.6g}"
        pos="{-c:.6g} 0 {wz:.6g}" {rgba}/>
  <geom name="socket_wall_py" class="object" type="box" size="{h:.6g} {side:.6g} {wall_half_h:.6g}"
        pos="0 {c:.6g} {wz:.6g}" {rgba}/>
  <geom name="socket_wall_ny" class="object" type="box" size="{h:.6g} {side:.6g} {wall_half_h:.6g}"
        pos="0 {-c:.6g} {wz:.6g}" {rgba}/>
  <geom name="socket_hole_marker" class="decal" type="box" size="{h:.6g} {h:.6g} 0.0005"
        pos="0 0 {bottom + 0.0005:.6g}" rgba="0.05 0.05 0.05 1"/>
</body>
"""

    def bind(self, model):
        super().bind(model)
        self._mocap = self._mocap_id("socket")

    def randomize(self, data, rng):
        p = self.p
        self._xy = WORK_CENTRE[:2] + rng.uniform(-1, 1, 2) * np.asarray(p.placement_half_extent)
        self._yaw = float(rng.uniform(-p.max_yaw, p.max_yaw))
        data.mocap_pos[self._mocap] = [self._xy[0], self._xy[1], 0.0]
        data.mocap_quat[self._mocap] = yaw_quat_wxyz(self._yaw)
        self.best_depth = 0.0
        self._seated = False

    def hole_top(self) -> np.ndarray:
        return np.array([self._xy[0], self._xy[1], self.p.socket_height])

    def prong_tip(self, data) -> np.ndarray:
        """Base-frame centre of the prong's tip face, from the tool's pose."""
        tool = self.model.body("tool").id
        R = data.xmat[tool].reshape(3, 3)
        return data.xpos[tool] + R[:, 2] * self.tool_length

    def after_step(self, data):
        tip = self.prong_tip(data)
        top = self.hole_top()
        lateral = np.linalg.norm(tip[:2] - top[:2])
        depth = top[2] - tip[2]
        if lateral < self.p.prong_half_width:
            self.best_depth = max(self.best_depth, depth)
            # Seated is a state, not an event: pulling the plug out again undoes it.
            self._seated = depth >= self.p.hole_depth - self.p.seat_tolerance
        else:
            self._seated = False

    def success(self) -> bool:
        return self._seated

    def failure_cause(self) -> str:
        if self._seated:
            return ""
        return (f"plug not seated (deepest {max(self.best_depth, 0.0) * 1000:.1f} of "
                f"{self.p.hole_depth * 1000:.1f} mm)")

    def progress(self) -> float:
        return float(np.clip(self.best_depth / self.p.hole_depth, 0.0, 1.0))

    def object_poses(self) -> dict[str, Pose]:
        return {"socket_hole_top": Pose.from_rotation(self.hole_top(),
                                                      Rotation.from_euler("z", self._yaw))}
