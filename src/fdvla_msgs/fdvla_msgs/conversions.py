"""Conversions between the core types (fdvla_msgs.types, numpy) and standard ROS 2 messages.

Every node converts through here, so the contract's conventions (frames, stamps = sampling time,
quaternion order, the action-chunk layout) live in one place.
"""

from __future__ import annotations

import array
import math
from typing import Optional, Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from geometry_msgs.msg import (Point, PoseStamped, Quaternion, Transform, TwistStamped, Vector3,
                               Wrench, WrenchStamped)
from geometry_msgs.msg import Pose as PoseMsg
from geometry_msgs.msg import Twist as TwistMsg
from nav_msgs.msg import Path
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float32MultiArray, Header, MultiArrayDimension
from trajectory_msgs.msg import MultiDOFJointTrajectory, MultiDOFJointTrajectoryPoint

from fdvla_msgs.topics import BASE_FRAME, TCP_FRAME
from fdvla_msgs.types import (UR_JOINT_NAMES, ActionChunk, CameraIntrinsics, Pose, Twist,
                              depth_from_millimetres)

# ------------------------------------------------------------------ time


def _sec_nsec(t: float) -> tuple[int, int]:
    sec = math.floor(t)
    nsec = int(round((t - sec) * 1e9))
    if nsec >= 1_000_000_000:  # rounding carried into the next second
        sec, nsec = sec + 1, nsec - 1_000_000_000
    return int(sec), nsec


def to_ros_time(t: float) -> Time:
    sec, nsec = _sec_nsec(t)
    return Time(sec=sec, nanosec=nsec)


def from_ros_time(t: Time) -> float:
    return t.sec + t.nanosec * 1e-9


def to_ros_duration(d: float) -> Duration:
    sec, nsec = _sec_nsec(d)
    return Duration(sec=sec, nanosec=nsec)


def from_ros_duration(d: Duration) -> float:
    return d.sec + d.nanosec * 1e-9


def header(stamp: float, frame_id: str = BASE_FRAME) -> Header:
    return Header(stamp=to_ros_time(stamp), frame_id=frame_id)


# ------------------------------------------------------------------ poses


def pose_to_pose_msg(pose: Pose) -> PoseMsg:
    p, q = pose.position, pose.quat_xyzw
    return PoseMsg(position=Point(x=float(p[0]), y=float(p[1]), z=float(p[2])),
                   orientation=Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]),
                                          w=float(q[3])))


def pose_from_pose_msg(msg: PoseMsg) -> Pose:
    p, q = msg.position, msg.orientation
    return Pose(np.array([p.x, p.y, p.z]), np.array([q.x, q.y, q.z, q.w]))


def pose_to_msg(pose: Pose, stamp: float, frame_id: str = BASE_FRAME) -> PoseStamped:
    return PoseStamped(header=header(stamp, frame_id), pose=pose_to_pose_msg(pose))


def pose_from_msg(msg: PoseStamped) -> tuple[float, Pose]:
    """(sampling time, pose)."""
    return from_ros_time(msg.header.stamp), pose_from_pose_msg(msg.pose)


def pose_to_transform(pose: Pose) -> Transform:
    p, q = pose.position, pose.quat_xyzw
    return Transform(translation=Vector3(x=float(p[0]), y=float(p[1]), z=float(p[2])),
                     rotation=Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]),
                                         w=float(q[3])))


def pose_from_transform(msg: Transform) -> Pose:
    t, q = msg.translation, msg.rotation
    return Pose(np.array([t.x, t.y, t.z]), np.array([q.x, q.y, q.z, q.w]))


# ------------------------------------------------------------------ action chunks


def chunk_to_msg(chunk: ActionChunk, frame_id: str = BASE_FRAME,
                 joint_name: str = TCP_FRAME) -> MultiDOFJointTrajectory:
    """header.stamp = the observation's sampling time; point i: transforms[0] = target TCP pose,
    time_from_start = chunk.times[i]."""
    msg = MultiDOFJointTrajectory(header=header(chunk.stamp, frame_id),
                                  joint_names=[joint_name])
    msg.points = [
        MultiDOFJointTrajectoryPoint(transforms=[pose_to_transform(p)],
                                     time_from_start=to_ros_duration(float(t)))
        for t, p in zip(chunk.times, chunk.poses)
    ]
    return msg


