"""The servo controller: action chunks and teleop twists in, one safe servo target per cycle out.

ROS-free. Commands arrive from ROS callback threads (`submit_chunk`, `submit_twist`,
`set_enabled`, `stop`); `step` runs in the 500 Hz servo thread. Every target leaves through the
`MotionLimiter`, and `step` returns None whenever motion must not be commanded (disarmed, robot
fault, stale robot state, wrench limit): the servo loop then stops the robot.
"""

from __future__ import annotations

import collections
import enum
import threading
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from fdvla_drivers.control import quat
from fdvla_msgs.types import ActionChunk, Pose, RobotState, Twist
from fdvla_drivers.control.safety import MotionLimiter, SafetyLimits, strict_from_dict
from fdvla_drivers.control.trajectory import PoseTrajectory


@dataclass
class ControllerConfig:
    servo_period: float = 0.002  # s (500 Hz)
    #: The robot reaches a commanded target this long after it is sent (servo lookahead,
    #: filtering); the trajectory is sampled this far ahead of now to make up for it.
    action_latency: float = 0.0
    #: Arm on start-up (simulation); hardware setups default to arming by service call.
    start_enabled: bool = False
    #: With start_enabled: arm once the robot state has been fresh and fault-free this long, so
    #: a start-up hiccup delays arming instead of latching a fault before anything moved.
    auto_arm_delay: float = 0.5

    @classmethod
    def from_dict(cls, d: dict | None) -> "ControllerConfig":
        return strict_from_dict(cls, d, "controller option")


class Mode(enum.Enum):
    DISARMED = "disarmed"
    HOLD = "hold"
    CHUNK = "chunk"
    TWIST = "twist"


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str = ""  # short key, counted in diagnostics
    detail: str = ""  # human-readable

    def __bool__(self) -> bool:
        return self.accepted


ACCEPTED = Verdict(True)


