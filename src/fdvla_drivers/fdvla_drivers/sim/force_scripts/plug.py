"""The plug task's force script: insert from a socket pose known to a few millimetres, then seat
the plug with the force its retention detent asks for, and no more.

Both modes share the plan from vision-level information (`task.object_poses()`, off by a few
millimetres with physics "force", and the socket's fixed, known geometry): move above the hole
at the socket's yaw, descend to just above it. Then:

- `reads_wrench=True` (oracle): descend; where the prong meets the chamfer, press lightly and
  move the target along the lateral force (the chamfer pushes the prong towards the hole) until
  it drops in; near the carrier, lower the target slowly so the force rises at a steady rate;
  the detent's click shows as a force drop (and a jump in depth); the force just before it is
  the seating force, so hold the plug home a little above it (inside the band) by placing the
  target that force's worth of servo stiffness below the measured tip.
- `reads_wrench=False` (blind): the same descent at the vision pose, then press to one fixed
  depth and hold it. That depth is the best single choice for every episode: a press of
  `blind_force` N at the carrier (measured by the bench for a few choices; see the report).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from fdvla_msgs.types import ActionChunk, Pose, RobotState, equivalent_yaw
from fdvla_drivers.sim.experts import ExpertConfig, WaypointPath, _current_yaw
from fdvla_drivers.sim.cell import press_stiffness
from fdvla_drivers.sim.tasks import tool_down

class PlugScript:
    #: Start of the slow seating move: this far above where the prong meets the carrier (m).
    seat_clearance: float = 0.002
    #: Speed of the descent into the hole (m/s) and of the seating move (m/s; with the servo's
    #: stiffness, force rises at ~8 N/s: slow enough to catch the click within one replan).
    insert_speed: float = 0.010
    seat_speed: float = 0.002
    #: Oracle: the light push (N) while finding the hole on the chamfer; lateral forces below
    #: `lateral_deadband` N are ignored; at most `lateral_step` m of correction per replan.
    probe_force: float = 6.0
    lateral_deadband: float = 1.0
    lateral_step: float = 0.001
    #: Oracle: a force drop this large (N) below the peak, or a jump of the prong's depth this
    #: large (m) over the last two replans while seating, is the detent's click. (Through the
    #: compliant tool the carrier's give spreads over ~0.3 s: 0.16, 0.25 and 0.36 mm per replan
    #: on seed 5009, none of them a jump alone.)
    click_drop: float = 1.5
    click_jump: float = 0.0004
    #: Oracle: hold the plug home this much (N) above the force felt just before the click (the
    #: band above the seating force is at least 4 N wide); never push harder than `force_cap`.
    hold_margin: float = 2.0
    #: Oracle: the most the hold moves the target per replan (m; 0.15 mm ~ 0.6 N).
    hold_step: float = 0.00015
    #: s between two calls of `act` (run_episode's replan period).
    replan_period: float = 0.1
    force_cap: float = 52.0
    #: How long to hold the plug home before the plan is over (s).
    hold_duration: float = 2.0
    #: Blind: the press (N at the carrier's rest position) the fixed final depth amounts to.
    blind_force: float = 36.0

    def __init__(self, task, reads_wrench: bool, config: ExpertConfig | None = None,
                 **overrides):
        self.task = task
        #: N/m: a target d below a rigid stop gives ~stiffness * d of force.
        self.stiffness = press_stiffness(task)
        self.reads_wrench = bool(reads_wrench)
        self.cfg = config or ExpertConfig()
        for k, v in overrides.items():
            if not hasattr(self, k):
                raise TypeError(f"PlugScript has no setting {k!r}")
            setattr(self, k, v)
        self.path: Optional[WaypointPath] = None
        self.phase = "approach"
        self._end: Optional[float] = None
        # Oracle state: the commanded pose's start and velocity since the last replan.
        self._anchor: Optional[Pose] = None
        self._anchor_t = 0.0
        self._velocity = np.zeros(3)
        self._ramp_for = 0.0  # s the velocity lasts from the anchor, then the target holds
        self._peak_fz = 0.0
        self._depths: list[float] = []  # the prong's depth at the last two replans
        self.click_force: Optional[float] = None

    # --------------------------------------------------------------------- geometry
    def _carrier_depth(self) -> float:
        """Depth below the hole's mouth where the prong meets the floor (the detented carrier
        with physics "force"): fixed geometry, known like a drawing of the socket."""
        p = self.task.p
        travel = self.task.fp.carrier_travel if self.task.physics == "force" else 0.0
        return p.hole_depth - travel

    # --------------------------------------------------------------------- agent interface
    def done(self, now: float) -> bool:
        if self.reads_wrench:
            return self._end is not None and now >= self._end
        return self.path is not None and now >= self.path.end_time

    def act(self, state: RobotState, now: float) -> Optional[ActionChunk]:
        if self.path is None:
            self.path = self._plan(state, now)
        if not self.reads_wrench or now < self.path.end_time:
            return self._chunk_from_path(now)
        return self._react(state, now)

    # --------------------------------------------------------------------- shared plan
    def _plan(self, state: RobotState, now: float) -> WaypointPath:
        socket = self.task.object_poses()["socket_hole_top"]
        self.top = socket.position.copy()
        yaw = equivalent_yaw(socket.rotation.as_euler("xyz")[2], self.task.target_yaw_symmetry,
                             near=_current_yaw(state))
        self.rot = tool_down(yaw)
        cfg = self.cfg
        path = WaypointPath(now, state.tcp_pose)
        path.move(self._at(cfg.approach_height), cfg.travel_speed, cfg.max_angular_speed)
        path.move(self._at(0.004), cfg.descent_speed, cfg.max_angular_speed)
        path.hold(0.15)
        if self.reads_wrench:
            return path  # the rest reacts to the wrench (_react)
        d = self._carrier_depth()
        path.move(self._at(-(d - self.seat_clearance)), self.insert_speed, cfg.max_angular_speed)
        path.move(self._at(-(d + self.blind_force / self.stiffness)), self.seat_speed,
                  cfg.max_angular_speed)
        path.hold(self.hold_duration + self.task.fp.hold_time)
        return path

    def _at(self, height: float, xy: np.ndarray | None = None) -> Pose:
        """The TCP (the prong's tip) `height` above the hole's mouth, at the socket's yaw."""
        p = self.top + [0.0, 0.0, height]
        if xy is not None:
            p[:2] = xy
        return Pose.from_rotation(p, self.rot)

    def _chunk_from_path(self, now: float) -> ActionChunk:
        n = int(round(self.cfg.horizon / self.cfg.chunk_dt)) + 1
        times = np.arange(n) * self.cfg.chunk_dt
        return ActionChunk(now, times, tuple(self.path.sample(now + t) for t in times))

    # --------------------------------------------------------------------- oracle
    def _commanded(self, now: float) -> Pose:
        """Where the last chunk has the target now."""
        if self._anchor is None:
            return self.path.poses[-1]
        dt = min(now - self._anchor_t, self._ramp_for)
        return Pose(self._anchor.position + self._velocity * dt, self._anchor.quat_xyzw)

    def _react(self, state: RobotState, now: float) -> ActionChunk:
        f = np.asarray(state.wrench[:3], dtype=np.float64)
        fz = float(f[2])  # pressing down reads fz > 0
        tip = state.tcp_pose.position
        depth = self.top[2] - tip[2] - self.task.tool_give(fz)  # of the prong's real tip
        target = self._commanded(now).position.copy()
        velocity = np.zeros(3)
        ramp_for = self.cfg.horizon
        seat_from = self._carrier_depth() - self.seat_clearance

        # Lateral: in contact, the chamfer and the walls push the prong towards the hole's
        # axis; move the target with that push (by the deflection it causes on the servo).
        f_xy = f[:2]
        if fz > 1.0 and np.linalg.norm(f_xy) > self.lateral_deadband:
            step = f_xy / self.stiffness
            norm = np.linalg.norm(step)
            if norm > self.lateral_step:
                step *= self.lateral_step / norm
            target[:2] += step

        if self.phase == "approach":
            self.phase = "insert"
        if self.phase == "insert":
            if depth >= seat_from:
                self.phase = "seat"
                target[2] = min(target[2], tip[2])
            elif fz > self.probe_force:
                # On the chamfer (or jammed): press lightly while the lateral moves centre it.
                target[2] = tip[2] - self.probe_force / self.stiffness
            else:
                velocity[2] = -self.insert_speed
        if self.phase == "seat":
            clicked = (self._peak_fz - fz > self.click_drop
                       or (self._depths and self._peak_fz > self.probe_force
                           and depth - min(self._depths) > self.click_jump))
            if clicked and self._peak_fz > 2.0:
                self.click_force = self._peak_fz
                self.phase = "hold"
                self._end = now + self.hold_duration + self.task.fp.hold_time
            elif fz >= self.force_cap:
                velocity[2] = 0.0  # no click up to the cap: stop pushing, do not force it
            else:
                velocity[2] = -self.seat_speed
            self._peak_fz = max(self._peak_fz, fz)
        if self.phase == "hold":
            # Force control through the stiff servo: the tip rests on the carrier's stop, so
            # moving the target by dF/k changes the press by ~dF. Integral steps, damped and
            # bounded, so the correction never overshoots into the band's unknown top (the
            # servo's stiffness at the tip is not exactly the nominal one).
            want = min(self.click_force + self.hold_margin, self.force_cap)
            dz = np.clip(0.6 * (fz - want) / self.stiffness, -self.hold_step, self.hold_step)
            # Spread over one replan period: a jump would add the servo's damping force
            # (hundreds of N s/m times the target's speed) to the press.
            velocity[2] = dz / self.replan_period
            ramp_for = self.replan_period
        self._depths = (self._depths + [depth])[-2:]

        self._anchor = Pose(target, self.path.poses[-1].quat_xyzw)
        self._anchor_t = now
        self._velocity = velocity
        self._ramp_for = ramp_for
        n = int(round(self.cfg.horizon / self.cfg.chunk_dt)) + 1
        times = np.arange(n) * self.cfg.chunk_dt
        return ActionChunk(now, times, tuple(self._commanded(now + t) for t in times))
