"""Quaternion kernels (x, y, z, w) for the 500 Hz path.

scipy's Rotation is the reference everywhere else; building Rotation/Slerp objects costs tens of
microseconds each, which the servo cycle cannot afford several times per 2 ms. These agree with
scipy (tests/unit/fdvla_drivers/test_quat.py).
"""

from __future__ import annotations

import math

import numpy as np


def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a*b (apply b, then a)."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array([
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    ])


def conj(q: np.ndarray) -> np.ndarray:
    return np.array([-q[0], -q[1], -q[2], q[3]])


def to_rotvec(q: np.ndarray) -> np.ndarray:
    """Rotation vector of the shortest rotation q represents."""
    if q[3] < 0:
        q = -q
    s = math.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2])
    if s < 1e-12:
        return 2.0 * q[:3]
    angle = 2.0 * math.atan2(s, q[3])
    return q[:3] * (angle / s)


def from_rotvec(v: np.ndarray) -> np.ndarray:
    angle = math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
    if angle < 1e-12:
        q = np.array([0.5 * v[0], 0.5 * v[1], 0.5 * v[2], 1.0])
        return q / math.sqrt(q @ q)
    s = math.sin(0.5 * angle) / angle
    return np.array([v[0] * s, v[1] * s, v[2] * s, math.cos(0.5 * angle)])


def slerp(a: np.ndarray, b: np.ndarray, s: float) -> np.ndarray:
    """Shortest-arc spherical interpolation from a (s=0) to b (s=1)."""
    rel = mul(b, conj(a))
    return mul(from_rotvec(to_rotvec(rel) * s), a)


def angle_between(a: np.ndarray, b: np.ndarray) -> float:
    d = abs(float(a @ b)) / math.sqrt(float(a @ a) * float(b @ b))
    return 2.0 * math.acos(min(1.0, d))
