"""The shipped Foxglove layout is the one the code builds, and shows only served topics."""

import json
import re

from fdvla.config import share_dir
from fdvla_policy_node.view.channels import ros2msg_definition, view_topics
from fdvla_policy_node.view.layout import layout_json

LAYOUT = share_dir() / "config" / "fdvla.foxglove.json"


def test_shipped_layout_is_up_to_date():
    assert LAYOUT.read_text() == layout_json(), \
        "regenerate: python -m fdvla_policy_node.view.layout config/fdvla.foxglove.json"


def test_layout_shows_cameras_wrench_paths_from_served_topics_only():
    text = LAYOUT.read_text()
    layout = json.loads(text)
    assert layout["version"] == 1
    used = set(re.findall(r'"(/[a-z_/]+?)(?:\.[a-z_.]+)?"', text))
    served = set(view_topics(wrench_available=True))
    assert used and used <= served, used - served
    for must in ("/kinect/color/image_raw", "/wrist/color/image_raw", "/wrench",
                 "/fdvla/predicted_wrench", "/fdvla/predicted_path", "/tcp_pose"):
        assert must in used


def test_ros2msg_schemas_carry_their_dependencies():
    text = ros2msg_definition("trajectory_msgs/msg/MultiDOFJointTrajectory")
    assert "MSG: geometry_msgs/Transform" in text and "MSG: std_msgs/Header" in text
