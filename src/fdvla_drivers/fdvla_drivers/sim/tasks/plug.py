"""Insert a plug held by the tool into a socket with about 1 mm clearance.

Physics "force" (issue 18) keeps the task and its instruction but makes the last millimetres a
matter of touch, as on a real connector:

- The hole has a 45 degree chamfer (`ForcePlugParams.chamfer`, the same every episode) and the
  socket pose a script or expert is given (`object_poses`) is off by a few millimetres in x and
  y (drawn per episode): what a camera at 128x96 localises the hole to. The chamfer turns that
  error into a lateral force on the prong that points at the hole.
- At the bottom of the hole the prong meets the socket's contact carrier, held by a retention
  detent (a Python-side force on its slide joint, like the button's latch). It gives way only
  when pushed with `seat_force` (drawn per episode, invisible); it then clicks in and travels
  to its stop. The socket tolerates up to `max_force` on the carrier (also drawn): more and it
  is "forced", a failure for the rest of the episode.
- Seated, with this physics, means: the nominal depth criterion, the detent clicked, and the
  plug held home with a seating force inside the band (seat_force, max_force) for `hold_time`.

With physics "nominal" the model, the randomisation and the checker are exactly the paper's.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
from scipy.spatial.transform import Rotation

from fdvla_msgs.types import Pose
from fdvla_drivers.sim.tasks.base import (WORK_CENTRE, SimTask, contact_normal_force,
                                          yaw_quat_wxyz)


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


@dataclass
class ForcePlugParams:
    """The "force" physics' geometry (fixed) and the ranges of its hidden parameters."""

    #: Width (and depth) of the 45 degree chamfer around the hole's mouth: it must exceed the
    #: largest pose error below, so the prong always lands on it (or straight in), never on the
    #: flat top face where no lateral force tells which way the hole is.
    chamfer: float = 0.004
    #: Per-axis error of the socket position the scripts are given (uniform, +-): a 128x96
    #: wrist camera sees ~1.5-2 mm per pixel at approach height, the scene camera ~9 mm.
    pose_error: float = 0.003
    #: The contact carrier at the hole's bottom: its travel from rest to its stop, and how far
    #: it yields at `seat_force` before the detent clicks (the rest is free travel, so the click
    #: shows as a force drop of stiffness * (travel - click_travel) on a servoed tool).
    carrier_travel: float = 0.0012
    click_travel: float = 0.0005
    #: Force (N) with which the clicked latch holds the carrier on its stop (no spring-back).
    latch_force: float = 5.0
    #: Hidden per episode (uniform): the detent's breakaway force, and the band's width above
    #: it (max_force = seat_force + width). Widths down to 4 N: a fixed press depth (what a
    #: camera-only policy has) lands inside the band in about one episode in five; the whole
    #: band stays below the controller's 60 N force stop.
    seat_force_range: tuple = (10.0, 40.0)
    band_width_range: tuple = (4.0, 8.0)
    #: Seated counts once the seating force has stayed inside the band this long (s), so that
    #: passing through the band on the way to pushing too hard is not a success.
    hold_time: float = 0.5