def chunk_from_msg(msg: MultiDOFJointTrajectory, frame_id: str = BASE_FRAME) -> ActionChunk:
    """Raises ValueError for a chunk that breaks the contract (wrong frame, missing transform,
    invalid quaternion). NaN positions pass through for the controller's safety layer to count."""
    if msg.header.frame_id not in ("", frame_id):
        raise ValueError(f"chunk is in frame {msg.header.frame_id!r}, expected {frame_id!r}")
    times, poses = [], []
    for i, pt in enumerate(msg.points):
        if len(pt.transforms) < 1:
            raise ValueError(f"point {i} has no transform")
        times.append(from_ros_duration(pt.time_from_start))
        poses.append(pose_from_transform(pt.transforms[0]))
    return ActionChunk(from_ros_time(msg.header.stamp), np.array(times), tuple(poses))


def chunk_to_path(chunk: ActionChunk, frame_id: str = BASE_FRAME) -> Path:
    """The chunk's TCP path, each pose stamped with the time it is to be reached."""
    return Path(header=header(chunk.stamp, frame_id),
                poses=[pose_to_msg(p, chunk.stamp + float(t), frame_id)
                       for t, p in zip(chunk.times, chunk.poses)])


# ------------------------------------------------------------------ wrench, joints, twist


def wrench_to_msg(wrench: Sequence[float], stamp: float,
                  frame_id: str = BASE_FRAME) -> WrenchStamped:
    w = [float(x) for x in wrench]
    return WrenchStamped(header=header(stamp, frame_id),
                         wrench=Wrench(force=Vector3(x=w[0], y=w[1], z=w[2]),
                                       torque=Vector3(x=w[3], y=w[4], z=w[5])))


def wrench_from_msg(msg: WrenchStamped) -> tuple[float, np.ndarray]:
    f, t = msg.wrench.force, msg.wrench.torque
    return from_ros_time(msg.header.stamp), np.array([f.x, f.y, f.z, t.x, t.y, t.z])


def joint_state_to_msg(stamp: float, q: Sequence[float], qd: Sequence[float],
                       names: Sequence[str] = UR_JOINT_NAMES) -> JointState:
    return JointState(header=header(stamp, ""), name=list(names),
                      position=[float(x) for x in q], velocity=[float(x) for x in qd])


def joint_state_from_msg(msg: JointState,
                         names: Sequence[str] = UR_JOINT_NAMES) -> tuple[float, np.ndarray,
                                                                        np.ndarray]:
    """(stamp, q, qd) in `names` order, whatever order the message has."""
    idx = {n: i for i, n in enumerate(msg.name)}
    missing = [n for n in names if n not in idx]
    if missing:
        raise ValueError(f"joint_states lacks {missing}")
    q = np.array([msg.position[idx[n]] for n in names])
    qd = np.array([msg.velocity[idx[n]] for n in names]) if len(msg.velocity) == len(msg.name) \
        else np.zeros(len(names))
    return from_ros_time(msg.header.stamp), q, qd


def twist_to_msg(twist: Twist, frame_id: str = BASE_FRAME) -> TwistStamped:
    lin, ang = twist.linear, twist.angular
    return TwistStamped(header=header(twist.stamp, frame_id),
                        twist=TwistMsg(linear=Vector3(x=float(lin[0]), y=float(lin[1]),
                                                      z=float(lin[2])),
                                       angular=Vector3(x=float(ang[0]), y=float(ang[1]),
                                                       z=float(ang[2]))))


def twist_from_msg(msg: TwistStamped, frame_id: str = BASE_FRAME) -> Twist:
    if msg.header.frame_id not in ("", frame_id):
        raise ValueError(f"twist is in frame {msg.header.frame_id!r}, expected {frame_id!r}")
    lin, ang = msg.twist.linear, msg.twist.angular
    return Twist(from_ros_time(msg.header.stamp), np.array([lin.x, lin.y, lin.z]),
                 np.array([ang.x, ang.y, ang.z]))


# ------------------------------------------------------------------ images


