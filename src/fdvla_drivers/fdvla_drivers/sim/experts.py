"""Scripted experts for the simulated tasks, using privileged object poses.

Each expert plans a timed path of TCP waypoints when it first acts (from the measured TCP pose)
and then, every time it is asked, returns the next stretch of that path as an ActionChunk, the
same thing a policy sends. Contact comes from commanding targets a few millimetres *into* the
object: the servo's finite stiffness turns that into force.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from fdvla_msgs.types import ActionChunk, Pose, RobotState, equivalent_yaw, tool_yaw
from fdvla_drivers import quat
from fdvla_drivers.sim.tasks import ButtonTask, PlugTask, SimTask, WipeTask, tool_down


@dataclass
class ExpertConfig:
    #: Average speed of free-space moves (m/s); min-jerk peaks at 1.875x this.
    travel_speed: float = 0.10
    #: Speed of the approach into contact (m/s): impacts scale with it.
    contact_speed: float = 0.02
    #: Speed of the last few centimetres above an object before contact.
    descent_speed: float = 0.05
    #: Speed while sliding in contact (wiping).
    wipe_speed: float = 0.06
    max_angular_speed: float = 0.4  # rad/s, average
    horizon: float = 1.0  # s of path per chunk
    chunk_dt: float = 0.05  # s between chunk points
    #: Clearance above objects for the approach.
    approach_height: float = 0.04


def _min_jerk(s: np.ndarray) -> np.ndarray:
    s = np.clip(s, 0.0, 1.0)
    return s**3 * (10 - 15 * s + 6 * s**2)


class WaypointPath:
    """Poses joined by min-jerk segments (position lerp, rotation slerp), on absolute times."""

    def __init__(self, t0: float, start: Pose):
        self.times = [t0]
        self.poses = [start]

    def add(self, pose: Pose, duration: float) -> "WaypointPath":
        self.times.append(self.times[-1] + max(duration, 1e-3))
        self.poses.append(pose)
        return self

    def move(self, pose: Pose, speed: float, max_angular_speed: float,
             min_duration: float = 0.3) -> "WaypointPath":
        dp, dr = self.poses[-1].distance_to(pose)
        return self.add(pose, max(dp / speed, dr / max_angular_speed, min_duration))

    def hold(self, duration: float) -> "WaypointPath":
        return self.add(self.poses[-1], duration)

    @property
    def end_time(self) -> float:
        return self.times[-1]

    def sample(self, t: float) -> Pose:
        if t <= self.times[0]:
            return self.poses[0]
        if t >= self.times[-1]:
            return self.poses[-1]
        i = int(np.searchsorted(self.times, t, side="right")) - 1
        t0, t1 = self.times[i], self.times[i + 1]
        s = float(_min_jerk(np.array((t - t0) / (t1 - t0))))
        a, b = self.poses[i], self.poses[i + 1]
        qb = b.quat_xyzw if a.quat_xyzw @ b.quat_xyzw >= 0 else -b.quat_xyzw
        return Pose((1 - s) * a.position + s * b.position, quat.slerp(a.quat_xyzw, qb, s))


class ScriptedExpert:
    """Base: plan on the first call, then serve chunks of the plan."""

    def __init__(self, task: SimTask, config: ExpertConfig | None = None):
        self.task = task
        self.cfg = config or ExpertConfig()
        self.path: Optional[WaypointPath] = None
        self.reset()

    def reset(self) -> None:
        self.path = None

    def plan(self, state: RobotState, now: float) -> WaypointPath:
        raise NotImplementedError

    def done(self, now: float) -> bool:
        return self.path is not None and now >= self.path.end_time

    def act(self, state: RobotState, now: float) -> ActionChunk:
        if self.path is None:
            self.path = self.plan(state, now)
        n = int(round(self.cfg.horizon / self.cfg.chunk_dt)) + 1
        times = np.arange(n) * self.cfg.chunk_dt
        return ActionChunk(now, times, tuple(self.path.sample(now + t) for t in times))

    # helpers
    def _free(self, path: WaypointPath, pose: Pose) -> None:
        path.move(pose, self.cfg.travel_speed, self.cfg.max_angular_speed)

    def _descend(self, path: WaypointPath, pose: Pose) -> None:
        path.move(pose, self.cfg.descent_speed, self.cfg.max_angular_speed)

    def _contact(self, path: WaypointPath, pose: Pose, speed: float | None = None) -> None:
        path.move(pose, speed or self.cfg.contact_speed, self.cfg.max_angular_speed)


def _current_yaw(state: RobotState) -> float:
    """Yaw of the tool about base z, relative to the tool-down orientation."""
    return tool_yaw(state.tcp_pose.rotation)


class ButtonExpert(ScriptedExpert):
    """Approach, press until the cap latches, keep pressing `release_delay` s, then let go: rise
    from the pressing target to `release_height` above the released cap's top and hold there for
    good. The delay keeps the release out of what a policy sees coming before the latch (the
    pressing it learns goes well past the latch point); the lit status ring is what tells it
    afterwards that the press is done."""

    #: How far below the released cap's top the press is aimed (beyond the full travel, so the
    #: servo's stiffness pushes the cap onto its stop).
    overpress: float = 0.012
    #: s of pressing after the latch engages before the release starts.
    release_delay: float = 0.8
    #: Where the tool waits after the release, above the released cap's top.
    release_height: float = 0.03

    def reset(self) -> None:
        super().reset()
        self.latched_at: Optional[float] = None
        self.released_at: Optional[float] = None

    def act(self, state, now):
        if self.path is not None and self.released_at is None and self.task.success():
            if self.latched_at is None:
                self.latched_at = now
            if now >= self.latched_at + self.release_delay - 1e-9:
                self.released_at = now
                path = WaypointPath(now, self.path.sample(now))
                rot = path.poses[0].rotation
                up = self.task.cap_top() + [0, 0, self.release_height]
                path.move(Pose.from_rotation(up, rot), self.cfg.descent_speed,
                          self.cfg.max_angular_speed)
                self.path = path  # ends holding its last pose
        return super().act(state, now)

    def plan(self, state, now):
        task: ButtonTask = self.task
        top = task.cap_top()
        rot = state.tcp_pose.rotation
        path = WaypointPath(now, state.tcp_pose)
        above = Pose.from_rotation(top + [0, 0, self.cfg.approach_height], rot)
        self._free(path, above)
        self._descend(path, Pose.from_rotation(top + [0, 0, 0.006], rot))
        pressed = Pose.from_rotation(top - [0, 0, task.p.travel + self.overpress], rot)
        self._contact(path, pressed)
        return path  # holds the press until the latch (act)


class PlugExpert(ScriptedExpert):
    #: Aim this far below the hole's bottom so the plug is pushed home.
    overpress: float = 0.004

    def plan(self, state, now):
        task: PlugTask = self.task
        top = task.hole_top()
        socket_yaw = task.object_poses()["socket_hole_top"].rotation.as_euler("xyz")[2]
        yaw = equivalent_yaw(socket_yaw, task.target_yaw_symmetry, near=_current_yaw(state))
        rot = tool_down(yaw)
        path = WaypointPath(now, state.tcp_pose)
        self._free(path, Pose.from_rotation(top + [0, 0, self.cfg.approach_height], rot))
        self._descend(path, Pose.from_rotation(top + [0, 0, 0.004], rot))
        path.hold(0.15)
        bottom = top - [0, 0, task.p.hole_depth + self.overpress]
        self._contact(path, Pose.from_rotation(bottom, rot))
        path.hold(0.3)
        return path


class WipeExpert(ScriptedExpert):
    #: Aim this far below the board's surface while wiping.
    press_depth: float = 0.005
    #: Wipe this far past the first and last mark of each stroke.
    overshoot: float = 0.015

    def plan(self, state, now):
        task: WipeTask = self.task
        board_yaw = task.object_poses()["board_surface"].rotation.as_euler("xyz")[2]
        # The pad is a rectangle: aligned with the board, either way round.
        yaw = equivalent_yaw(board_yaw, task.target_yaw_symmetry, near=_current_yaw(state))
        rot = tool_down(yaw)
        z_surface = task.surface_z
        here = state.tcp_pose.position[:2]
        path = WaypointPath(now, state.tcp_pose)
        pressing = False
        for a, b in wipe_passes(task, here, self.overshoot):
            if not pressing:
                above = [*a, z_surface + self.cfg.approach_height]
                self._free(path, Pose.from_rotation(above, rot))
                self._descend(path, Pose.from_rotation([*a, z_surface + 0.004], rot))
                self._contact(path, Pose.from_rotation([*a, z_surface - self.press_depth], rot))
                pressing = True
            else:
                self._contact(path, Pose.from_rotation([*a, z_surface - self.press_depth], rot),
                              self.cfg.wipe_speed)
            self._contact(path, Pose.from_rotation([*b, z_surface - self.press_depth], rot),
                          self.cfg.wipe_speed)
            here = b
        self._free(path, Pose.from_rotation([*here, z_surface + self.cfg.approach_height], rot))
        return path


def wipe_passes(task: WipeTask, start_xy, overshoot: float) -> list:
    """The wiping passes over the board's marks, [(from_xy, to_xy)]: each stroke once, the
    nearest stroke end next, along the stroke and `overshoot` m past both of its ends."""
    marks = task.marks_world()[:, :2]
    k = task.p.dots_per_stroke
    strokes = [marks[i:i + k] for i in range(0, len(marks), k)]
    here, passes = np.asarray(start_xy, dtype=np.float64), []
    while strokes:
        ends = [(np.linalg.norm(s[0] - here), i, False) for i, s in enumerate(strokes)]
        ends += [(np.linalg.norm(s[-1] - here), i, True) for i, s in enumerate(strokes)]
        _, i, flip = min(ends)
        s = strokes.pop(i)[::-1] if flip else strokes.pop(i)
        direction = (s[-1] - s[0]) / max(np.linalg.norm(s[-1] - s[0]), 1e-9)
        passes.append((s[0] - direction * overshoot, s[-1] + direction * overshoot))
        here = passes[-1][1]
    return passes


EXPERTS = {"button": ButtonExpert, "plug": PlugExpert, "wipe": WipeExpert}


def make_expert(task: SimTask, config: ExpertConfig | None = None) -> ScriptedExpert:
    """The task's scripted expert; with the "force" physics its wrench-reading script (these
    experts press to fixed depths, which the hidden parameters defeat by design)."""
    if task.physics == "force":
        from fdvla_drivers.sim.force_scripts import make_force_script

        return make_force_script(task, reads_wrench=True)
    try:
        return EXPERTS[task.name](task, config)
    except KeyError:
        raise ValueError(f"no scripted expert for task {task.name!r}") from None
