"""Wipe marker strokes off a whiteboard: a mark is erased only under the eraser pad, and only
while the pad presses on the board with at least `erase_force` newtons.

Physics "force" (issue 18): ink comes off by rubbing, and how hard the pad must press to rub it
off changes per episode where no camera can see it. A mark under the pad is erased while the
pad's friction force on the board (the tangential contact force, 10 ms low-passed) is inside
`force_band()` = (2.5, 5) N; rubbing harder over a mark smears it, which is a failure ("smeared:
rubbed X N > 5 N") however many marks are erased; lighter does nothing. The pad must slide to
rub: pressing without moving erases nothing.

What varies, from the episode's rng (`hidden_params()`):
- `friction`, log-uniform 0.12..0.6: the pad-on-board friction coefficient (board coating, pad
  wear). The normal force that rubs at the band's middle is 3.75 N / friction: 6 to 31 N. A
  MjModel value (`geom_friction` of the pad and the board), which the cameras never read.
- `mount_stiffness`, log-uniform 5000..50000 N/m, the board's spring mount: in series with the
  tool's 3846 N/m (stiff servo and compliant tool) the force per millimetre of commanded depth
  is 2.2..3.6 N/mm.
- `height_offset`, uniform -4..+4 mm: the spring's rest position (`qpos_spring`), so the board
  *is* rendered that much higher or lower. The scene camera sees about 8.6 mm per pixel at the
  board (0.73 m away, 59 degree fovy over 96 rows): under half a pixel; the privileged poses
  (`object_poses`, `surface_z`, `marks_world`) give the nominal height, what vision can tell.

Why force, and why the rubbing force: the wrench shows the friction coefficient directly (the
ratio of the tangential to the normal force while the pad slides), so a policy that reads it
can press with 3.75 N / friction. Without it, a fixed depth (the blind script) lands in the band
for at most ~35 % of the draws (computed over the distribution), and so does a fixed pressing
force: a policy that sees its own pose but not the wrench could hold a *fixed* force on the
nominal cell's compliant servo (its impedance turns the command's lead over the TCP into a force,
4000 N/m; the "force" cell's stiff servo and compliant tool take that away), which is why a band of
normal force, the same every episode, did not need a force sensor (docs/study/force_necessity.md),
but no fixed force rubs inside a 2:1 band for friction that varies 5:1 (at best 43 % of the
draws). The pressing force is nowhere in the images (the board sinks with the pad), and the
marks the pad covers vanish only when it lifts off. Physics "nominal" is the task as it always
was.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
from scipy.spatial.transform import Rotation

from fdvla_msgs.types import Pose
from fdvla_drivers.sim.tasks.base import (WORK_CENTRE, SimTask, contact_force_vector,
                                          contact_normal_force, yaw_quat_wxyz)

_HIDDEN_Z = -0.5  # erased marks are moved under the table, out of every camera's view
_MARK_LIFT = 0.0004  # a mark's centre above the board's surface


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
    # ---- physics "force" only ----
    #: The pad's friction force on the board (N) that rubs the ink off; above it, it smears.
    rub_band: tuple = (2.5, 5.0)
    #: Range of the pad-on-board friction coefficient, sampled log-uniformly.
    friction: tuple = (0.12, 0.6)
    #: Range (N/m) of the board mount's spring stiffness, sampled log-uniformly.
    mount_stiffness: tuple = (5000.0, 50000.0)
    #: Range (m) of the board's rest height about the nominal one, sampled uniformly.
    height_offset: tuple = (-0.004, 0.004)
    #: Damping ratio of the mount (the moving plate's mass is `plate_mass`).
    mount_damping_ratio: float = 0.7
    plate_mass: float = 0.5
    #: Thickness (m) of the board's colliding top layer: the rest is a non-colliding look-alike,
    #: so the sprung board can sink ~1 cm before its colliding part meets the table.
    contact_layer: float = 0.001


class WipeTask(SimTask):
    name = "wipe"
    target_name = "board_surface"
    target_yaw_symmetry = 2  # a rectangular board
    instruction = "wipe the marks off the whiteboard"

    def __init__(self, params: WipeParams | None = None, **kw):
        super().__init__(**kw)
        self.p = params or WipeParams()
        if self.physics == "force":
            self.quality.axis = "tangential"  # the checker judges the rubbing force
        self.holder_length = 0.06
        self.tool_length = self.holder_length + 2 * self.p.pad_half[2]
        self.n_marks = self.p.strokes * self.p.dots_per_stroke
        self._xy = WORK_CENTRE[:2].copy()
        self._yaw = 0.0
        self.mark_xy_board = np.zeros((self.n_marks, 2))
        self.erased = np.zeros(self.n_marks, dtype=bool)
        self.max_normal_force = 0.0
        # physics "force": this episode's hidden parameters and the ink's state
        self._hidden: dict = {}
        self.smeared = np.zeros(self.n_marks, dtype=bool)
        self.smear_force_seen = 0.0  # the (judged) force that smeared, N

    def tool_xml(self) -> str:
        hx, hy, hz = self.p.pad_half
        h = self.holder_length
        return f"""
