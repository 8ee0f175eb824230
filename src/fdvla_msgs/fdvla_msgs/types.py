"""Core data types shared by every part of the stack. Plain numpy, no ROS import.

Conventions (REP-103, SI units):
- positions in metres, in the UR `base` frame;
- orientations as unit quaternions in scipy's (x, y, z, w) order;
- UR's own pose format [x, y, z, rx, ry, rz] (rotation vector) appears only at the
  ur_rtde boundary (`Pose.from_ur` / `Pose.to_ur`);
- wrenches [fx, fy, fz, tx, ty, tz] in N and N*m: the external wrench acting on the tool,
  expressed in `base` axes (what UR's getActualTCPForce reports);
- every `stamp` is the time the data was sampled, in seconds on the clock the node graph uses
  (wall-clock `time.time()` on hardware and in paced simulation).
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

UR_JOINT_NAMES = (
    "shoulder_pan_joint",
    "shoulder_lift_joint",
    "elbow_joint",
    "wrist_1_joint",
    "wrist_2_joint",
    "wrist_3_joint",
)


def _as_vec(x, n: int, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64).reshape(-1)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have {n} elements, got shape {np.shape(x)}")
    return arr


@dataclass(frozen=True)
class Pose:
    """A rigid transform: position (3,) in metres, quaternion (4,) as x, y, z, w."""

    position: np.ndarray
    quat_xyzw: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 0.0, 1.0]))

    def __post_init__(self):
        p = _as_vec(self.position, 3, "position")
        q = _as_vec(self.quat_xyzw, 4, "quat_xyzw")
        n = np.linalg.norm(q)
        if not np.isfinite(n) or n < 1e-9:
            raise ValueError(f"quaternion {q} is not a valid rotation")
        object.__setattr__(self, "position", p)
        object.__setattr__(self, "quat_xyzw", q / n)

    @property
    def rotation(self) -> Rotation:
        return Rotation.from_quat(self.quat_xyzw)

    @classmethod
    def from_rotation(cls, position, rotation: Rotation) -> "Pose":
        return cls(np.asarray(position, dtype=np.float64), rotation.as_quat())

    @classmethod
    def from_matrix(cls, T: np.ndarray) -> "Pose":
        T = np.asarray(T, dtype=np.float64)
        return cls(T[:3, 3].copy(), Rotation.from_matrix(T[:3, :3]).as_quat())

    def as_matrix(self) -> np.ndarray:
        T = np.eye(4)
        T[:3, :3] = self.rotation.as_matrix()
        T[:3, 3] = self.position
        return T

    @classmethod
    def from_ur(cls, pose6) -> "Pose":
        """From UR's [x, y, z, rx, ry, rz] (rotation vector, radians)."""
        v = _as_vec(pose6, 6, "UR pose")
        return cls(v[:3], Rotation.from_rotvec(v[3:]).as_quat())

    def to_ur(self) -> list:
        return [*self.position.tolist(), *self.rotation.as_rotvec().tolist()]

    def as_vector(self) -> np.ndarray:
        """[x, y, z, qx, qy, qz, qw]."""
        return np.concatenate([self.position, self.quat_xyzw])

    def distance_to(self, other: "Pose") -> tuple[float, float]:
        """(translation distance in m, rotation angle in rad) between two poses."""
        dp = float(np.linalg.norm(self.position - other.position))
        dr = float((self.rotation.inv() * other.rotation).magnitude())
        return dp, dr

    def is_finite(self) -> bool:
        return bool(np.all(np.isfinite(self.position)) and np.all(np.isfinite(self.quat_xyzw)))


def interpolate_poses(a: Pose, b: Pose, s: float) -> Pose:
    """Linear in position, slerp in rotation; s in [0, 1]."""
    s = float(np.clip(s, 0.0, 1.0))
    rots = Rotation.from_quat(np.stack([a.quat_xyzw, b.quat_xyzw]))
    r = Slerp([0.0, 1.0], rots)([s])[0]
    return Pose.from_rotation((1.0 - s) * a.position + s * b.position, r)


def equivalent_yaw(yaw: float, symmetry: int, near: float = 0.0) -> float:
    """The yaw about base z that a target with `symmetry`-fold symmetry cannot tell from `yaw`
    (equal modulo 2*pi/symmetry) nearest to `near`, in [near - pi/symmetry, near + pi/symmetry).
    Symmetry 0 (a round button cap): every yaw looks the same, so `near` itself."""
    k = int(symmetry)
    if k < 0:
        raise ValueError(f"yaw symmetry must be 0 (no yaw) or positive, got {symmetry}")
    if k == 0:
        return float(near)
    period = 2.0 * math.pi / k
    return float(near + (yaw - near + period / 2.0) % period - period / 2.0)


#: The tool pointing straight down (tool z along -base z), tool x along base y: the orientation
#: of the arm's home pose. Scripts, sim starts and the ViTaL agent turn it about base z by a
#: yaw (`tool_down`), and a tool's yaw is read back in the same convention (`tool_yaw`), so a
#: target's yaw and the tool's are comparable.
TOOL_DOWN = Rotation.from_matrix([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])


def tool_down(yaw: float = 0.0) -> Rotation:
    """Tool pointing down, turned by `yaw` about the base z axis."""
    return Rotation.from_euler("z", yaw) * TOOL_DOWN


