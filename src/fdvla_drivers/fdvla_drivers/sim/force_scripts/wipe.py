"""Wipe, physics "force": the oracle rubs at the force the ink needs; its blind twin picks a depth.

Both follow one plan, made once from the privileged (vision-level) poses: the board's yaw and
nominal surface height, and the marks' positions. Like `WipeExpert` it visits the nearest
stroke end and wipes along each stroke past its first and last mark, then back again, and
stays on the board between strokes. The two differ only in how deep they press:

- `reads_wrench=True` (oracle): the contact waypoints are planned `oracle_clearance` above the
  nominal surface (above any hidden board height), and every chunk (0.1 s) shifts them by a
  depth correction that an integral force loop updates from the measured normal force
  (`state.wrench[2]`, pressing reads > 0) towards a target: down at `search_speed` until it
  touches, then by a step proportional to the force error over a nominal contact stiffness.
  The target starts at `safe_force`, light enough that even the most slippery board's friction
  cannot smear, and once the pad slides it becomes the band's middle over the friction
  coefficient the wrench shows (tangential over normal force; the largest of the last few
  readings, so a reading at a stroke's turn, where the pad sticks, does not make it press
  harder). The first stroke's way out is slow rubbing that finds the friction; its way back,
  and every later stroke, rubs at the right force. The plan's clock stops at the first touch
  until the force is within `settle_tolerance` of the target.
- `reads_wrench=False` (blind): the contact waypoints are `blind_depth` below the nominal
  surface, all the way. 5.9 mm is the best single depth for the task's distribution (it rubs
  inside the band for ~36 % of the friction, mount stiffness and height draws, computed over
  the distribution; no other depth does better): a policy that sees only the cameras can do no
  better than one such depth (see `fdvla_drivers.sim.tasks.wipe`).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from fdvla_msgs.types import ActionChunk, Pose, RobotState, equivalent_yaw
from fdvla_drivers.sim.experts import ExpertConfig, WaypointPath, _current_yaw, wipe_passes
from fdvla_drivers.sim.tasks import WipeTask, tool_down


class WipeScript:
    #: Blind: the fixed depth below the nominal surface (m); see the module docstring.
    blind_depth: float = 0.0059
    #: Oracle: contact waypoints are planned this far above the nominal surface (m), so that
    #: the force loop, not the plan, decides how deep the pad goes.
    oracle_clearance: float = 0.005
    #: Oracle: how fast the depth correction goes down before the pad touches (m/s).
    search_speed: float = 0.012
    #: Oracle: the contact stiffness the loop assumes (N/m): the tool's ~3850 N/m in series
    #: with a stiff board. A softer board only makes the loop converge more slowly; a loop
    #: assuming a soft one would overshoot on the stiff ones.
    nominal_stiffness: float = 3500.0
    #: Oracle: the fraction of the force error corrected per chunk (the servo and the board's
    #: spring need ~0.1 s to follow a step, the chunk period, so a full step would ring).
    gain: float = 0.5
    #: Oracle: at most this much depth change per chunk (m).
    max_step: float = 0.002
    #: Oracle: the plan waits at the first touch until the force is this close (N) to target.
    settle_tolerance: float = 2.0
    #: Oracle: the normal force (N) to start rubbing with, as a share of the force that would
    #: smear on the most slippery board of the distribution.
    safe_share: float = 0.8
    #: Oracle: the friction coefficient is the largest of this many last readings while sliding.
    friction_window: int = 5
    #: Oracle: readings need at least this normal force (N) and friction force (N).
    min_reading: tuple = (2.0, 0.3)
    #: Force (N) above which the pad counts as touching.
    touch_force: float = 1.0
    #: Oracle: a new depth correction is reached over this time (s): the replanning period.
    ramp_time: float = 0.1
    #: Wipe this far past the first and last mark of each stroke (as WipeExpert).
    overshoot: float = 0.015
    #: Above the contact level the depth correction fades out over this height (m), so lifting
    #: off and descending are not shifted.
    fade_height: float = 0.01

    def __init__(self, task: WipeTask, reads_wrench: bool, config: ExpertConfig | None = None,
                 **overrides):
        self.task = task
        self.reads_wrench = bool(reads_wrench)
        self.cfg = config or ExpertConfig()
        for key, value in overrides.items():
            if not hasattr(type(self), key):
                raise TypeError(f"WipeScript has no setting {key!r}")
            setattr(self, key, value)
        band = task.force_band()
        self.band = band
        if band:  # the band is of the rubbing force: press with its middle over the friction
            self.target_rub = sum(band) / 2
            self.safe_force = self.safe_share * band[1] / task.p.friction[1]
            self.target_force = self.safe_force
        else:  # nominal: aim at 1.5x the erasing force, as the expert's 5 mm does roughly
            self.target_rub = None
            self.target_force = 1.5 * task.p.erase_force
        self.friction_readings: list = []  # oracle: recent friction coefficients while sliding
        self.path: Optional[WaypointPath] = None
        self.contact_z = 0.0  # the plan's contact level (base z)
        self.touch_time = 0.0  # plan time when the first contact waypoint is reached
        self.plan_t = 0.0  # the plan's own clock (the oracle stops it to let the force settle)
        self.last_now: Optional[float] = None
        self.correction = 0.0  # oracle: depth correction added to the contact level (m)
        self.touched = False
        self.settled = False
        self.held = 0.0  # s the oracle held the plan's clock (for reports)
        self._moving = False  # whether the last chunk followed the plan (or held still)

    # ------------------------------------------------------------------ plan
    def plan(self, state: RobotState, now: float) -> WaypointPath:
        task = self.task
        cfg = self.cfg
        board_yaw = task.object_poses()["board_surface"].rotation.as_euler("xyz")[2]
        # The pad is a rectangle: aligned with the board, either way round.
        rot = tool_down(equivalent_yaw(board_yaw, task.target_yaw_symmetry, near=_current_yaw(state)))
        z_surface = task.surface_z
        if self.reads_wrench:
            self.contact_z = z_surface + self.oracle_clearance
        else:
            self.contact_z = z_surface - self.blind_depth
        here = state.tcp_pose.position[:2]
        path = WaypointPath(now, state.tcp_pose)
        first = True
        passes = []
        for a, b in wipe_passes(task, here, self.overshoot):
            passes += [(a, b), (b, a)]  # out and back: the oracle's first way out finds friction
        for a, b in passes:
            if first:
                above = [*a, z_surface + cfg.approach_height]
                path.move(Pose.from_rotation(above, rot), cfg.travel_speed,
                          cfg.max_angular_speed)
                path.move(Pose.from_rotation([*a, max(z_surface + 0.004, self.contact_z)], rot),
                          cfg.descent_speed, cfg.max_angular_speed)
                path.move(Pose.from_rotation([*a, self.contact_z], rot), cfg.contact_speed,
                          cfg.max_angular_speed)
                self.touch_time = path.end_time
                first = False
            else:
                path.move(Pose.from_rotation([*a, self.contact_z], rot), cfg.wipe_speed,
                          cfg.max_angular_speed)
            path.move(Pose.from_rotation([*b, self.contact_z], rot), cfg.wipe_speed,
                      cfg.max_angular_speed)
            here = b
        path.move(Pose.from_rotation([*here, z_surface + cfg.approach_height], rot),
                  cfg.travel_speed, cfg.max_angular_speed)
        return path

    # ------------------------------------------------------------------ agent
    def done(self, now: float) -> bool:
        return self.path is not None and self.plan_t >= self.path.end_time

    def act(self, state: RobotState, now: float) -> Optional[ActionChunk]:
        if self.path is None:
            self.path = self.plan(state, now)
            self.plan_t = now
            self.last_now = now
        dt = max(now - self.last_now, 0.0)
        self.last_now = now
        if self._moving:  # the last chunk moved along the plan for dt
            self.plan_t += dt
        before = self.correction
        advance = True
        if self.reads_wrench and self.plan_t >= self.touch_time - 1e-9 and \
                self.plan_t < self._lift_time():
            advance = self._regulate(state)
        if not advance:
            self.held += dt
        self._moving = advance
        n = int(round(self.cfg.horizon / self.cfg.chunk_dt)) + 1
        times = np.arange(n) * self.cfg.chunk_dt
        # The depth change is a ramp over one replanning period, not a step: the controller
        # lets the target move only about as fast as the chunk itself does, so a step in a
        # still chunk would be followed slowly and the force loop would wind up.
        ramp = np.clip(times / self.ramp_time, 0.0, 1.0)
        corrections = before + ramp * (self.correction - before)
        plan_times = self.plan_t + times if advance else np.full(n, self.plan_t)
        poses = tuple(self._pose_at(t, c) for t, c in zip(plan_times, corrections))
        return ActionChunk(now, times, poses)

    def _lift_time(self) -> float:
        """Plan time when the final lift off the board begins."""
        return self.path.times[-2]

    def _regulate(self, state: RobotState) -> bool:
        """One step of the oracle's force loop (sets the next depth correction); whether the
        plan may move on."""
        force = float(state.wrench[2]) if state.wrench is not None else 0.0
        if not self.touched and force < self.touch_force:
            self.correction -= self.search_speed * self.ramp_time
            return False
        self.touched = True
        if self.settled and self.target_rub is not None:
            self._read_friction(state)
        error = self.target_force - force
        step = np.clip(self.gain * error / self.nominal_stiffness, -self.max_step, self.max_step)
        self.correction -= float(step)
        if not self.settled:
            self.settled = abs(error) <= self.settle_tolerance
            return self.settled
        # Rubbing needs the pad to move: the plan never waits once it slides.
        return True

    def _read_friction(self, state: RobotState) -> None:
        """While sliding: the friction coefficient the wrench shows, and the pressing force
        that rubs at the band's middle with it."""
        w = state.wrench
        if w is None:
            return
        normal, rub = float(w[2]), float(np.hypot(w[0], w[1]))
        if normal < self.min_reading[0] or rub < self.min_reading[1]:
            return
        self.friction_readings = (self.friction_readings + [rub / normal])[-self.friction_window:]
        friction = max(self.friction_readings)
        self.target_force = max(self.safe_force, self.target_rub / friction) if \
            len(self.friction_readings) >= 2 else self.safe_force

    def _pose_at(self, t: float, correction: float) -> Pose:
        pose = self.path.sample(t)
        if not correction:
            return pose
        # Full correction at the contact level, fading out over `fade_height` above it.
        above = pose.position[2] - self.contact_z
        w = float(np.clip(1.0 - above / self.fade_height, 0.0, 1.0))
        return Pose(pose.position + [0.0, 0.0, w * correction], pose.quat_xyzw)