<geom name="eraser_holder" class="tool" type="box" size="0.015 0.015 {h / 2:.6g}"
      pos="0 0 {h / 2:.6g}" mass="0.1"/>
<geom name="eraser_pad" class="tool" type="box" size="{hx} {hy} {hz}" pos="0 0 {h + hz:.6g}"
      friction="0.35 0.005 0.0001" rgba="0.2 0.3 0.8 1" mass="0.05"/>
"""

    def _marks_xml(self) -> str:
        bz = self.p.board_half[2]
        d = self.p.dot_half
        return "\n".join(
            f'<body name="mark{i}" mocap="true" pos="{WORK_CENTRE[0]} {WORK_CENTRE[1]} '
            f'{2 * bz + _MARK_LIFT}">'
            f'<geom class="decal" type="box" size="{d} {d} 0.0004" rgba="0.05 0.1 0.6 1"/></body>'
            for i in range(self.n_marks))

    def world_xml(self) -> str:
        bx, by, bz = self.p.board_half
        if self.physics == "force":
            return self._sprung_world_xml()
        return f"""
<body name="whiteboard" mocap="true" pos="{WORK_CENTRE[0]} {WORK_CENTRE[1]} 0">
  <geom name="board" class="object" type="box" size="{bx} {by} {bz}" pos="0 0 {bz}"
        friction="0.35 0.005 0.0001" rgba="0.97 0.97 0.97 1"/>
  <geom class="decal" type="box" size="{bx + 0.008} {by + 0.008} {bz * 0.9:.6g}"
        pos="0 0 {bz * 0.9:.6g}" rgba="0.6 0.6 0.62 1"/>
</body>
{self._marks_xml()}
"""

    def _sprung_world_xml(self) -> str:
        """The same board, looking the same, on a vertical spring (slide joint) whose stiffness
        and rest height `randomize` sets per episode. The placement stays a mocap pose."""
        bx, by, bz = self.p.board_half
        t = self.p.contact_layer
        k0 = float(np.sqrt(np.prod(self.p.mount_stiffness)))  # overwritten every episode
        return f"""
<body name="whiteboard" mocap="true" pos="{WORK_CENTRE[0]} {WORK_CENTRE[1]} 0">
  <body name="whiteboard_plate" gravcomp="1">
    <inertial pos="0 0 {bz}" mass="{self.p.plate_mass}" diaginertia="0.002 0.003 0.005"/>
    <joint name="board_mount" type="slide" axis="0 0 1" stiffness="{k0:.6g}"
           damping="{2 * self.p.mount_damping_ratio * np.sqrt(k0 * self.p.plate_mass):.6g}"/>
    <geom name="board" class="object" type="box" size="{bx} {by} {t / 2:.6g}"
          pos="0 0 {2 * bz - t / 2:.6g}" friction="0.35 0.005 0.0001" rgba="0.97 0.97 0.97 1"/>
    <geom class="decal" type="box" size="{bx} {by} {bz - t / 2:.6g}" pos="0 0 {bz - t / 2:.6g}"
          rgba="0.97 0.97 0.97 1"/>
    <geom class="decal" type="box" size="{bx + 0.008} {by + 0.008} {bz * 0.9:.6g}"
          pos="0 0 {bz * 0.9:.6g}" rgba="0.6 0.6 0.62 1"/>
  </body>
