"""config/fdvla.rviz shows the topic contract: right topics, right display types, frame `base`."""

from __future__ import annotations

from pathlib import Path

import yaml

from fdvla_msgs import topics

RVIZ = Path(__file__).resolve().parents[3] / "config" / "fdvla.rviz"


def displays():
    manager = yaml.safe_load(RVIZ.read_text())["Visualization Manager"]
    return manager, {d["Topic"]["Value"]: d for d in manager["Displays"] if "Topic" in d}


def test_fixed_frame_is_the_robot_base():
    manager, _ = displays()
    assert manager["Global Options"]["Fixed Frame"] == topics.BASE_FRAME


def test_every_contract_topic_has_the_matching_display():
    _, by_topic = displays()
    expected = {
        topics.camera_image_topic("kinect"): "rviz_default_plugins/Image",
        topics.camera_image_topic("wrist"): "rviz_default_plugins/Image",
        topics.TCP_POSE: "rviz_default_plugins/Pose",
        topics.CONTROLLER_TARGET_POSE: "rviz_default_plugins/Pose",
        topics.WRENCH: "rviz_default_plugins/Wrench",
        topics.PREDICTED_WRENCH: "rviz_default_plugins/Wrench",
        topics.PREDICTED_PATH: "rviz_default_plugins/Path",
    }
    assert {t: d["Class"] for t, d in by_topic.items()} == expected
    assert all(d["Enabled"] for d in by_topic.values())


def test_qos_of_each_display_can_match_our_publishers():
    # Our publishers are RELIABLE + VOLATILE (fdvla_msgs.qos.SENSOR_PUB): any reliability
    # matches, but a TRANSIENT_LOCAL reader would never match a volatile writer.
    _, by_topic = displays()
    for topic, display in by_topic.items():
        qos = display["Topic"]
        assert qos["Durability Policy"] == "Volatile", topic
        assert qos["Reliability Policy"] in ("Reliable", "Best Effort"), topic