def tool_yaw(rotation: Rotation) -> float:
    """The yaw about base z of a (near) tool-down rotation: `tool_down(tool_yaw(r))` is `r`
    when `r` points the tool straight down."""
    return float((rotation * TOOL_DOWN.inv()).as_euler("xyz")[2])


@dataclass(frozen=True)
class ActionChunk:
    """A timed sequence of target TCP poses.

    `stamp` is the sampling time of the observation the chunk was predicted from; point i is to
    be reached at `stamp + times[i]` (matching MultiDOFJointTrajectory's header.stamp +
    time_from_start).
    """

    stamp: float
    times: np.ndarray  # (N,) seconds relative to stamp
    poses: tuple  # N Pose

    def __post_init__(self):
        t = np.asarray(self.times, dtype=np.float64).reshape(-1)
        object.__setattr__(self, "times", t)
        object.__setattr__(self, "poses", tuple(self.poses))
        if len(self.poses) != t.shape[0]:
            raise ValueError(f"{t.shape[0]} times but {len(self.poses)} poses")

    def __len__(self) -> int:
        return len(self.poses)

    @property
    def absolute_times(self) -> np.ndarray:
        return self.stamp + self.times

    @classmethod
    def from_arrays(cls, stamp: float, times, positions, quats_xyzw) -> "ActionChunk":
        positions = np.asarray(positions, dtype=np.float64)
        quats_xyzw = np.asarray(quats_xyzw, dtype=np.float64)
        return cls(stamp, np.asarray(times, dtype=np.float64),
                   tuple(Pose(p, q) for p, q in zip(positions, quats_xyzw)))

    def positions(self) -> np.ndarray:
        return np.stack([p.position for p in self.poses]) if self.poses else np.zeros((0, 3))

    def quats(self) -> np.ndarray:
        return np.stack([p.quat_xyzw for p in self.poses]) if self.poses else np.zeros((0, 4))


def chunk_delay(stamp: float, arrival: float, idle_since: Optional[float]) -> float:
    """Seconds by which a chunk arriving at `arrival` is retimed (the topic contract's rule).

    While a chunk executes (`idle_since` None) a new one continues it on its own timeline: the
    points already past are skipped, the arm was moving meanwhile. A chunk that arrives while
    the arm holds (since `idle_since`; -inf for "since before the observation") is shifted so
    that nothing of it is skipped for time the arm spent still: its point due when the arm
    stopped (or its first point, if the arm was already still when the observation was taken)
    becomes due on arrival, as with a synchronous client. The controller applies it to what it
    executes, the policy to its record of what executes.
    """
    if idle_since is None:
        return 0.0
    return max(0.0, arrival - max(stamp, idle_since))


@dataclass(frozen=True)
class Twist:
    """Cartesian velocity command in `base`: linear (m/s) and angular (rad/s)."""

    stamp: float
    linear: np.ndarray
    angular: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "linear", _as_vec(self.linear, 3, "linear"))
        object.__setattr__(self, "angular", _as_vec(self.angular, 3, "angular"))


@dataclass(frozen=True)
class RobotState:
    """One sample of the robot, as a robot backend reports it."""

    stamp: float
    q: np.ndarray  # (6,) joint positions, rad, UR_JOINT_NAMES order
    qd: np.ndarray  # (6,) joint velocities, rad/s
    tcp_pose: Pose
    wrench: Optional[np.ndarray] = None  # (6,) or None on a sensorless setup
    protective_stop: bool = False
    emergency_stop: bool = False
    program_running: bool = True

    @property
    def faulted(self) -> bool:
        return self.protective_stop or self.emergency_stop or not self.program_running


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics of a colour stream; 5 distortion coefficients (plumb_bob) or 8
    (rational_polynomial)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion: tuple = (0.0, 0.0, 0.0, 0.0, 0.0)

    @classmethod
    def from_fovy(cls, width: int, height: int, fovy_deg: float) -> "CameraIntrinsics":
        f = 0.5 * height / np.tan(np.deg2rad(fovy_deg) / 2.0)
        return cls(width, height, f, f, (width - 1) / 2.0, (height - 1) / 2.0)


@dataclass(frozen=True)
class CameraFrame:
    stamp: float
    rgb: np.ndarray  # (H, W, 3) uint8
    #: (H, W) bool, where asked for (a simulated camera's segmentation): True on the pixels of
    #: the robot, its tool and the task's objects, False on the table and the void.
    mask: Optional[np.ndarray] = None
    #: (H, W) float32, where the camera is set to give it (`depth` option of the sim and Azure
    #: Kinect backends): metres along the optical axis (z-depth, not the distance to the pixel's
    #: point), aligned to `rgb` pixel for pixel; NaN where there is no reading (the void in
    #: simulation; no return, out of range or occluded from the depth camera on a Kinect).
    depth: Optional[np.ndarray] = None


def depth_from_millimetres(raw: np.ndarray) -> np.ndarray:
    """`CameraFrame.depth` (float32 metres, NaN for no reading) from uint16 millimetres with 0 for
    no reading: what depth cameras and their ROS drivers (16UC1) give."""
    depth = np.asarray(raw).astype(np.float32) * np.float32(1e-3)
    depth[np.asarray(raw) == 0] = np.nan
    return depth
