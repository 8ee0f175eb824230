"""A camera set to `depth: true` publishes its registered depth over DDS beside its colour image
(32FC1 metres, the colour image's frame and stamps); a camera without it publishes no depth."""

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
