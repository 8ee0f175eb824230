"""What the recorder records: the contract topics of a setup with their rosbag2 type names.

Names come from `fdvla_msgs.topics`; this only adds the message type of each and picks those a
given setup has (`/wrench` only with a F/T sensor, image, info and extrinsics per configured camera,
`/sim/task_state` only in simulation).
"""

from __future__ import annotations

import importlib

from fdvla_drivers.robot import has_wrench
from fdvla_msgs import topics as T


def contract_topics(cfg: dict) -> list[tuple[str, str]]:
    robot = cfg.get("robot") or {}
    out = [(T.JOINT_STATES, "sensor_msgs/msg/JointState"),
           (T.TCP_POSE, "geometry_msgs/msg/PoseStamped")]
    if has_wrench(robot):
        out.append((T.WRENCH, "geometry_msgs/msg/WrenchStamped"))
    for cam in (cfg.get("cameras") or {}):
        out += [(T.camera_image_topic(cam), "sensor_msgs/msg/Image"),
                (T.camera_info_topic(cam), "sensor_msgs/msg/CameraInfo"),
                (T.camera_extrinsics_topic(cam), "geometry_msgs/msg/PoseStamped")]
    out += [(T.INSTRUCTION, "std_msgs/msg/String"),
            (T.ACTION_CHUNK, "trajectory_msgs/msg/MultiDOFJointTrajectory"),
            (T.CONTROLLER_TARGET_POSE, "geometry_msgs/msg/PoseStamped"),
            (T.SERVO_TWIST, "geometry_msgs/msg/TwistStamped"),
            (T.SPACENAV_TWIST, "geometry_msgs/msg/Twist"),
            (T.SPACENAV_JOY, "sensor_msgs/msg/Joy"),
            (T.PREDICTED_WRENCH, "geometry_msgs/msg/WrenchStamped"),
            (T.FORCE_TOKEN, "std_msgs/msg/Float32MultiArray"),
            (T.PREDICTED_PATH, "nav_msgs/msg/Path")]
    if robot.get("backend") == "sim":
        out.append((T.SIM_TASK_STATE, "std_msgs/msg/String"))
    extra = (cfg.get("recorder") or {}).get("topics")
    if extra:  # an explicit list replaces the default
        known = dict(out)
        out = []
        for item in extra:
            topic, _, typ = str(item).partition(":")
            if not typ and topic not in known:
                raise ValueError(f"recorder.topics: {topic!r} needs a type, e.g. "
                                 f"'{topic}:std_msgs/msg/String'")
            out.append((topic, typ or known[topic]))
    return out


def is_latched(topic: str) -> bool:
    """Published once and kept for late subscribers (qos.LATCHED): the instruction and the
    cameras' calibrations. The recorder subscribes to them so and writes them into every bag."""
    return topic == T.INSTRUCTION or topic in {T.camera_extrinsics_topic(c) for c in T.CAMERAS}


def message_class(msgtype: str):
    """'sensor_msgs/msg/Image' -> sensor_msgs.msg.Image."""
    pkg, sub, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{pkg}.{sub}"), name)
