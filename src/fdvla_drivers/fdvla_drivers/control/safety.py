"""The safety layer's limits and the motion limiter that every servo target passes through."""

from __future__ import annotations

from dataclasses import dataclass, field

import math

import numpy as np

from fdvla_drivers.control import quat
from fdvla_msgs.types import Pose


def strict_from_dict(cls, d: dict | None, what: str):
    """Build dataclass `cls` from a config mapping, refusing keys it does not know (typos in a
    safety config must not be silently ignored)."""
    d = dict(d or {})
    unknown = set(d) - set(cls.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown {what}(s): {sorted(unknown)}")
    return cls(**d)


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
    #: Chunks older than this (now - stamp) are stale on arrival.
    max_chunk_age: float = 1.0  # s
    #: Hold when no twist arrives for this long while teleoperating.
    twist_timeout: float = 0.25  # s
    #: Stop when the newest robot state is older than this.
    state_timeout: float = 0.1  # s
    #: Stop (and disarm) when the measured wrench exceeds these, where a wrench exists.
    max_force: float = 120.0  # N
    max_torque: float = 15.0  # N*m

    def __post_init__(self):
        lo, hi = np.asarray(self.workspace_min, float), np.asarray(self.workspace_max, float)
        if lo.shape != (3,) or hi.shape != (3,) or np.any(lo >= hi):
            raise ValueError(f"workspace box is empty: min {lo} max {hi}")
        for name in ("max_linear_speed", "max_angular_speed", "max_linear_accel",
                     "max_angular_accel", "max_start_distance", "max_start_angle",
                     "max_chunk_age", "twist_timeout", "state_timeout", "max_force", "max_torque"):
            if not getattr(self, name) > 0:
                raise ValueError(f"safety limit {name} must be positive")

    @classmethod
    def from_dict(cls, d: dict | None) -> "SafetyLimits":
        return strict_from_dict(cls, d, "safety limit")

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
            return f"force {f:.1f} N above limit {self.max_force:.1f} N"
        if t > self.max_torque:
            return f"torque {t:.1f} Nm above limit {self.max_torque:.1f} Nm"
        return None


def _limited_velocity(error: np.ndarray, v_ff: np.ndarray, v_prev: np.ndarray, dt: float,
                      vmax: float, amax: float) -> np.ndarray:
    """One cycle's velocity: feedforward plus a correction towards `error`, under limits.

    The correction speed is capped at sqrt(2*amax*d) so the motion can always decelerate to rest
    at the target without overshooting; the total speed is capped at vmax and its change per cycle
    at amax*dt.
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


@dataclass
class MotionLimiter:
    """Turns wanted targets into servo targets that respect speed, accel and the workspace.

    Every pose the controller sends to a robot comes out of `step`, so no command can jump,
    exceed the limits or leave the workspace box, whatever the input did.
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
             v_ff_lin=(0.0, 0.0, 0.0), v_ff_ang=(0.0, 0.0, 0.0)) -> Pose:
        if self._pose is None:
            raise RuntimeError("MotionLimiter.step before reset()")
        lim = self.limits
        goal = lim.clamp_to_workspace(wanted_position)
        self._v_lin = _limited_velocity(goal - self._pose.position, v_ff_lin, self._v_lin,
                                        self.dt, lim.max_linear_speed, lim.max_linear_accel)
        q_prev = self._pose.quat_xyzw
        rot_error = quat.to_rotvec(quat.mul(wanted_quat, quat.conj(q_prev)))
        self._v_ang = _limited_velocity(rot_error, v_ff_ang, self._v_ang, self.dt,
                                        lim.max_angular_speed, lim.max_angular_accel)
        pos = lim.clamp_to_workspace(self._pose.position + self._v_lin * self.dt)
        q = quat.mul(quat.from_rotvec(self._v_ang * self.dt), q_prev)
        self._pose = Pose(pos, q)
        return self._pose
