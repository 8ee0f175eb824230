"""Press an emergency button: a spring-loaded mushroom cap that latches only when fully pressed.

Like an illuminated emergency stop, the button shows that it is latched: a lit status ring around
the collar comes on (and the cap stays down). The ring is a mocap body that rises out of the
housing when the latch engages, so every camera that copies qpos and mocap poses (in-process or
from the shared-memory snapshot) sees it.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
from scipy.spatial.transform import Rotation

from fdvla_msgs.types import Pose
from fdvla_drivers.sim.tasks.base import WORK_CENTRE, SimTask, yaw_quat_wxyz


@dataclass
class ButtonParams:
    housing_half: tuple = (0.045, 0.045, 0.03)  # box the button is mounted on
    cap_radius: float = 0.022
    cap_half_height: float = 0.009
    stem_height: float = 0.012  # cap bottom above the housing top when released
    travel: float = 0.010  # m, from released to the hard stop
    #: The latch engages within this distance of the hard stop ("fully pressed").
    latch_margin: float = 0.0012
    spring_stiffness: float = 1500.0  # N/m
    #: Spring preload at the released position (N): the press needs preload + k * travel.
    spring_preload: float = 10.0
    #: Force the latch holds the cap down with once engaged (beats the spring).
    latch_force: float = 45.0
    placement_half_extent: tuple = (0.06, 0.06)
    #: Lit status ring around the collar, shown while latched (radius, colour).
    lamp_radius: float = 0.040
    lamp_rgba: tuple = (0.15, 0.55, 1.0, 1.0)


_LAMP_HALF = 0.0015  # half-thickness of the status ring


class ButtonTask(SimTask):
    name = "button"
    instruction = "press the emergency button"
    tool_length = 0.10

    def __init__(self, params: ButtonParams | None = None, **kw):
        super().__init__(**kw)
        self.p = params or ButtonParams()
        self.latched = False
        self.max_depth = 0.0
        self._xy = WORK_CENTRE[:2].copy()
        self._yaw = 0.0

    def tool_xml(self) -> str:
        L = self.tool_length
        return f"""
<geom name="pusher_shaft" class="tool" type="cylinder" size="0.012 {(L - 0.016) / 2:.6g}"
      pos="0 0 {0.016 + (L - 0.016) / 2:.6g}" mass="0.12"/>
<geom name="pusher_mount" class="tool" type="cylinder" size="0.03 0.008" pos="0 0 0.008"
      mass="0.08"/>
"""

    def assets_xml(self) -> str:
        rgba = " ".join(f"{c:g}" for c in self.p.lamp_rgba)
        return f'<material name="button_lamp_lit" rgba="{rgba}" emission="0.8"/>'

    def world_xml(self) -> str:
        p = self.p
        hx, hy, hz = p.housing_half
        top = 2 * hz
        preload_offset = p.spring_preload / p.spring_stiffness
        return f"""
<body name="button_housing" mocap="true" pos="{WORK_CENTRE[0]} {WORK_CENTRE[1]} 0">
  <geom name="button_box" class="object" type="box" size="{hx} {hy} {hz}" pos="0 0 {hz}"
        rgba="0.95 0.80 0.05 1"/>
  <geom name="button_collar" class="object" type="cylinder" size="{p.cap_radius + 0.006} 0.004"
        pos="0 0 {top + 0.004}" rgba="0.2 0.2 0.2 1"/>
  <body name="button_plunger" pos="0 0 {top}">
    <joint name="button_joint" type="slide" axis="0 0 1" range="{-p.travel} 0"
           stiffness="{p.spring_stiffness}" springref="{preload_offset:.6g}" damping="3"
           armature="0.05"/>
    <geom name="button_stem" class="object" type="cylinder" size="0.008 {p.stem_height / 2}"
          pos="0 0 {p.stem_height / 2}" rgba="0.3 0.3 0.3 1" mass="0.02"/>
    <geom name="button_cap" class="object" type="cylinder"
          size="{p.cap_radius} {p.cap_half_height}"
          pos="0 0 {p.stem_height + p.cap_half_height}" rgba="0.85 0.05 0.05 1" mass="0.03"/>
  </body>
</body>
<body name="button_lamp" mocap="true" pos="{WORK_CENTRE[0]} {WORK_CENTRE[1]} {self._lamp_z(False):.6g}">
  <geom name="button_lamp_ring" class="decal" type="cylinder" size="{p.lamp_radius} {_LAMP_HALF}"
        material="button_lamp_lit"/>
</body>
"""

    def _lamp_z(self, lit: bool) -> float:
        """Centre height of the status ring: just proud of the housing top when lit, inside the
        (opaque) housing when not."""
        top = 2 * self.p.housing_half[2]
        return top + (_LAMP_HALF + 0.001 if lit else -_LAMP_HALF - 0.003)

    def bind(self, model):
        super().bind(model)
        self._mocap = self._mocap_id("button_housing")
        self._lamp = self._mocap_id("button_lamp")
        jid = self._id(mujoco.mjtObj.mjOBJ_JOINT, "button_joint")
        self._qadr = int(model.jnt_qposadr[jid])
        self._dof = int(model.jnt_dofadr[jid])

    def randomize(self, data, rng):
        p = self.p
        xy = WORK_CENTRE[:2] + rng.uniform(-1, 1, 2) * np.asarray(p.placement_half_extent)
        self._yaw = float(rng.uniform(-np.pi, np.pi))
        self._xy = xy
        data.mocap_pos[self._mocap] = [xy[0], xy[1], 0.0]
        data.mocap_quat[self._mocap] = yaw_quat_wxyz(self._yaw)
        data.mocap_pos[self._lamp] = [xy[0], xy[1], self._lamp_z(False)]
        data.mocap_quat[self._lamp] = yaw_quat_wxyz(self._yaw)
        data.qpos[self._qadr] = 0.0
        data.qvel[self._dof] = 0.0
        data.qfrc_applied[self._dof] = 0.0
        self.latched = False
        self.max_depth = 0.0

    def depth(self, data) -> float:
        return float(-data.qpos[self._qadr])

    def after_step(self, data):
        d = self.depth(data)
        self.max_depth = max(self.max_depth, d)
        if not self.latched and d >= self.p.travel - self.p.latch_margin:
            self.latched = True
            data.mocap_pos[self._lamp, 2] = self._lamp_z(True)
        # The latch is mechanical: once engaged it holds the cap down against the spring.
        data.qfrc_applied[self._dof] = -self.p.latch_force if self.latched else 0.0

    def success(self) -> bool:
        return self.latched

    def failure_cause(self) -> str:
        if self.latched:
            return ""
        return (f"button not latched (pressed {self.max_depth * 1000:.1f} of "
                f"{self.p.travel * 1000:.1f} mm)")

    def progress(self) -> float:
        return 1.0 if self.latched else min(self.max_depth / self.p.travel, 1.0)

    def cap_top(self) -> np.ndarray:
        """Base-frame centre of the released cap's top face."""
        p = self.p
        pos = self._xy
        return np.array([pos[0], pos[1], 2 * p.housing_half[2] + p.stem_height
                         + 2 * p.cap_half_height])

    def object_poses(self) -> dict[str, Pose]:
        return {"button_cap_top": Pose.from_rotation(self.cap_top(),
                                                     Rotation.from_euler("z", self._yaw))}