class PlugTask(SimTask):
    name = "plug"
    target_name = "socket_hole_top"
    target_yaw_symmetry = 4  # a square socket
    instruction = "insert the plug into the socket"
    #: The detent's click is a longer impulse than a touch-down (the carrier's free travel ends
    #: on its stop): at 10 ms it reads as a push past the band on a tool that only clicked.
    judged_force_time = 0.02

    def __init__(self, params: PlugParams | None = None,
                 force_params: ForcePlugParams | None = None, **kw):
        super().__init__(**kw)
        self.p = params or PlugParams()
        self.fp = force_params or ForcePlugParams()
        self.grip_length = 0.045
        self.tool_length = self.grip_length + self.p.prong_length
        self._xy = WORK_CENTRE[:2].copy()
        self._yaw = 0.0
        self.best_depth = 0.0
        self._seated = False
        # "force" physics state (reset in randomize)
        self._vision_offset = np.zeros(2)
        self.seat_force = 0.0
        self.max_force = 0.0
        self.clicked = False
        self.forced = False
        self._in_band_since: float | None = None
        self._held_home = False

    @property
    def seating_force(self) -> float:
        """Physics "force": the judged (low-passed) force pushing the plug home, N."""
        return self.judged.value

    @property
    def peak_seating_force(self) -> float:
        return self.judged.peak

    @property
    def force_physics(self) -> bool:
        return self.physics == "force"

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
        if self.force_physics:
            return self._force_world_xml()
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

    def _force_world_xml(self) -> str:
        """The socket with a chamfered mouth and a detented contact carrier (same colours).

        Each wall is split at the chamfer's depth: the lower part as in the nominal socket, the
        upper part set back by the chamfer's width, and a slab turned 45 degrees filling the
        corner between them; its face is the chamfer. The slabs lie inside the nominal walls'
        volume, so nothing protrudes into the hole or above the top face."""
        p, fp = self.p, self.fp
        H, W, ch = p.socket_height, p.socket_half_width, fp.chamfer
        h = p.prong_half_width + p.clearance / 2  # half width of the hole
        bottom = H - p.hole_depth
        rgba = 'rgba="0.92 0.92 0.90 1"'
        low_half_h = (p.hole_depth - ch) / 2
        lz = bottom + low_half_h
        side = (W - h) / 2
        c = h + side
        up_side = (W - h - ch) / 2  # half thickness of a set-back upper wall
        uc = h + ch + up_side
        uz = H - ch / 2
        t = ch / 2  # slab half thickness: covers the corner (ch / sqrt 2 thick) with room
        s = ch / np.sqrt(2)  # half length of the chamfer face
        r = h + ch / 2 + t / np.sqrt(2)  # slab centre's distance from the hole's axis
        sz = H - ch / 2 - t / np.sqrt(2)
        span = h + ch  # slabs reach across the set-back corners
        carrier_half = h - 0.0008  # just inside the hole: never touches the walls
        return f"""
<body name="socket" mocap="true" pos="{WORK_CENTRE[0]} {WORK_CENTRE[1]} 0">
  <geom name="socket_base" class="object" type="box" size="{W} {W} {bottom / 2:.6g}"
        pos="0 0 {bottom / 2:.6g}" {rgba}/>
  <geom name="socket_wall_px" class="object" type="box" size="{side:.6g} {W} {low_half_h:.6g}"
        pos="{c:.6g} 0 {lz:.6g}" {rgba}/>
  <geom name="socket_wall_nx" class="object" type="box" size="{side:.6g} {W} {low_half_h:.6g}"
        pos="{-c:.6g} 0 {lz:.6g}" {rgba}/>
  <geom name="socket_wall_py" class="object" type="box" size="{h:.6g} {side:.6g} {low_half_h:.6g}"
        pos="0 {c:.6g} {lz:.6g}" {rgba}/>
  <geom name="socket_wall_ny" class="object" type="box" size="{h:.6g} {side:.6g} {low_half_h:.6g}"
        pos="0 {-c:.6g} {lz:.6g}" {rgba}/>
  <geom name="socket_rim_px" class="object" type="box" size="{up_side:.6g} {W} {ch / 2:.6g}"
        pos="{uc:.6g} 0 {uz:.6g}" {rgba}/>
  <geom name="socket_rim_nx" class="object" type="box" size="{up_side:.6g} {W} {ch / 2:.6g}"
        pos="{-uc:.6g} 0 {uz:.6g}" {rgba}/>
  <geom name="socket_rim_py" class="object" type="box"
        size="{h + ch:.6g} {up_side:.6g} {ch / 2:.6g}" pos="0 {uc:.6g} {uz:.6g}" {rgba}/>
  <geom name="socket_rim_ny" class="object" type="box"
        size="{h + ch:.6g} {up_side:.6g} {ch / 2:.6g}" pos="0 {-uc:.6g} {uz:.6g}" {rgba}/>
  <geom name="socket_chamfer_px" class="object" type="box" size="{s:.6g} {span:.6g} {t:.6g}"
        pos="{r:.6g} 0 {sz:.6g}" zaxis="-1 0 1" {rgba}/>
  <geom name="socket_chamfer_nx" class="object" type="box" size="{s:.6g} {span:.6g} {t:.6g}"
        pos="{-r:.6g} 0 {sz:.6g}" zaxis="1 0 1" {rgba}/>
  <geom name="socket_chamfer_py" class="object" type="box" size="{span:.6g} {s:.6g} {t:.6g}"
        pos="0 {r:.6g} {sz:.6g}" zaxis="0 -1 1" {rgba}/>
  <geom name="socket_chamfer_ny" class="object" type="box" size="{span:.6g} {s:.6g} {t:.6g}"
        pos="0 {-r:.6g} {sz:.6g}" zaxis="0 1 1" {rgba}/>
  <geom name="socket_hole_marker" class="decal" type="box" size="{h:.6g} {h:.6g} 0.0005"
        pos="0 0 {bottom + 0.0005:.6g}" rgba="0.05 0.05 0.05 1"/>
  <body name="socket_carrier" pos="0 0 {bottom + fp.carrier_travel:.6g}">
    <joint name="socket_carrier_joint" type="slide" axis="0 0 1"
           range="{-fp.carrier_travel:.6g} 0" damping="3" armature="5"/>
    <geom name="socket_carrier" class="object" type="box"
          size="{carrier_half:.6g} {carrier_half:.6g} 0.002" pos="0 0 -0.002"
          rgba="0.05 0.05 0.05 1" mass="0.02"/>
  </body>
</body>
"""

    def bind(self, model):
        super().bind(model)
        self._mocap = self._mocap_id("socket")
        tool_geoms = ("plug_prong", "plug_grip")
        self._tool_geoms = {self._id(mujoco.mjtObj.mjOBJ_GEOM, g) for g in tool_geoms}
        self._prong_body = int(model.geom_bodyid[self._id(mujoco.mjtObj.mjOBJ_GEOM, "plug_prong")])
        socket = self._id(mujoco.mjtObj.mjOBJ_BODY, "socket")
        bodies = {socket}
        if self.force_physics:
            carrier = self._id(mujoco.mjtObj.mjOBJ_BODY, "socket_carrier")
            bodies.add(carrier)
            # The hole's floor: the carrier, and the base it sits flush with on its stop.
            self._floor_geoms = {g for g in range(model.ngeom)
                                 if model.geom_bodyid[g] == carrier}
            self._floor_geoms.add(self._id(mujoco.mjtObj.mjOBJ_GEOM, "socket_base"))
            jid = self._id(mujoco.mjtObj.mjOBJ_JOINT, "socket_carrier_joint")
            self._carrier_qadr = int(model.jnt_qposadr[jid])
            self._carrier_dof = int(model.jnt_dofadr[jid])
        self._socket_geoms = {g for g in range(model.ngeom)
                              if model.geom_bodyid[g] in bodies
                              and model.geom_contype[g] | model.geom_conaffinity[g]}

    def randomize(self, data, rng):
        p = self.p
        self._xy = WORK_CENTRE[:2] + self.placement_offset(rng, p.placement_half_extent)
        self._yaw = float(rng.uniform(-p.max_yaw, p.max_yaw))
        data.mocap_pos[self._mocap] = [self._xy[0], self._xy[1], 0.0]
        data.mocap_quat[self._mocap] = yaw_quat_wxyz(self._yaw)
        self.best_depth = 0.0
        self._seated = False
        if self.force_physics:
            # Drawn after the nominal draws, and only here, so that "nominal" consumes the
            # episode rng exactly as before (same placements and start poses per seed).
            fp = self.fp
            self._vision_offset = rng.uniform(-fp.pose_error, fp.pose_error, 2)
            self.seat_force = float(rng.uniform(*fp.seat_force_range))
            self.max_force = self.seat_force + float(rng.uniform(*fp.band_width_range))
            data.qpos[self._carrier_qadr] = 0.0
            data.qvel[self._carrier_dof] = 0.0
            data.qfrc_applied[self._carrier_dof] = 0.0
        self.clicked = False
        self.forced = False
        self._in_band_since = None
        self._held_home = False

    def hole_top(self) -> np.ndarray:
        """The true centre of the hole's mouth (what the checker uses)."""
        return np.array([self._xy[0], self._xy[1], self.p.socket_height])

    def prong_tip(self, data) -> np.ndarray:
        """Base-frame centre of the prong's tip face, from the tool's pose."""
        tool = self._prong_body  # behind the compliance, if the tool has one
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
        if self.force_physics:
            self._force_step(data)
        else:
            self.judge_contact(contact_normal_force(self.model, data, self._tool_geoms,
                                                    self._socket_geoms))

    def _force_step(self, data) -> None:
        fp = self.fp
        m = self.model
        # The force pushing the plug home: on the hole's floor only (the walls' and chamfer's
        # contacts are not the seating force). Judged low-passed: a 2 ms contact impulse at the
        # click is no damage, a sustained push is.
        self.judge_contact(contact_normal_force(m, data, self._tool_geoms, self._floor_geoms))
        if self.seating_force > self.max_force:
            self.forced = True  # the socket is damaged: nothing undoes it this episode
        travel = -float(data.qpos[self._carrier_qadr])
        if not self.clicked and travel >= fp.click_travel:
            self.clicked = True
        # The detent resists any push below seat_force (the joint's upper limit holds the
        # carrier at rest); once clicked, the latch keeps the carrier on its stop.
        data.qfrc_applied[self._carrier_dof] = (-fp.latch_force if self.clicked
                                                else self.seat_force)
        if self._seated and self.clicked and not self.forced and \
                self.seat_force <= self.seating_force <= self.max_force:
            if self._in_band_since is None:
                self._in_band_since = float(data.time)
            self._held_home = data.time - self._in_band_since >= fp.hold_time - 1e-9
        else:
            # Held home is a state too: letting go, or pushing harder, undoes it.
            self._in_band_since = None
            self._held_home = False

    def success(self) -> bool:
        if not self.force_physics:
            return self._seated
        return self._held_home

    def failure_cause(self) -> str:
        if self.success():
            return ""
        if self.force_physics and self.forced:
            return f"forced: {self.peak_seating_force:.1f} N > {self.max_force:.1f} N"
        if not self._seated or (self.force_physics and not self.clicked):
            return (f"plug not seated (deepest {max(self.best_depth, 0.0) * 1000:.1f} of "
                    f"{self.p.hole_depth * 1000:.1f} mm)")
        return (f"plug seated, not held home (seating force {self.seating_force:.1f} N, "
                f"band {self.seat_force:.1f}-{self.max_force:.1f} N)")

    def progress(self) -> float:
        return float(np.clip(self.best_depth / self.p.hole_depth, 0.0, 1.0))

    def object_poses(self) -> dict[str, Pose]:
        """The socket's pose as vision would give it: with physics "force" its position is off
        by this episode's few-millimetre error (the checker uses the true one, `hole_top`)."""
        top = self.hole_top()
        if self.force_physics:
            top[:2] += self._vision_offset
        return {"socket_hole_top": Pose.from_rotation(top, Rotation.from_euler("z", self._yaw))}

    def hidden_params(self) -> dict:
        if not self.force_physics:
            return {}
        return {"seat_force": round(self.seat_force, 2), "max_force": round(self.max_force, 2),
                "vision_offset_mm": [round(float(v) * 1000, 2) for v in self._vision_offset]}

    def force_band(self) -> tuple[float, float] | None:
        return (self.seat_force, self.max_force) if self.force_physics else None
