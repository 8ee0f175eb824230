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

from fdvla_drivers import quat
from fdvla_msgs.types import ActionChunk, Pose, RobotState, Twist, chunk_delay
from fdvla_drivers.control.checks import ACCEPTED, Verdict, check_chunk_shape
from fdvla_drivers.control.reach import reach_scale
from fdvla_drivers.control.safety import (LimitError, MotionLimiter, PathEnd, SafetyLimits,
                                         check_fields, strict_from_dict)
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
    #: Before the servo loop starts, watch this long (s, from node creation) for another
    #: controller on the ROS domain (DDS discovery takes 0.5-2 s); 0 skips the check.
    domain_check_wait: float = 3.0

    def validate(self, prefix: str = "") -> None:
        check_fields(self, {"servo_period": (0.0, 0.1, True), "action_latency": (0.0, 1.0, False),
                            "auto_arm_delay": (0.0, 60.0, False),
                            "domain_check_wait": (0.0, 30.0, False)}, prefix)
        if not isinstance(self.start_enabled, bool):
            raise LimitError(f"{prefix}start_enabled: {self.start_enabled!r} is not true/false")

    @classmethod
    def from_dict(cls, d: dict | None, prefix: str = "controller.",
                  servo_period: float | None = None) -> "ControllerConfig":
        """The settings in `d`. The servo period is not one of them: it is the robot backend's
        (another would scale every speed), passed here by whoever holds the backend."""
        period = cls.servo_period if servo_period is None else servo_period
        return strict_from_dict(cls, d, "controller option", prefix,
                                derived={"servo_period": period})


#: Rejection keys that are safety stops (faults that disarm the controller), not refused commands.
SAFETY_STOP_KEYS = ("wrench_limit", "contact_estimate", "robot_fault", "state_stale")

#: Teleop twists are scaled to this fraction below the speed limits (see submit_twist).
TWIST_HEADROOM = 0.1

#: Time constant (s) of the low-pass on the measured wrench and on the sensorless contact-force
#: estimate that the force checks read: a spike of one or two servo cycles (an impact's
#: inertial kick at the sensor, a physics step after a stall) is no press; a press held longer
#: is. Impacts are the robot's own protective stop's (docs/safety.md).
CONTACT_FILTER = 0.01