</body>
{self._marks_xml()}
"""

    @property
    def surface_z(self) -> float:
        """The board's nominal surface height: what the cameras can tell (with physics "force"
        the true rest height differs by the hidden `height_offset`)."""
        return 2 * self.p.board_half[2]

    def bind(self, model):
        super().bind(model)
        self._board_mocap = self._mocap_id("whiteboard")
        self._mark_mocap = [self._mocap_id(f"mark{i}") for i in range(self.n_marks)]
        self._pad = {self._id(mujoco.mjtObj.mjOBJ_GEOM, "eraser_pad")}
        self._board = {self._id(mujoco.mjtObj.mjOBJ_GEOM, "board")}
        self._pad_id = next(iter(self._pad))
        if self.physics == "force":
            j = self._id(mujoco.mjtObj.mjOBJ_JOINT, "board_mount")
            self._mount_jnt = j
            self._mount_q = int(model.jnt_qposadr[j])
            self._mount_dof = int(model.jnt_dofadr[j])

    def randomize(self, data, rng):
        p = self.p
        self._xy = WORK_CENTRE[:2] + self.placement_offset(rng, p.placement_half_extent)
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
        if self.physics == "force":
            # Drawn after everything the nominal task draws, so the same seed places the board
            # and the marks as in the nominal task.
            self._randomize_mount(data, rng)

    def _randomize_mount(self, data, rng) -> None:
        p = self.p
        lo, hi = np.log(p.mount_stiffness)
        k = float(np.exp(rng.uniform(lo, hi)))
        h = float(rng.uniform(*p.height_offset))
        m = self.model
        m.jnt_stiffness[self._mount_jnt] = k
        m.qpos_spring[self._mount_q] = h
        m.dof_damping[self._mount_dof] = 2 * p.mount_damping_ratio * np.sqrt(k * p.plate_mass)
        data.qpos[self._mount_q] = h  # at rest on its spring (the plate's weight is compensated)
        data.qvel[self._mount_dof] = 0.0
        # Drawn after the mount, so a seed's mount is what it was before friction varied.
        lo, hi = np.log(p.friction)
        mu = float(np.exp(rng.uniform(lo, hi)))
        for g in (self._pad_id, *self._board):
            m.geom_friction[g, 0] = mu  # MuJoCo takes the larger of the two: set both
        self._hidden = {"mount_stiffness": round(k, 1), "height_offset": round(h, 5),
                        "friction": round(mu, 4)}
        self.smeared[:] = False
        self.smear_force_seen = 0.0
        self._follow_board(data)

    def hidden_params(self) -> dict:
        return dict(self._hidden) if self.physics == "force" else {}

    def force_band(self) -> tuple[float, float] | None:
        """Physics "force": the band of the pad's friction (rubbing) force, not its pressing
        force (`quality.axis` says so)."""
        if self.physics != "force":
            return None
        return tuple(self.p.rub_band)

    def board_offset(self, data) -> float:
        """How far (m) the board's surface is above its nominal height now (physics "force":
        rest offset minus the spring's give; 0 with the nominal physics). Privileged."""
        return float(data.qpos[self._mount_q]) if self.physics == "force" else 0.0

    def _follow_board(self, data) -> None:
        """Keep the marks still there on the (moving) board's surface for the cameras."""
        z = self.surface_z + _MARK_LIFT + float(data.qpos[self._mount_q])
        for i, m in enumerate(self._mark_mocap):
            if not self.erased[i]:
                data.mocap_pos[m, 2] = z

    def _board_rotation(self) -> np.ndarray:
        c, s = np.cos(self._yaw), np.sin(self._yaw)
        return np.array([[c, -s], [s, c]])

    def marks_world(self) -> np.ndarray:
        """(N, 3) base-frame positions of the marks (erased ones included), at the nominal
        surface height."""
        xy = self.mark_xy_board @ self._board_rotation().T + self._xy
        return np.column_stack([xy, np.full(len(xy), self.surface_z + _MARK_LIFT)])

    def _under_pad(self, data) -> np.ndarray:
        R = data.geom_xmat[self._pad_id].reshape(3, 3)
        centre = data.geom_xpos[self._pad_id]
        hx, hy, _ = self.p.pad_half
        local = (self.marks_world() - centre) @ R  # mark positions in pad axes
        return (np.abs(local[:, 0]) <= hx) & (np.abs(local[:, 1]) <= hy)

    def _erase(self, data, newly: np.ndarray) -> None:
        if newly.any():
            self.erased |= newly
            for i in np.flatnonzero(newly):
                data.mocap_pos[self._mark_mocap[i], 2] = _HIDDEN_Z

    def after_step(self, data):
        if self.physics == "force":
            self._after_step_force(data)
            return
        if self.erased.all():
            return
        raw = contact_normal_force(self.model, data, self._pad, self._board)
        self.max_normal_force = max(self.max_normal_force, raw)
        force = self.judge_contact(raw)
        if force < self.p.erase_force:
            return
        self._erase(data, self._under_pad(data) & ~self.erased)

    def _after_step_force(self, data) -> None:
        f = contact_force_vector(self.model, data, self._pad, self._board)
        self.max_normal_force = max(self.max_normal_force, abs(float(f[2])))
        # The board turns only about z: its surface's tangent plane is base xy. Ink responds to
        # rubbing held for a few milliseconds, not to one contact spike.
        force = self.judge_contact(float(np.hypot(f[0], f[1])))
        band = self.force_band()
        self._follow_board(data)
        if force < band[0]:
            return
        left = ~self.erased & ~self.smeared
        if not left.any():
            return
        under = self._under_pad(data) & left
        if force > band[1]:
            if under.any():
                self.smeared |= under
                self.smear_force_seen = max(self.smear_force_seen, force)
            return
        self._erase(data, under)

    def success(self) -> bool:
        return bool(self.erased.all())

    def failure_cause(self) -> str:
        if self.physics == "force" and self.smeared.any():
            return (f"smeared: rubbed {self.smear_force_seen:.1f} N > {self.p.rub_band[1]:g} N "
                    f"({int(self.smeared.sum())}/{self.n_marks} marks)")
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
