"""The safety layer's limits and the motion limiter that every servo target passes through."""

from __future__ import annotations

from dataclasses import dataclass, field

import math

import numpy as np

from fdvla_drivers import quat
from fdvla_msgs.types import Pose


class LimitError(ValueError):
    """A configuration value is unusable; the message names the key (one line)."""


def _check_number(key: str, value, lo: float, hi: float, lo_open: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LimitError(f"{key}: {value!r} is not a number")
    v = float(value)
    if not math.isfinite(v):
        raise LimitError(f"{key}: {value!r} is not finite")
    if (v <= lo if lo_open else v < lo) or v > hi:
        raise LimitError(f"{key}: {v:g} is outside {'(' if lo_open else '['}{lo:g}, {hi:g}]")
    return v


def check_fields(obj, ranges: dict, prefix: str) -> None:
    """Validate (and coerce to float) the numeric fields of dataclass `obj`: finite, in range."""
    for name, (lo, hi, lo_open) in ranges.items():
        value = getattr(obj, name)
        if value is None and name in getattr(obj, "_optional", ()):
            continue
        setattr(obj, name, _check_number(f"{prefix}{name}", value, lo, hi, lo_open))


def strict_from_dict(cls, d: dict | None, what: str, prefix: str = "",
                     derived: dict | None = None):
    """Build dataclass `cls` from a config mapping, refusing keys it does not know (typos in a
    safety config must not be silently ignored) and values outside their ranges. `derived`:
    fields the code fills in, which are not settings (refused in `d` like unknown keys)."""
    d = dict(d or {})
    derived = dict(derived or {})
    known = sorted(set(cls.__dataclass_fields__) - set(derived))
    unknown = sorted(set(d) - set(known))
    if unknown:
        keys = ", ".join(prefix + k for k in unknown)
        raise LimitError(f"{keys}: unknown {what}; known: {', '.join(known)}")
    try:
        obj = cls(**d, **derived)
    except LimitError as e:  # raised by __post_init__, which does not know the section
        raise LimitError(prefix + str(e)) from None
    if hasattr(obj, "validate"):
        obj.validate(prefix)
    return obj


#: (lower, upper, lower bound open) of every numeric safety limit. Upper bounds are what a UR5e
#: can physically do (1 m/s TCP is already generous; its own protective stop is at 250 N).
SAFETY_RANGES = {
    "max_linear_speed": (0.0, 1.0, True),  # m/s
    "max_angular_speed": (0.0, 3.2, True),  # rad/s (UR5e joints: 180 deg/s)
    "max_linear_accel": (0.0, 10.0, True),  # m/s^2
    "max_angular_accel": (0.0, 40.0, True),  # rad/s^2
    "max_start_distance": (0.0, 0.2, True),  # m
    "max_start_angle": (0.0, math.pi, True),  # rad
    "max_chunk_age": (0.0, 5.0, True),  # s
    "max_future": (0.0, 0.5, True),  # s
    "max_chunk_points": (1.0, 100000.0, False),
    "path_speed_margin": (0.0, 1.0, False),
    "twist_timeout": (0.0, 2.0, True),  # s
    "state_timeout": (0.0, 1.0, True),  # s
    "max_force": (0.0, 250.0, True),  # N
    "press_force": (0.0, 250.0, True),  # N
    "press_dwell": (0.0, 10.0, False),  # s
    "max_torque": (0.0, 50.0, True),  # N*m
    "singularity_slow": (1.0, 1000.0, True),
    "singularity_stop": (1.0, 1000.0, True),
    "contact_stiffness": (0.0, 1e7, True),  # N/m
    "contact_latency": (0.0, 1.0, True),  # s
    "retract_force": (0.0, 250.0, True),  # N
    "retract_speed": (0.0, 1.0, True),  # m/s
    "retract_distance": (0.0, 0.1, False),  # m (0: no retract, hold where stopped)
}

#: A press counts as held at the press limit from this fraction of press_limit on (the speed
#: cap brings the force to the limit only asymptotically).
PRESS_HELD = 0.95
#: Near contact the speed into it is capped so that the force overshoots max_force by at most
#: this fraction of it within contact_latency (see SafetyLimits.contact_speed_cap).
CONTACT_OVERSHOOT = 0.05


@dataclass
class SafetyLimits:
    """Limits enforced in front of every command. Defaults suit a UR5e on a table."""

    #: Axis-aligned box (base frame, metres) the TCP target must stay in.
    workspace_min: tuple = (-0.80, -0.80, 0.00)
    workspace_max: tuple = (0.80, 0.80, 0.90)
    max_linear_speed: float = 0.25  # m/s
    max_angular_speed: float = 1.0  # rad/s
    max_linear_accel: float = 2.0  # m/s^2
    max_angular_accel: float = 8.0  # rad/s^2
    #: A chunk whose first point is farther than this from the measured TCP is rejected.
    max_start_distance: float = 0.05  # m
    max_start_angle: float = 0.35  # rad
    #: Chunks older than this (now - stamp) are stale on arrival. Age alone is no danger (a
    #: chunk that finds the arm holding is retimed to start from it); a scene that old is.
    max_chunk_age: float = 2.0  # s
    #: Commands stamped more than this ahead of the robot clock are rejected (`future`).
    max_future: float = 0.05  # s
    #: Chunks with more points are rejected before conversion (`too_long`).
    max_chunk_points: int = 2000
    #: The servo target may exceed the chunk's segment speed by this fraction (+5 mm/s) while
    #: it catches up with the path.
    path_speed_margin: float = 0.1
    #: Hold when no twist arrives for this long (counted from receipt) while teleoperating.
    twist_timeout: float = 0.25  # s
    #: Stop when the newest robot state is older than this.
    state_timeout: float = 0.1  # s
    #: Stop (and disarm) when the measured wrench exceeds these, where a wrench exists; on
    #: sensorless setups, when the backend's contact-force estimate exceeds max_force.
    max_force: float = 60.0  # N
    max_torque: float = 15.0  # N*m
    #: The most a commanded press may push (N): at it the servo target stops advancing into the
    #: contact (the speed cap below reaches zero there), so a plan made before the contact gave
    #: way, and still descending, holds the force instead of driving it to max_force. A press
    #: held at it for press_dwell s (a jam, or a policy that does not let go) is stopped as one
    #: above max_force. Above every force a task asks for (the button's latch: up to 46 N).
    #: At or above max_force there is no press limit: the stop at max_force is the only one.
    press_force: float = 50.0
    press_dwell: float = 1.0  # s
    #: Jacobian condition number where motion towards a singularity (or the reach limit)
    #: starts to slow down, and where it is stopped (MoveIt Servo's lower/hard thresholds).
    singularity_slow: float = 15.0
    singularity_stop: float = 25.0
    #: Contact (speed into it, and the retract after a force/contact stop). The stiffest contact
    #: the cell meets (N/m): the servo's stiffness in series with a rigid surface (the sim's
    #: impedance servo: 4000 N/m; a UR pressing steel: far more, measure it on the cell).
    contact_stiffness: float = 4000.0
    #: From the force crossing max_force to the stop taking effect (s): servo periods, the
    #: sensorless estimate's filter and stalls of a loaded loop. At speed v into a contact of
    #: stiffness k the force overshoots by k*v*contact_latency, so near contact the speed into
    #: it is capped to keep that within CONTACT_OVERSHOOT of max_force.
    contact_latency: float = 0.1
    #: After a force or contact stop: back off along the contact normal at retract_speed until
    #: the (measured or estimated) force is below retract_force, at most retract_distance; then
    #: hold (ISO/TS 15066 clamping relief). retract_distance 0: hold where stopped.
    retract_force: float = 5.0  # N
    retract_speed: float = 0.1  # m/s
    retract_distance: float = 0.03  # m

    def __post_init__(self):
        self.validate()

    def validate(self, prefix: str = "") -> None:
        for name in ("workspace_min", "workspace_max"):
            v = getattr(self, name)
            try:
                arr = np.asarray(v, dtype=float)
            except (TypeError, ValueError):
                raise LimitError(f"{prefix}{name}: {v!r} is not a list of 3 numbers") from None
            if arr.shape != (3,) or not np.all(np.isfinite(arr)) or np.any(np.abs(arr) > 1.5):
                raise LimitError(f"{prefix}{name}: {v!r} is not 3 finite numbers within 1.5 m "
                                 "of the base")
        lo, hi = np.asarray(self.workspace_min, float), np.asarray(self.workspace_max, float)
        if np.any(lo >= hi):
            raise LimitError(f"{prefix}workspace_min/workspace_max: workspace box is empty: "
                             f"min {lo.tolist()} max {hi.tolist()}")
        check_fields(self, SAFETY_RANGES, prefix)
        self.max_chunk_points = int(self.max_chunk_points)
        if self.singularity_stop <= self.singularity_slow:
            raise LimitError(f"{prefix}singularity_stop: must be above singularity_slow")
        if self.retract_force >= self.max_force:
            raise LimitError(f"{prefix}retract_force: must be below max_force")
        if self.press_force <= self.retract_force:
            raise LimitError(f"{prefix}press_force: must be above retract_force")

    @classmethod
    def from_dict(cls, d: dict | None, prefix: str = "safety.") -> "SafetyLimits":
        return strict_from_dict(cls, d, "safety limit", prefix)

    def in_workspace(self, position: np.ndarray) -> bool:
        p = np.asarray(position)
        return bool(np.all(p >= self.workspace_min) and np.all(p <= self.workspace_max))

    def clamp_to_workspace(self, position: np.ndarray) -> np.ndarray:
        return np.clip(position, self.workspace_min, self.workspace_max)

    def wrench_violation(self, wrench) -> str | None:
        if wrench is None:
            return None
        w = np.asarray(wrench, dtype=float)
        if not np.all(np.isfinite(w)):
            return "wrench reading is not finite"
        f, t = np.linalg.norm(w[:3]), np.linalg.norm(w[3:])
        if f > self.max_force:
            return f"force {_above(f)} N above limit {self.max_force:.1f} N"
        if t > self.max_torque:
            return f"torque {_above(t)} Nm above limit {self.max_torque:.1f} Nm"
        return None

    def contact_violation(self, estimate) -> str | None:
        """The sensorless check: the backend's contact-force estimate against max_force."""
        if estimate is None:
            return None
        if not math.isfinite(estimate):
            return "contact estimate is not finite"
        if estimate > self.max_force:
            return (f"estimated contact force {_above(estimate)} N above limit "
                    f"{self.max_force:.1f} N (sensorless estimate)")
        return None

    def contact_speed_cap(self, force: float) -> float:
        """The most speed (m/s) into a contact pressing with `force` (N) may have.

        The force rises at contact_stiffness * v, and what acts on it (the press limit, the
        stop) acts contact_latency later. The cap is the force still to go over that, so the
        approach slows with time constant contact_latency instead of braking at the last
        moment: to press_limit, where the target stops advancing; without a press limit to
        CONTACT_OVERSHOOT above max_force (v_hold = 0.05 max_force / (k T) at the limit), so
        the stop holds max_force within that."""
        top = self.press_limit or self.max_force * (1.0 + CONTACT_OVERSHOOT)
        return max(top - force, 0.0) / (self.contact_stiffness * self.contact_latency)

    @property
    def press_limit(self) -> float | None:
        """The force (N) a commanded press is held at; None where press_force is not below
        max_force (the stop is the only limit)."""
        return self.press_force if self.press_force < self.max_force else None

    def at_press_limit(self, force: float) -> bool:
        return self.press_limit is not None and force >= PRESS_HELD * self.press_limit

    def press_violation(self, force: float, held: float, sensorless: bool = False) -> str | None:
        """A press at press_limit for press_dwell s: stopped as a force above the limit."""
        if self.at_press_limit(force) and held >= self.press_dwell:
            what = "estimated contact force" if sensorless else "force"
            return (f"{what} {force:.1f} N held at the press limit ({self.press_limit:.0f} N) "
                    f"for {held:.1f} s: stopped as above the limit {self.max_force:.1f} N"
                    + (" (sensorless estimate)" if sensorless else ""))
        return None


def _above(value: float) -> str:
    """A reading that crossed a limit, printed so that it reads above it (rounded up to 0.01):
    the filtered force crosses smoothly, by less than the one decimal a limit is printed with."""
    return f"{math.ceil(value * 100.0) / 100.0:.2f}"


def _limited_velocity(error: np.ndarray, v_ff: np.ndarray, v_prev: np.ndarray, dt: float,
                      vmax: float, amax: float) -> np.ndarray:
    """One cycle's velocity: feedforward plus a correction towards `error`, under limits.

    The correction speed is capped at sqrt(2*amax*d) so the motion can always decelerate to rest
    at the target without overshooting; the total speed (feedforward + correction) is capped at
    vmax and its change per cycle at amax*dt.
    """
    d = math.sqrt(float(error @ error))
    v_des = np.array(v_ff, dtype=np.float64)
    if d > 1e-12:
        v_des = v_des + error * (min(d / dt, math.sqrt(2.0 * amax * d)) / d)
    speed = math.sqrt(float(v_des @ v_des))
    if speed > vmax:
        v_des *= vmax / speed
    dv = v_des - v_prev
    dv_norm = math.sqrt(float(dv @ dv))
    if dv_norm > amax * dt:
        dv *= amax * dt / dv_norm
    return v_prev + dv


def _cap(v: np.ndarray, vmax: float) -> np.ndarray:
    speed = math.sqrt(float(v @ v))
    return v * (vmax / speed) if speed > vmax else v


@dataclass
class PathEnd:
    """Where the commanded path ends: the servo target must stop there, never pass it."""

    position: np.ndarray
    #: Unit direction of the path's last segment (the end is a plane across it).
    direction: np.ndarray
    #: Path length left to the end, from the servo target (m).
    remaining: float


@dataclass
class MotionLimiter:
    """Turns wanted targets into servo targets that respect speed, accel and the workspace.

    Every pose the controller sends to a robot comes out of `step`, so no command can jump,
    exceed the limits or leave the workspace box, whatever the input did. `step` integrates
    over the period it is given (the measured one), not the nominal one.
    """

    limits: SafetyLimits
    dt: float
    _pose: Pose | None = None
    _v_lin: np.ndarray = field(default_factory=lambda: np.zeros(3))
    _v_ang: np.ndarray = field(default_factory=lambda: np.zeros(3))

    @property
    def pose(self) -> Pose | None:
        return self._pose

    @property
    def velocity(self) -> tuple[np.ndarray, np.ndarray]:
        return self._v_lin.copy(), self._v_ang.copy()

    def reset(self, pose: Pose) -> None:
        self._pose = pose
        self._v_lin = np.zeros(3)
        self._v_ang = np.zeros(3)

    def step(self, wanted_position: np.ndarray, wanted_quat: np.ndarray,
             v_ff_lin=(0.0, 0.0, 0.0), v_ff_ang=(0.0, 0.0, 0.0), dt: float | None = None,
             max_lin: float | None = None, max_ang: float | None = None,
             end: PathEnd | None = None, scale: float = 1.0,
             press: tuple | None = None) -> Pose:
        """One servo target. `dt`: the period to integrate over (default: nominal);
        `max_lin`/`max_ang`: a lower speed cap (the chunk's segment speed plus margin);
        `end`: the path's end, which the target decelerates to and never passes; `scale` in
        [0, 1]: a hard cap on speed as a fraction of the limits (reach and singularities);
        `press` (unit normal into a contact, speed): a hard cap on the speed along it."""
        if self._pose is None:
            raise RuntimeError("MotionLimiter.step before reset()")
        dt = self.dt if dt is None else dt
        lim = self.limits
        vmax_lin = lim.max_linear_speed if max_lin is None else min(max_lin,
                                                                    lim.max_linear_speed)
        vmax_ang = lim.max_angular_speed if max_ang is None else min(max_ang,
                                                                     lim.max_angular_speed)
        goal = lim.clamp_to_workspace(wanted_position)
        v_lin = _limited_velocity(goal - self._pose.position, v_ff_lin, self._v_lin,
                                  dt, vmax_lin, lim.max_linear_accel)
        q_prev = self._pose.quat_xyzw
        rot_error = quat.to_rotvec(quat.mul(wanted_quat, quat.conj(q_prev)))
        v_ang = _limited_velocity(rot_error, v_ff_ang, self._v_ang, dt,
                                  vmax_ang, lim.max_angular_accel)
        # Hard caps: slowing down for them may exceed the acceleration limit (safety first).
        if scale < 1.0:
            v_lin = _cap(v_lin, lim.max_linear_speed * max(scale, 0.0))
            v_ang = _cap(v_ang, lim.max_angular_speed * max(scale, 0.0))
        if press is not None:
            normal, v_press = press
            v_in = float(v_lin @ normal)
            if v_in > v_press:  # only the part into the contact: sliding along it is free
                v_lin = v_lin - (v_in - v_press) * normal
        pos = self._pose.position + v_lin * dt
        if end is not None:
            # The path left is at least the straight line to its end: never freeze short of it.
            p0 = self._pose.position
            d = max(end.remaining, math.sqrt(float((end.position - p0) @ (end.position - p0))))
            v_lin = _cap(v_lin, math.sqrt(2.0 * lim.max_linear_accel * d))
            pos = p0 + v_lin * dt
            # Never cross the plane across the path's end; a target already beyond it (a new
            # chunk turning back) may only come back, never jump.
            allowed = max(float((p0 - end.position) @ end.direction), 0.0)
            past = float((pos - end.position) @ end.direction)
            if past > allowed:
                pos = pos - (past - allowed) * end.direction
                v_lin = (pos - p0) / dt
        pos = lim.clamp_to_workspace(pos)
        self._v_lin, self._v_ang = v_lin, v_ang
        q = quat.mul(quat.from_rotvec(v_ang * dt), q_prev)
        self._pose = Pose(pos, q)
        return self._pose