class Mode(enum.Enum):
    DISARMED = "disarmed"
    HOLD = "hold"
    CHUNK = "chunk"
    TWIST = "twist"




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
        self._reach_limited = False
        self._end: Optional[PathEnd] = None
        self._chunk_speeds = (0.0, 0.0)
        self._hold_end: Optional[PathEnd] = None
        #: Speed caps of the chunk that ended, kept while the target settles at its end.
        self._hold_caps: dict = {}
        #: Sample time (now + action_latency) since which no chunk executes; None while one does.
        self._idle_since: Optional[float] = None
        #: Robot time of the last arming: a chunk predicted before it was planned for a cell the
        #: arm may have left since (a stop, a fault, a reset moved or held it).
        self._armed_at = -np.inf
        self.rejections: collections.Counter = collections.Counter()
        self.accepted = collections.Counter()
        #: Safety actions that are not rejections: twist_scaled, reach_limited, chunk_replaced,
        #: chunk_dropped (a chunk lost before it reached the controller).
        self.counters: collections.Counter = collections.Counter()
        self._twist_received = 0.0
        self._traj_used = True
        self._last_now: Optional[float] = None
        self._path_err_max = 0.0
        self._path_err = 0.0
        self._target_speed_max = 0.0  # m/s, since the last chunk or start of teleop
        self._tracking_err = 0.0
        self._contact_estimate: Optional[float] = None
        self._wrench: Optional[np.ndarray] = None  # the measured wrench, low-passed
        #: Robot time since which a commanded press has been at the press limit (or None).
        self._pressed_since: Optional[float] = None
        #: While backing off after a force/contact stop: (unit direction away from the contact,
        #: servo target where the stop came); None otherwise.
        self._retract: Optional[tuple] = None
        self._retract_mm = 0.0
        self.last_rejection = ""  # "<key>: <detail>" of the newest rejected command
        self._reach_cond = 0.0
        self.fault_detail_source = None  # optional callable -> str: the robot's own reason
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
            self._armed_at = st.stamp
            self._enter_hold_locked(self._limiter.pose or st.tcp_pose,
                                    idle_since=st.stamp + self.config.action_latency)
            return ACCEPTED

    def stop(self, why: str = "stop requested") -> None:
        """Stop motion and hold; motion resumes only after the controller is enabled again."""
        with self._lock:
            self._auto_arm_pending = False
            self._disarm_locked(why, level="warn")

    def submit_chunk(self, chunk: ActionChunk, now: float) -> Verdict:
        # Everything that needs only the chunk is checked (and the trajectory built) before the
        # lock is taken, so a long chunk never stalls the servo thread.
        v, traj, speeds = check_chunk_shape(chunk, self.limits)
        with self._lock:
            t = now + self.config.action_latency
            delay = 0.0
            if v:
                # The contract's timing rule: a chunk that finds the arm holding starts from it.
                delay = chunk_delay(chunk.stamp, t, self._idle_since)
                traj = traj.shifted(delay)
                v = self._check_chunk_locked(chunk, traj, now)
            if not v:
                return self._reject_locked(v.reason, v.detail)
            if delay > 0.0:
                self.counters["chunk_retimed"] += 1
            current = self._limiter.pose or self._state.tcp_pose
            if self._mode is Mode.CHUNK and self._traj is not None and not self._traj_used:
                self.counters["chunk_replaced"] += 1
            self._traj = traj.starting_from(t, current)
            self._traj_used = False
            # A one-point chunk has no segment of its own: its speed is the joining segment's.
            self._chunk_speeds = speeds if len(chunk) > 1 else self._traj.max_speeds()
            self._path_err_max = 0.0
            self._target_speed_max = 0.0
            self._end = PathEnd(self._traj.positions[-1], self._traj.end_direction(),
                                self._traj.remaining_length(t))
            self._twist = None
            self._mode = Mode.CHUNK
            self._idle_since = None
            self.accepted["chunk"] += 1
            return ACCEPTED

    def submit_twist(self, twist: Twist, now: float) -> Verdict:
        with self._lock:
            if not (np.all(np.isfinite(twist.linear)) and np.all(np.isfinite(twist.angular))
                    and np.isfinite(twist.stamp)):
                return self._reject_locked("not_finite", "twist contains NaN/inf")
            if twist.stamp - now > self.limits.max_future:
                return self._reject_locked("future", f"twist stamped {twist.stamp - now:.3f} s "
                                           "ahead of the robot clock")
            if not self._armed:
                return self._reject_locked("disarmed", "twist ignored: controller is disarmed")
            if now - twist.stamp > self.limits.twist_timeout:
                return self._reject_locked("stale", f"twist is {now - twist.stamp:.3f} s old")
            lin, ang = np.linalg.norm(twist.linear), np.linalg.norm(twist.angular)
            # Teleop convention (spacenav, MoveIt Servo): an over-limit twist is scaled down to
            # the limit, direction kept, not refused. The limit is the TCP's: the TCP follows
            # the target through the robot's servo, which overshoots a velocity step while it
            # catches up its lag (5 % in the sim, 9 % over 10 ms with loop stalls), so the
            # target keeps TWIST_HEADROOM below it.
            vmax = self.limits.max_linear_speed * (1.0 - TWIST_HEADROOM)
            wmax = self.limits.max_angular_speed * (1.0 - TWIST_HEADROOM)
            k = min(1.0, vmax / lin if lin > 0 else 1.0, wmax / ang if ang > 0 else 1.0)
            if k < 1.0:
                self.counters["twist_scaled"] += 1
                twist = Twist(twist.stamp, twist.linear * k, twist.angular * k)
            self._twist = twist
            self._twist_received = now  # the dead-man timeout counts from receipt
            if self._mode is not Mode.TWIST:
                self._target_speed_max = 0.0
            self._traj = None
            self._mode = Mode.TWIST
            self.accepted["twist"] += 1
            return ACCEPTED

    def clear_fault(self) -> None:
        """Forget a latched fault once its cause is gone; arming stays the operator's call."""
        with self._lock:
            if self._fault:
                self.events.append((time.time(), "info", f"fault cleared: {self._fault}"))
            self._fault = self._fault_key = ""

    def record_drop(self, key: str, n: int = 1) -> None:
        """Count commands lost before they reached the controller (e.g. a QoS queue overflow)."""
        with self._lock:
            self.counters[key] += n

    def record_rejection(self, key: str, detail: str) -> Verdict:
        """Count a command rejected before it reached the controller (e.g. a malformed message)."""
        with self._lock:
            return self._reject_locked(key, detail)

    # ---------------------------------------------------------------- servo thread

    def step(self, state: Optional[RobotState], now: float,
             contact: Optional[float] = None) -> Optional[Pose]:
        """The servo target for this cycle, or None when the robot must not be commanded.

        `contact`: the backend's contact-force estimate (N) on sensorless setups, else None."""
        with self._lock:
            if state is None:
                return None
            self._state = state
            nominal = self.config.servo_period
            # The measured period on the robot's own clock (its state stamps), bounded: a stalled
            # cycle must not become one big jump, and no robot time passed means no motion.
            dt = nominal if self._last_now is None else state.stamp - self._last_now
            dt = min(max(dt, 1e-5), 10.0 * nominal)
            self._last_now = state.stamp
            if now - state.stamp > self.limits.state_timeout:
                self._fault_locked("state_stale",
                                   f"robot state is {now - state.stamp:.3f} s old")
                return None
            if state.faulted:
                self._fault_locked("robot_fault", self._robot_fault_text(state))
                return None
            wrench = self._filter_wrench_locked(state.wrench, dt)
            force, normal = self._contact_locked(wrench, state, contact, dt)
            key, violation = "wrench_limit", self.limits.wrench_violation(wrench)
            if not violation and state.wrench is None:
                key, violation = "contact_estimate", \
                    self.limits.contact_violation(self._contact_estimate)
            # How long a commanded press has been held at the press limit (robot time).
            pressing = self._armed and self.limits.at_press_limit(force)
            self._pressed_since = (self._pressed_since if self._pressed_since is not None
                                   else state.stamp) if pressing else None
            if not violation and pressing:
                violation = self.limits.press_violation(force, state.stamp - self._pressed_since,
                                                        sensorless=state.wrench is None)
            if violation and (self._armed or self._retract is None):
                was_armed = self._armed
                self._fault_locked(key, violation)
                if was_armed:  # a stop of commanded motion: relieve the contact, then hold
                    self._start_retract_locked(normal)
            if self._retract is not None:
                if not self._armed:
                    return self._retract_step_locked(force, dt)
                self._retract = None  # re-armed by the operator: motion is theirs again
            if violation:
                return None
            if self._auto_arm_pending:
                if self._healthy_since is None:
                    self._healthy_since = now
                if now - self._healthy_since >= self.config.auto_arm_delay:
                    self._auto_arm_pending = False
                    self._armed = True
                    self._fault = self._fault_key = ""
                    self._armed_at = state.stamp
                    self._enter_hold_locked(state.tcp_pose,
                                            idle_since=now + self.config.action_latency)
                    self.events.append((time.time(), "info", "armed (start_enabled)"))
            if not self._armed:
                self._limiter.reset(state.tcp_pose)
                return None
            if self._limiter.pose is not None:
                self._tracking_err = float(np.linalg.norm(self._limiter.pose.position
                                                          - state.tcp_pose.position))
            position, quat_xyzw, v_lin, v_ang, caps = self._wanted_locked(now, dt)
            v_dir, w_dir = self._limiter.velocity
            # How far the servo target leads the measured TCP, in position and orientation.
            aim, here = self._limiter.pose, state.tcp_pose
            lead = np.concatenate([aim.position - here.position, quat.to_rotvec(
                quat.mul(aim.quat_xyzw, quat.conj(here.quat_xyzw)))])
            scale, cond = reach_scale(state.q, v_lin + v_dir, v_ang + w_dir,
                                      self.limits.singularity_slow,
                                      self.limits.singularity_stop, lead,
                                      tcp=here.position)
            if cond == cond:  # NaN while not moving: keep the last value for diagnostics
                self._reach_cond = cond
            if scale < 1.0 and (np.any(v_lin) or np.any(v_ang) or np.any(v_dir)):
                if not self._reach_limited:
                    self.counters["reach_limited"] += 1
                    self.events.append((time.time(), "warn", "slowing: near the reach limit or "
                                        f"a singularity (condition {self._reach_cond:.0f})"))
                self._reach_limited = True
            elif scale >= 1.0:
                self._reach_limited = False
            # Near contact, the speed into it is capped so the force stop can still hold
            # max_force (SafetyLimits.contact_speed_cap); a few newtons give no usable normal.
            press = None
            if normal is not None and self.limits.retract_force < force < np.inf:
                press = (normal, self.limits.contact_speed_cap(force))
            previous = self._limiter.pose.position
            target = self._limiter.step(position, quat_xyzw, v_lin, v_ang, dt=dt, scale=scale,
                                        press=press, **caps)
            if dt > 1e-4:
                self._target_speed_max = max(self._target_speed_max, float(
                    np.linalg.norm(target.position - previous)) / dt)
            if self._mode is Mode.CHUNK and self._traj is not None:
                self._traj_used = True
                ref, _ = self._traj.sample_arrays(now + self.config.action_latency)
                self._path_err = float(np.linalg.norm(target.position - ref))
                self._path_err_max = max(self._path_err_max, self._path_err)
            return target

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
                "counters": dict(self.counters),
                "path_err_mm": self._path_err * 1e3,
                "path_err_max_mm": self._path_err_max * 1e3,
                "target_speed_max": self._target_speed_max,
                "tracking_err_mm": self._tracking_err * 1e3,
                "contact_estimate_n": self._contact_estimate,
                "retract_mm": self._retract_mm,
                "last_rejection": self.last_rejection,
                "reach_condition": self._reach_cond,
            }

    # ---------------------------------------------------------------- internals (lock held)

    def _wanted_locked(self, now: float, dt: float):
        """(position, quaternion, feedforward linear and angular velocity, limiter caps)."""
        zero = np.zeros(3)
        if self._mode is Mode.CHUNK and self._traj is not None:
            t = now + self.config.action_latency
            if t >= self._traj.end_time:
                end_time = self._traj.end_time
                self._enter_hold_locked(self._traj.sample(end_time), idle_since=end_time)
                self._hold_end = self._end
                # A target still behind the path's end finishes at the chunk's speed: what a
                # late chunk missed is not chased at the limiter's full speed.
                self._hold_caps = self._chunk_caps()
                return self._hold.position, self._hold.quat_xyzw, zero, zero, self._end_caps()
            pa, qa = self._traj.sample_arrays(t)
            v_lin, v_ang = self._traj.velocity_at(t)
            # Speed cap (_chunk_caps): the chunk's own fastest segment, not the joining segment
            # from the current pose a late chunk creates.
            p = self._limiter.pose.position
            speed = float(np.linalg.norm(v_lin))
            u = v_lin / speed if speed > 1e-9 else self._end.direction
            end = PathEnd(self._end.position, self._end.direction,
                          self._traj.remaining_length(t) + float((pa - p) @ u))
            caps = {**self._chunk_caps(), "end": end}
            return pa, qa, v_lin, v_ang, caps
        if self._mode is Mode.TWIST and self._twist is not None:
            # From receipt, or from the stamp if that is older (a backlog of queued twists must
            # not extend the motion; a future stamp was rejected on arrival).
            if now - min(self._twist_received, self._twist.stamp) > self.limits.twist_timeout:
                # Teleop went quiet: decelerate and hold where the limiter comes to rest.
                self._twist = None
                self._enter_hold_locked(None, idle_since=now + self.config.action_latency)
                self.events.append((time.time(), "info", "twist timed out: holding"))
            else:
                p = self._limiter.pose
                return p.position, p.quat_xyzw, self._twist.linear, self._twist.angular, {}
        if self._hold is None:
            # Holding "wherever the motion stops": keep aiming at the limiter's own pose, which
            # brings the velocity to zero under the acceleration limit; then latch that pose.
            pose = self._limiter.pose
            v_lin, v_ang = self._limiter.velocity
            if np.linalg.norm(v_lin) < 1e-6 and np.linalg.norm(v_ang) < 1e-6:
                self._hold = pose
            return pose.position, pose.quat_xyzw, zero, zero, {}
        return self._hold.position, self._hold.quat_xyzw, zero, zero, self._end_caps()

    def _chunk_caps(self) -> dict:
        """Speed caps while a chunk executes: its own fastest segment plus the stated margin
        (so a lagging target catches up gently), never the limiter's full speed."""
        m = self.limits.path_speed_margin
        seg, seg_w = self._chunk_speeds
        return {"max_lin": seg * (1.0 + m) + 0.005, "max_ang": seg_w * (1.0 + m) + 0.02}

    def _end_caps(self) -> dict:
        """Holding at a chunk's end: the end plane and the chunk's speed still apply while the
        target settles."""
        end = self._hold_end
        if end is None or self._limiter.pose is None:
            return {}
        d = float((end.position - self._limiter.pose.position) @ end.direction)
        return {**self._hold_caps, "end": PathEnd(end.position, end.direction, d)}

    def _check_chunk_locked(self, chunk: ActionChunk, traj: PoseTrajectory,
                            now: float) -> Verdict:
        if chunk.stamp - now > self.limits.max_future:
            return Verdict(False, "future", f"chunk stamped {chunk.stamp - now:.3f} s ahead of "
                           f"the robot clock (tolerance {self.limits.max_future:.3f} s)")
        if not self._armed:
            return Verdict(False, "disarmed", "chunk ignored: controller is disarmed")
        age = now - chunk.stamp
        if age > self.limits.max_chunk_age:
            return Verdict(False, "stale", f"chunk is {age:.3f} s old "
                           f"(limit {self.limits.max_chunk_age:.3f} s)")
        t = now + self.config.action_latency
        if traj.end_time <= t:
            return Verdict(False, "past", "every point of the chunk is in the past")
        if self._state is None:
            return Verdict(False, "no_state", "no robot state received yet")
        if chunk.stamp < self._armed_at:
            return Verdict(False, "before_arming", f"chunk predicted {self._armed_at - chunk.stamp:.3f} "
                           "s before the controller was armed (a stop or reset came between)")
        start = traj.sample(t)
        dp, dr = start.distance_to(self._state.tcp_pose)
        if dp > self.limits.max_start_distance or dr > self.limits.max_start_angle:
            return Verdict(False, "start_far", f"chunk starts {dp * 1000:.1f} mm / "
                           f"{np.rad2deg(dr):.1f} deg from the current TCP pose (limits "
                           f"{self.limits.max_start_distance * 1000:.0f} mm / "
                           f"{np.rad2deg(self.limits.max_start_angle):.0f} deg)")
        return ACCEPTED

    def _filter_wrench_locked(self, wrench, dt: float):
        """The measured wrench low-passed over CONTACT_FILTER s of robot time (None: no sensor;
        a reading that is not finite passes at once, and is a fault)."""
        if wrench is None:
            self._wrench = None
            return None
        w = np.asarray(wrench, dtype=np.float64)
        if self._wrench is None or not np.all(np.isfinite(w)):
            self._wrench = w if np.all(np.isfinite(w)) else None
            return w
        self._wrench = self._wrench + (w - self._wrench) * min(1.0, dt / CONTACT_FILTER)
        return self._wrench

    def _contact_locked(self, wrench, state: RobotState, contact: Optional[float], dt: float):
        """(contact force in N, unit normal into the contact or None) from the (filtered)
        wrench, or on sensorless setups from the backend's estimate (low-passed; its normal is
        the servo target's lead over the TCP: the direction the servo pushes and the contact
        resists)."""
        if wrench is not None:
            f = np.asarray(wrench[:3], dtype=np.float64)
            n = float(np.linalg.norm(f))
            # The wrench is the force on the tool (UR convention): the contact pushes it back,
            # so the motion into the contact is against it.
            return n, (-f / n if np.isfinite(n) and n > 1e-9 else None)
        if contact is None:
            return 0.0, None
        # Low-pass over CONTACT_FILTER s of robot time: a servo glitch of one or two cycles
        # must not stop the arm; a press lasting longer does.
        prev = self._contact_estimate
        self._contact_estimate = contact if prev is None or not np.isfinite(contact) \
            else prev + (contact - prev) * min(1.0, dt / CONTACT_FILTER)
        if self._limiter.pose is None:
            return self._contact_estimate, None
        lead = self._limiter.pose.position - state.tcp_pose.position
        d = float(np.linalg.norm(lead))
        return self._contact_estimate, (lead / d if d > 1e-6 else None)

    def _start_retract_locked(self, normal) -> None:
        """After a force or contact stop: the servo target stops dead where it is (as the
        robot's own stop would) and will back off along the contact normal (_retract_step)."""
        if normal is None or self.limits.retract_distance <= 0 or self._limiter.pose is None:
            return  # no direction known (or retract disabled): hold where stopped
        self._limiter.reset(self._limiter.pose)
        self._retract = (-np.asarray(normal, dtype=np.float64),
                         self._limiter.pose.position.copy())
        self._retract_mm = 0.0
        self.counters["force_retract"] += 1

    def _retract_step_locked(self, force: float, dt: float) -> Optional[Pose]:
        """One cycle of the clamping relief: back off at retract_speed until the force is below
        retract_force (or retract_distance is used up), decelerate, then hold (None: the servo
        loop stops the robot there)."""
        away, origin = self._retract
        pose = self._limiter.pose
        moved = float((pose.position - origin) @ away)
        self._retract_mm = moved * 1e3
        lim = self.limits
        if force < lim.retract_force or moved >= lim.retract_distance - 1e-6:
            if float(np.linalg.norm(self._limiter.velocity[0])) < 1e-6:
                self._retract = None
                self.events.append((time.time(), "info", f"backed off {moved * 1e3:.1f} mm "
                                    f"from the contact ({force:.1f} N left): holding"))
                return None
            return self._limiter.step(pose.position, pose.quat_xyzw, dt=dt)  # decelerate
        # Decelerates into retract_distance and never passes it (the limiter's path end).
        end = PathEnd(origin + away * lim.retract_distance, away, lim.retract_distance - moved)
        return self._limiter.step(pose.position, pose.quat_xyzw, away * lim.retract_speed,
                                  dt=dt, max_lin=lim.retract_speed, end=end)

    def _robot_fault_text(self, state: RobotState) -> str:
        text = _fault_text(state)
        if self.fault_detail_source is not None:
            try:
                reason = self.fault_detail_source()
            except Exception:
                reason = ""
            if reason:
                text += f": {reason}"
        return text

    def _enter_hold_locked(self, pose: Optional[Pose], idle_since: float) -> None:
        self._idle_since = idle_since
        self._hold_end = None
        self._hold_caps = {}
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
        self._retract = None
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
        self.last_rejection = f"{key}: {detail}"
        self.events.append((time.time(), "warn", f"rejected ({key}): {detail}"))
        return Verdict(False, key, detail)


def _fault_text(state: RobotState) -> str:
    if state.emergency_stop:
        return "robot is emergency-stopped"
    if state.protective_stop:
        return "robot is protective-stopped"
    return "robot control program is not running"