class ServoController:
    def __init__(self, config: ControllerConfig | None = None, limits: SafetyLimits | None = None):
        self.config = config or ControllerConfig()
        self.limits = limits or SafetyLimits()
        self._lock = threading.Lock()
        self._limiter = MotionLimiter(self.limits, self.config.servo_period)
        self._armed = False
        self._auto_arm_pending = self.config.start_enabled
        self._healthy_since: Optional[float] = None
        self._mode = Mode.DISARMED
        self._traj: Optional[PoseTrajectory] = None
        self._twist: Optional[Twist] = None
        self._hold: Optional[Pose] = None
        self._state: Optional[RobotState] = None
        self._fault: str = ""
        self._fault_key: str = ""
        self.rejections: collections.Counter = collections.Counter()
        self.accepted = collections.Counter()
        #: (wall time, level, message) of rejections and faults, for the node to log.
        self.events: collections.deque = collections.deque(maxlen=200)

    # ---------------------------------------------------------------- commands (any thread)

    def set_enabled(self, enabled: bool) -> Verdict:
        with self._lock:
            self._auto_arm_pending = False  # the operator decides from here on
            if not enabled:
                self._disarm_locked("disarmed by request", level="info")
                return ACCEPTED
            st = self._state
            if st is None:
                return self._reject_locked("no_state", "cannot arm: no robot state received yet")
            if st.faulted:
                return self._reject_locked("robot_fault", "cannot arm: " + _fault_text(st))
            violation = self.limits.wrench_violation(st.wrench)
            if violation:
                return self._reject_locked("wrench_limit", "cannot arm: " + violation)
            self._armed = True
            self._fault = ""
            self._fault_key = ""
            self._enter_hold_locked(self._limiter.pose or st.tcp_pose)
            return ACCEPTED

    def stop(self, why: str = "stop requested") -> None:
        """Stop motion and hold; motion resumes only after the controller is enabled again."""
        with self._lock:
            self._auto_arm_pending = False
            self._disarm_locked(why, level="warn")

    def submit_chunk(self, chunk: ActionChunk, now: float) -> Verdict:
        with self._lock:
            v = self._check_chunk_locked(chunk, now)
            if not v:
                return self._reject_locked(v.reason, v.detail)
            traj = PoseTrajectory.from_chunk(chunk)
            t = now + self.config.action_latency
            current = self._limiter.pose or self._state.tcp_pose
            self._traj = traj.starting_from(t, current)
            self._twist = None
            self._mode = Mode.CHUNK
            self.accepted["chunk"] += 1
            return ACCEPTED

    def submit_twist(self, twist: Twist, now: float) -> Verdict:
        with self._lock:
            if not self._armed:
                return self._reject_locked("disarmed", "twist ignored: controller is disarmed")
            if not (np.all(np.isfinite(twist.linear)) and np.all(np.isfinite(twist.angular))
                    and np.isfinite(twist.stamp)):
                return self._reject_locked("not_finite", "twist contains NaN/inf")
            lin, ang = np.linalg.norm(twist.linear), np.linalg.norm(twist.angular)
            if lin > self.limits.max_linear_speed or ang > self.limits.max_angular_speed:
                return self._reject_locked(
                    "speed", f"twist {lin:.3f} m/s, {ang:.3f} rad/s above the speed limits")
            if now - twist.stamp > self.limits.twist_timeout:
                return self._reject_locked("stale", f"twist is {now - twist.stamp:.3f} s old")
            self._twist = twist
            self._traj = None
            self._mode = Mode.TWIST
            self.accepted["twist"] += 1
            return ACCEPTED

    def record_rejection(self, key: str, detail: str) -> Verdict:
        """Count a command rejected before it reached the controller (e.g. a malformed message)."""
        with self._lock:
            return self._reject_locked(key, detail)

    # ---------------------------------------------------------------- servo thread

    def step(self, state: Optional[RobotState], now: float) -> Optional[Pose]:
        """The servo target for this cycle, or None when the robot must not be commanded."""
        with self._lock:
            if state is None:
                return None
            self._state = state
            if now - state.stamp > self.limits.state_timeout:
                self._fault_locked("state_stale",
                                   f"robot state is {now - state.stamp:.3f} s old")
                return None
            if state.faulted:
                self._fault_locked("robot_fault", _fault_text(state))
                return None
            violation = self.limits.wrench_violation(state.wrench)
            if violation:
                self._fault_locked("wrench_limit", violation)
                return None
            if self._auto_arm_pending:
                if self._healthy_since is None:
                    self._healthy_since = now
                if now - self._healthy_since >= self.config.auto_arm_delay:
                    self._auto_arm_pending = False
                    self._armed = True
                    self._fault = self._fault_key = ""
                    self._enter_hold_locked(state.tcp_pose)
                    self.events.append((time.time(), "info", "armed (start_enabled)"))
            if not self._armed:
                self._limiter.reset(state.tcp_pose)
                return None
            position, quat_xyzw, v_lin, v_ang = self._wanted_locked(now)
            return self._limiter.step(position, quat_xyzw, v_lin, v_ang)

    # ---------------------------------------------------------------- introspection

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def armed(self) -> bool:
        return self._armed

    @property
    def fault(self) -> str:
        return self._fault

    @property
    def target(self) -> Optional[Pose]:
        return self._limiter.pose

    def status(self) -> dict:
        with self._lock:
            return {
                "mode": self._mode.value,
                "armed": self._armed,
                "fault": self._fault,
                "rejections": dict(self.rejections),
                "accepted": dict(self.accepted),
            }

    # ---------------------------------------------------------------- internals (lock held)

    def _wanted_locked(self, now: float):
        """(position, quaternion, feedforward linear and angular velocity) wanted this cycle."""
        zero = np.zeros(3)
        if self._mode is Mode.CHUNK and self._traj is not None:
            t = now + self.config.action_latency
            if t >= self._traj.end_time:
                self._enter_hold_locked(self._traj.sample(self._traj.end_time))
                return self._hold.position, self._hold.quat_xyzw, zero, zero
            dt = self.config.servo_period
            pa, qa = self._traj.sample_arrays(t)
            pb, qb = self._traj.sample_arrays(t + dt)
            v_ang = quat.to_rotvec(quat.mul(qb, quat.conj(qa))) / dt
            return pa, qa, (pb - pa) / dt, v_ang
        if self._mode is Mode.TWIST and self._twist is not None:
            if now - self._twist.stamp > self.limits.twist_timeout:
                # Teleop went quiet: decelerate and hold where the limiter comes to rest.
                self._twist = None
                self._enter_hold_locked(None)
                self.events.append((time.time(), "info", "twist timed out: holding"))
            else:
                p = self._limiter.pose
                return p.position, p.quat_xyzw, self._twist.linear, self._twist.angular
        if self._hold is None:
            # Holding "wherever the motion stops": keep aiming at the limiter's own pose, which
            # brings the velocity to zero under the acceleration limit; then latch that pose.
            pose = self._limiter.pose
            v_lin, v_ang = self._limiter.velocity
            if np.linalg.norm(v_lin) < 1e-6 and np.linalg.norm(v_ang) < 1e-6:
                self._hold = pose
            return pose.position, pose.quat_xyzw, zero, zero
        return self._hold.position, self._hold.quat_xyzw, zero, zero

    def _check_chunk_locked(self, chunk: ActionChunk, now: float) -> Verdict:
        if not self._armed:
            return Verdict(False, "disarmed", "chunk ignored: controller is disarmed")
        if len(chunk) == 0:
            return Verdict(False, "empty", "chunk has no points")
        if not np.isfinite(chunk.stamp) or not np.all(np.isfinite(chunk.times)) or not all(
                p.is_finite() for p in chunk.poses):
            return Verdict(False, "not_finite", "chunk contains NaN/inf")
        if len(chunk) > 1 and np.any(np.diff(chunk.times) <= 0):
            return Verdict(False, "time_reversed", "chunk times do not increase strictly")
        age = now - chunk.stamp
        if age > self.limits.max_chunk_age:
            return Verdict(False, "stale", f"chunk is {age:.3f} s old "
                           f"(limit {self.limits.max_chunk_age:.3f} s)")
        t = now + self.config.action_latency
        if chunk.stamp + chunk.times[-1] <= t:
            return Verdict(False, "past", "every point of the chunk is in the past")
        outside = [i for i, p in enumerate(chunk.poses) if not self.limits.in_workspace(p.position)]
        if outside:
            p = chunk.poses[outside[0]].position
            return Verdict(False, "workspace", f"point {outside[0]} at {np.round(p, 3).tolist()} "
                           "is outside the workspace box")
        traj = PoseTrajectory.from_chunk(chunk)
        lin, ang = traj.max_speeds()
        if lin > self.limits.max_linear_speed * 1.001 or ang > self.limits.max_angular_speed * 1.001:
            return Verdict(False, "speed", f"chunk needs {lin:.3f} m/s, {ang:.3f} rad/s; limits "
                           f"{self.limits.max_linear_speed} m/s, {self.limits.max_angular_speed} rad/s")
        if self._state is None:
            return Verdict(False, "no_state", "no robot state received yet")
        start = traj.sample(t)
        dp, dr = start.distance_to(self._state.tcp_pose)
        if dp > self.limits.max_start_distance or dr > self.limits.max_start_angle:
            return Verdict(False, "start_far", f"chunk starts {dp * 1000:.1f} mm / "
                           f"{np.rad2deg(dr):.1f} deg from the current TCP pose (limits "
                           f"{self.limits.max_start_distance * 1000:.0f} mm / "
                           f"{np.rad2deg(self.limits.max_start_angle):.0f} deg)")
        return ACCEPTED

    def _enter_hold_locked(self, pose: Optional[Pose]) -> None:
        self._mode = Mode.HOLD
        self._traj = None
        self._twist = None
        self._hold = pose
        if pose is not None and self._limiter.pose is None:
            self._limiter.reset(pose)

    def _disarm_locked(self, why: str, level: str) -> None:
        if self._armed or self._mode is not Mode.DISARMED:
            self.events.append((time.time(), level, why))
        self._armed = False
        self._healthy_since = None
        self._mode = Mode.DISARMED
        self._traj = None
        self._twist = None
        self._hold = None

    def _fault_locked(self, key: str, why: str) -> None:
        # Count a fault once when it starts, not once per 2 ms cycle while it lasts.
        if self._fault_key != key or self._armed:
            self.rejections[key] += 1
            self.events.append((time.time(), "error", f"stopping: {why}"))
        self._fault = why
        self._fault_key = key
        self._disarm_locked(why, level="error")

    def _reject_locked(self, key: str, detail: str) -> Verdict:
        self.rejections[key] += 1
        self.events.append((time.time(), "warn", f"rejected ({key}): {detail}"))
        return Verdict(False, key, detail)


def _fault_text(state: RobotState) -> str:
    if state.emergency_stop:
        return "robot is emergency-stopped"
    if state.protective_stop:
        return "robot is protective-stopped"
    return "robot control program is not running"
