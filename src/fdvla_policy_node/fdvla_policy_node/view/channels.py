"""Which topics the live view serves, with their ROS 2 message definitions (ros2msg schemas).

ROS-free: the definitions come from the `rosbags` type store (Jazzy), the same text `ros2 bag`
and Foxglove use, so the app decodes the CDR bytes as they came off DDS.
"""

from __future__ import annotations

from fdvla_msgs import topics

#: topic -> ROS 2 type, in the order the layout lists them.
def view_topics(wrench_available: bool = True, cameras=topics.CAMERAS) -> dict:
    out = {}
    for cam in cameras:
        out[topics.camera_image_topic(cam)] = "sensor_msgs/msg/Image"
        out[topics.camera_info_topic(cam)] = "sensor_msgs/msg/CameraInfo"
    out.update({
        topics.JOINT_STATES: "sensor_msgs/msg/JointState",
        topics.TCP_POSE: "geometry_msgs/msg/PoseStamped",
        topics.CONTROLLER_TARGET_POSE: "geometry_msgs/msg/PoseStamped",
        topics.ACTION_CHUNK: "trajectory_msgs/msg/MultiDOFJointTrajectory",
        topics.PREDICTED_PATH: "nav_msgs/msg/Path",
        topics.PREDICTED_WRENCH: "geometry_msgs/msg/WrenchStamped",
        topics.FORCE_TOKEN: "std_msgs/msg/Float32MultiArray",
        topics.INSTRUCTION: "std_msgs/msg/String",
        topics.DIAGNOSTICS: "diagnostic_msgs/msg/DiagnosticArray",
    })
    if wrench_available:  # a sensorless setup has no /wrench, not even a subscriber
        out[topics.WRENCH] = "geometry_msgs/msg/WrenchStamped"
    return out


def ros2msg_definition(type_name: str) -> str:
    """The full ros2msg text (with dependencies) Foxglove expects for `type_name`."""
    from rosbags.typesys import Stores, get_typestore

    text, _ = get_typestore(Stores.ROS2_JAZZY).generate_msgdef(type_name, ros_version=2)
    return text


def ros_message_class(type_name: str):
    """The rclpy message class for 'pkg/msg/Type'."""
    import importlib

    pkg, _, name = type_name.split("/")
    return getattr(importlib.import_module(f"{pkg}.msg"), name)