def image_to_msg(rgb: np.ndarray, stamp: float, frame_id: str) -> Image:
    """rgb8 Image from an (H, W, 3) uint8 array: one memcpy into the message's buffer."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    h, w, _ = rgb.shape
    data = array.array("B")
    data.frombytes(np.ascontiguousarray(rgb).data)
    msg = Image(header=header(stamp, frame_id), height=h, width=w, encoding="rgb8",
                is_bigendian=0, step=w * 3)
    msg.data = data  # an array.array('B') is taken as-is by the setter, without another copy
    return msg


def image_from_msg(msg: Image) -> np.ndarray:
    """(H, W, 3) uint8 view of an rgb8/bgr8 Image (converted to RGB), no copy for rgb8."""
    if msg.encoding not in ("rgb8", "bgr8"):
        raise ValueError(f"unsupported image encoding {msg.encoding!r} (rgb8 or bgr8 expected)")
    buf = np.frombuffer(msg.data, dtype=np.uint8)
    rows = buf.reshape(msg.height, msg.step)[:, : msg.width * 3]
    img = rows.reshape(msg.height, msg.width, 3)
    return img[..., ::-1] if msg.encoding == "bgr8" else img


def depth_to_msg(depth: np.ndarray, stamp: float, frame_id: str) -> Image:
    """32FC1 Image (REP 118: metres, NaN for no reading) from an (H, W) float32 depth image."""
    if depth.ndim != 2 or depth.dtype != np.float32:
        raise ValueError(f"expected (H, W) float32 depth in metres, got {depth.shape} "
                         f"{depth.dtype}")
    h, w = depth.shape
    data = array.array("B")
    data.frombytes(np.ascontiguousarray(depth, dtype="<f4").view(np.uint8).data)
    msg = Image(header=header(stamp, frame_id), height=h, width=w, encoding="32FC1",
                is_bigendian=0, step=w * 4)
    msg.data = data
    return msg


def depth_from_msg(msg: Image) -> np.ndarray:
    """(H, W) float32 metres, NaN for no reading, from a 32FC1 (metres) or 16UC1 (millimetres,
    0 for no reading: what the Azure Kinect and RealSense ROS drivers publish) depth Image."""
    order = ">" if msg.is_bigendian else "<"
    if msg.encoding == "32FC1":
        dtype, itemsize = np.dtype(order + "f4"), 4
    elif msg.encoding == "16UC1":
        dtype, itemsize = np.dtype(order + "u2"), 2
    else:
        raise ValueError(f"unsupported depth encoding {msg.encoding!r} (32FC1 or 16UC1 expected)")
    rows = np.frombuffer(msg.data, dtype=np.uint8).reshape(msg.height, msg.step)
    raw = rows[:, : msg.width * itemsize].copy().view(dtype).reshape(msg.height, msg.width)
    if msg.encoding == "32FC1":
        return raw.astype(np.float32, copy=False)
    return depth_from_millimetres(raw)


def camera_info_to_msg(k: CameraIntrinsics, stamp: float, frame_id: str) -> CameraInfo:
    # 5 coefficients: plumb_bob (RealSense, sim); 8: rational_polynomial (Azure Kinect).
    model = "rational_polynomial" if len(k.distortion) == 8 else "plumb_bob"
    return CameraInfo(
        header=header(stamp, frame_id), width=k.width, height=k.height,
        distortion_model=model, d=[float(x) for x in k.distortion],
        k=[k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0],
        r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        p=[k.fx, 0.0, k.cx, 0.0, 0.0, k.fy, k.cy, 0.0, 0.0, 0.0, 1.0, 0.0])


def camera_info_from_msg(msg: CameraInfo) -> CameraIntrinsics:
    return CameraIntrinsics(msg.width, msg.height, msg.k[0], msg.k[4], msg.k[2], msg.k[5],
                            tuple(msg.d))


# ------------------------------------------------------------------ predictions, diagnostics


def force_token_to_msg(token: np.ndarray) -> Float32MultiArray:
    token = np.asarray(token, dtype=np.float32).reshape(-1)
    msg = Float32MultiArray()
    msg.layout.dim = [MultiArrayDimension(label="force_token", size=token.size,
                                          stride=token.size)]
    msg.data = array.array("f", token.tobytes())
    return msg


def force_token_from_msg(msg: Float32MultiArray) -> np.ndarray:
    return np.asarray(msg.data, dtype=np.float32)


_LEVELS = {"ok": DiagnosticStatus.OK, "warn": DiagnosticStatus.WARN,
           "error": DiagnosticStatus.ERROR, "stale": DiagnosticStatus.STALE}


def diagnostic_status(name: str, level: str, message: str, values: Optional[dict] = None,
                      hardware_id: str = "") -> DiagnosticStatus:
    """A DiagnosticStatus; level is 'ok', 'warn', 'error' or 'stale'."""
    return DiagnosticStatus(
        level=_LEVELS[level], name=name, message=message, hardware_id=hardware_id,
        values=[KeyValue(key=str(k), value=_fmt(v)) for k, v in (values or {}).items()])


def diagnostic_values(status: DiagnosticStatus) -> dict:
    return {kv.key: kv.value for kv in status.values}


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)
