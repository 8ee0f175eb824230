"""Press an emergency button: a spring-loaded mushroom cap that latches only when fully pressed.

Like an illuminated emergency stop, the button shows that it is latched: a lit status ring around
the collar comes on (and the cap stays down). The ring is a mocap body that rises out of the
housing when the latch engages, so every camera that copies qpos and mocap poses (in-process or
from the shared-memory snapshot) sees it.

Physics "force" (issue 18): the same button, scene and instruction, but the press must be firm
and not too hard, by amounts no camera shows. Per episode, from the episode's rng:

- the return spring's stiffness (200-2800 N/m; nominal 1500), i.e. its force at the hard stop
  S = preload (10 N, as nominal) + stiffness * travel, 12-38 N. The model keeps the nominal
  spring; the difference is a joint force that acts only while the cap is below its released
  position, so the cap rests and settles at exactly the same height whatever the draw, and
  bottoms at the same depth: a stiff button looks exactly like a soft one;
- the latch threshold F_th = S + `latch_overforce` (8 N, fixed): the latch pawl sits behind a
  stiff over-travel spring at the bottom of the travel (too stiff to move visibly), so it takes
  the return spring's force plus a fixed margin to reach it. F_th spans 20-46 N;
- the damage limit F_th + W, W 8-11 N: a harder press breaks the switch block. The episode then
  fails ("pressed too hard") even if the ring lights. At most 57 N, under the 60 N safety stop.

The force that counts is the tool-cap contact force, low-passed over 10 ms (an impact spike of a
step or two is not a press). `force_band()` is (F_th, F_th + W). The plunger's hard stop is firmer
than the nominal one (the same in every episode): with the nominal stop the cap sinks ~1 mm per
8 N into it, which would let a fixed press depth press harder on a stiffer spring, i.e. follow the
hidden band by itself.

Why the cameras cannot do it. Geometry and colours never change, the placement and start pose are
the nominal ones for the same seed (the hidden draw uses a stream of its own), and the cap looks
the same whatever the spring. The latch *engages* while the cap is pressed inside the band, but
the ring lights only when the press then relaxes (the pawl seats as the cap lifts off the
over-travel spring, as in a push-to-latch mechanism), so "push deeper until the ring lights" sees
nothing while pushing and goes on through the band into the damage limit. Once the cap is on its
stop, the force is set by how far the servo target lies below the stop (~3.8 N/mm through the
compliant tool), not by the spring, while the right force depends on the spring: one fixed press
depth succeeds only where its force falls in that episode's band, 8-11 N wide within 20-57 N
(about a third of the episodes at best). With the wrist force, the spring is felt on the way
down (force against depth while the cap travels), which gives S and so the band; the oracle
script does exactly that (`fdvla_drivers.sim.force_scripts.button`). The press's give is in the
tool, on a position-stiff arm (`SimTask.tool_compliance`), so the arm's pose does not tell the
force either: on the compliant servo of the nominal cell its tracking error did (an oracle that
read its force from it pressed 29/30).

What is left to a camera-only agent: pressing again and again, a little deeper each time, and
looking at the ring after each release (the band is wider than a safe depth step). That costs
several press cycles per episode, and the demonstrations (one press) do not show it.
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
    # Physics "force" only (see the module docstring) ------------------------------------
    #: Range of the return spring's force at the hard stop (N), drawn per episode.
    stop_force_range: tuple = (12.0, 38.0)
    #: The latch needs this much more than the return spring's force at the stop (N). Fixed:
    #: a property of the button's design, learnable from demonstrations like the travel.
    latch_overforce: float = 8.0
    #: Range of the width of the force band (N): above threshold + width the button breaks.
    damage_band_range: tuple = (8.0, 11.0)
    #: solref of the plunger's travel limits (timeconst, dampratio): a firm hard stop.
    stop_solref: tuple = (0.005, 1.0)
    #: s over which the latch's holding force comes in once it seats.
    latch_seat: float = 0.05


_LAMP_HALF = 0.0015  # half-thickness of the status ring


class ButtonTask(SimTask):
    name = "button"
    target_name = "button_cap_top"
    instruction = "press the emergency button"
    tool_length = 0.10

    def __init__(self, params: ButtonParams | None = None, **kw):
        super().__init__(**kw)
        self.p = params or ButtonParams()
        self.latched = False
        self.max_depth = 0.0
        self._xy = WORK_CENTRE[:2].copy()
        self._yaw = 0.0
        self._hidden: dict = {}
        self._extra_stiffness = 0.0
        self._reset_force_state()

    @property
    def force(self) -> float:
        """The judged (low-passed) tool-cap contact force, N."""
        return self.judged.value

    @property
    def peak_force(self) -> float:
        return self.judged.peak

    def _reset_force_state(self) -> None:  # the judged force: reset_contact
        self.armed = False  # physics "force": pressed inside the band, waiting for the release
        self.damaged = False
        self._seat = 0.0  # 0..1: how far the latch force has come in (physics "force")

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
        self._jid = jid
        self._qadr = int(model.jnt_qposadr[jid])
        self._dof = int(model.jnt_dofadr[jid])
        geom = lambda n: self._id(mujoco.mjtObj.mjOBJ_GEOM, n)  # noqa: E731
        self._pusher = {geom("pusher_shaft"), geom("pusher_mount")}
        self._cap = {geom("button_cap")}
        if self.physics == "force":
            # A firm hard stop (the nominal joint limit gives ~1 mm per 8 N): the cap's depth past
            # the stop would otherwise grow with the force into it, so a fixed press depth would
            # press harder on a stiffer spring and partly track the hidden band by itself. The
            # same in every episode, so it hides nothing and shows nothing.
            model.jnt_solref[jid] = self.p.stop_solref

    def randomize(self, data, rng):
        p = self.p
        xy = WORK_CENTRE[:2] + self.placement_offset(rng, p.placement_half_extent)
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
        self._reset_force_state()
        if self.physics == "force":
            # A stream of its own (a jump of the episode's generator, which stays untouched):
            # the placement and start pose are the nominal ones for the same seed, whatever
            # the draw.
            self._draw_hidden(np.random.Generator(rng.bit_generator.jumped()))

    def _draw_hidden(self, rng: np.random.Generator) -> None:
        p = self.p
        stop_force = float(rng.uniform(*p.stop_force_range))
        # The return spring's stiffness below the rest position, from the drawn force at the
        # stop with the nominal preload: force(depth) = preload + stiffness * depth.
        stiffness = (stop_force - p.spring_preload) / p.travel
        threshold = stop_force + p.latch_overforce
        damage = threshold + float(rng.uniform(*p.damage_band_range))
        self._hidden = {"spring_stiffness": stiffness, "stop_force": stop_force,
                        "latch_threshold": threshold, "damage_limit": damage}
        # The model keeps the nominal spring; the difference acts only once the cap is pushed
        # below its released position (`_extra_spring`). Where the cap rests (on its upper
        # stop, pushed up by the preload) and how it settles after the reset are then the same
        # in every episode: changing the model's stiffness would shift the rest height.
        self._extra_stiffness = stiffness - p.spring_stiffness

    def _extra_spring(self, d: float) -> float:
        """Joint force (+ lifts the cap) of the hidden part of the return spring at depth d."""
        return self._extra_stiffness * d if d > 0.0 else 0.0

    def hidden_params(self) -> dict:
        return dict(self._hidden) if self.physics == "force" else {}

    def force_band(self) -> tuple[float, float] | None:
        if self.physics != "force" or not self._hidden:
            return None
        return self._hidden["latch_threshold"], self._hidden["damage_limit"]

    def depth(self, data) -> float:
        return float(-data.qpos[self._qadr])

    def _bottomed(self, d: float) -> bool:
        return d >= self.p.travel - self.p.latch_margin

    def _light(self, data) -> None:
        self.latched = True
        data.mocap_pos[self._lamp, 2] = self._lamp_z(True)

    def after_step(self, data):
        d = self.depth(data)
        self.max_depth = max(self.max_depth, d)
        contact = contact_normal_force(self.model, data, self._pusher, self._cap) \
            if data.ncon else 0.0
        self.judge_contact(contact)
        if self.physics == "force":
            self._force_latch(data, d)
            # The latch is mechanical: once engaged it holds the cap down against the spring. It
            # seats while the tool still rests on the cap, so its force comes in over
            # `latch_seat` s: a 45 N step on the light plunger would kick the cap into its firm
            # stop and back up into the tool (a spike of ~80 N the press never made).
            if self.latched:
                self._seat = min(1.0, self._seat + self.model.opt.timestep / self.p.latch_seat)
            data.qfrc_applied[self._dof] = self._extra_spring(d) - self._seat * self.p.latch_force
            return
        if not self.latched and self._bottomed(d):
            self._light(data)
        data.qfrc_applied[self._dof] = -self.p.latch_force if self.latched else 0.0

    def _force_latch(self, data, d: float) -> None:
        """Physics "force": arm inside the band, light on the release, break above the band."""
        h = self._hidden
        if not self.damaged and self.force > h["damage_limit"]:
            self.damaged = True
        if self.latched:
            return
        if not self.armed and self._bottomed(d) and self.force >= h["latch_threshold"]:
            self.armed = True
        # The pawl seats once the press no longer holds the cap on its stop (the contact force
        # drops below the return spring's): the push-to-latch release.
        if self.armed and self.force < h["stop_force"]:
            self._light(data)

    def success(self) -> bool:
        return self.latched and not self.damaged

    def failure_cause(self) -> str:
        if self.success():
            return ""
        if self.damaged:
            return (f"pressed too hard ({self.peak_force:.1f} N > "
                    f"{self._hidden['damage_limit']:.1f} N)")
        if self.armed:
            return (f"latch engaged but the press never relaxed (still {self.force:.1f} N on "
                    f"the cap)")
        if self.physics == "force" and self._bottomed(self.max_depth):
            return (f"pressed too lightly (peak {self.peak_force:.1f} N < "
                    f"{self._hidden['latch_threshold']:.1f} N)")
        return (f"button not latched (pressed {self.max_depth * 1000:.1f} of "
                f"{self.p.travel * 1000:.1f} mm)")

    def progress(self) -> float:
        if self.damaged:
            return 0.0
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
