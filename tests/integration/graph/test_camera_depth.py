"""A camera set to `depth: true` publishes its registered depth over DDS beside its colour image
(32FC1 metres, the colour image's frame and stamps); a camera without it publishes no depth."""

import time

import numpy as np
import pytest
from sensor_msgs.msg import Image

from fdvla.bringup import Bringup
from fdvla_drivers.camera.sim_camera import SimCamera
from fdvla_msgs import conversions as conv
from fdvla_msgs import topics
from helpers.probe import Probe

pytestmark = pytest.mark.slow

DEPTH, COLOUR = topics.camera_depth_topic("kinect"), topics.camera_image_topic("kinect")


def test_scene_camera_publishes_depth_only_when_set():
    bringup = Bringup.from_setup("sim", ["robot.seed=4", "cameras.kinect.depth=true",
                                         "cameras.kinect.width=64",
                                         "cameras.kinect.height=48"]).start()
    probe = Probe("camera_depth_probe")
    try:
        for topic in (DEPTH, COLOUR, topics.camera_image_topic("wrist")):
            probe.subscribe(topic, Image)
        probe.wait_for(lambda: probe.count(DEPTH) >= 2 and probe.count(COLOUR) >= 2
                       and probe.count(topics.camera_image_topic("wrist")) >= 1, 60,
                       "kinect colour and depth, wrist colour")
        assert probe.node.count_publishers(topics.camera_depth_topic("wrist")) == 0
        msg = probe.latest(DEPTH)
        assert msg.encoding == "32FC1" and (msg.height, msg.width) == (48, 64)
        assert msg.header.frame_id == topics.camera_frame("kinect")
        # Stamped as the colour image of the same frame.
        assert msg.header.stamp in [m.header.stamp for m in probe.all(COLOUR)]
        depth = conv.depth_from_msg(msg)
        # The same scene rendered here: on the table (away from the arm, which the controller
        # holds, and the objects' edges) the published depth is the rendered one.
        cam = SimCamera(bringup.robot, "scene", 64, 48, depth=True)
        try:
            here = cam.render(mask=True)
        finally:
            cam._close_renderer()
        near_fg = np.zeros_like(here.mask)
        for dr in range(-2, 3):
            for dc in range(-2, 3):
                near_fg |= np.roll(np.roll(here.mask, dr, axis=0), dc, axis=1)
        table = ~near_fg & np.isfinite(here.depth)
        assert table.sum() > 0.3 * table.size
        np.testing.assert_allclose(depth[table], here.depth[table], atol=1e-4)
        assert np.isnan(depth[0, 0]) and np.isnan(here.depth[0, 0])  # the void: no reading
    finally:
        probe.close()
        bringup.stop()


def test_a_camera_publishes_its_calibration_latched_the_setups_over_the_sims():
    """`cameras.<name>.pose_in_base` (a real camera's extrinsic calibration) is what the camera
    node publishes on /<name>/extrinsics, latched, for a subscriber that comes late; a camera
    that moves with the arm and has none publishes nothing there."""
    from geometry_msgs.msg import PoseStamped

    from fdvla_msgs import qos

    given = [-0.9, -0.2, 0.6, 0.0, 0.0, 0.6, 0.8]
    bringup = Bringup.from_setup("sim", ["cameras.kinect.width=64", "cameras.kinect.height=48",
                                         f"cameras.kinect.pose_in_base={given}"]).start()
    probe = Probe("camera_calibration_probe")
    try:
        probe.subscribe(COLOUR, Image)
        probe.wait_for(lambda: probe.count(COLOUR) >= 3, 60, "kinect colour")
        # Subscribed after the camera published it: latched.
        for cam in ("kinect", "wrist"):
            probe.subscribe(topics.camera_extrinsics_topic(cam), PoseStamped, profile=qos.LATCHED)
        probe.wait_for(lambda: probe.count(topics.camera_extrinsics_topic("kinect")) == 1, 20,
                       "the kinect's extrinsics")
        msg = probe.latest(topics.camera_extrinsics_topic("kinect"))
        assert msg.header.frame_id == topics.BASE_FRAME
        np.testing.assert_allclose(conv.pose_from_msg(msg)[1].as_vector(), given, atol=1e-9)
        time.sleep(1.0)  # the wrist camera's latched message, had there been one, has come by now
        assert probe.count(topics.camera_extrinsics_topic("wrist")) == 0
    finally:
        probe.close()
        bringup.stop()
