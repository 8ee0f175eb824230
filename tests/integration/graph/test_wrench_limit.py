"""The wrench limit over DDS: a press into the board must stop at the configured force.

Its own module so that no other graph (the module fixture of test_sim_graph.py) publishes on
the same topics while it runs.
"""

import re
import time

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, WrenchStamped
from trajectory_msgs.msg import MultiDOFJointTrajectory

import pytest

from fdvla.bringup import Bringup
from fdvla_msgs import conversions as conv
from fdvla_msgs import qos, topics
from helpers.probe import Probe
from helpers.sim_graph import NO_CAMERAS, line_chunk, rejected, settle

pytestmark = pytest.mark.slow


def test_wrench_above_limit_stops_a_press_into_the_table():
    """Press down until contact: the controller must stop at the configured force limit."""
    bringup = Bringup.from_setup("sim", NO_CAMERAS + [
        "safety.max_force=25.0", "safety.workspace_min=[-0.8,-0.8,-0.05]",
        "robot.task=wipe"]).start()
    probe = Probe("wrench_probe")
    try:
        probe.subscribe(topics.TCP_POSE, PoseStamped)
        probe.subscribe(topics.WRENCH, WrenchStamped)
        probe.subscribe(topics.DIAGNOSTICS, DiagnosticArray, profile=qos.DIAGNOSTICS)
        probe.subscribe(topics.CONTROLLER_TARGET_POSE, PoseStamped)
        pub = probe.publisher(topics.ACTION_CHUNK, MultiDOFJointTrajectory)
        probe.wait_for(lambda: probe.count(topics.TCP_POSE) > 50, 20, "/tcp_pose")
        probe.wait_for(lambda: probe.count(topics.CONTROLLER_TARGET_POSE) > 0, 20,
                       "the controller to arm")
        assert probe.node.count_publishers(topics.TCP_POSE) == 1  # only this test's arm
        probe.wait_for_subscriber(pub)
        start = settle(probe)
        surface_z = bringup.robot.task.object_poses()["board_surface"].position[2]
        depth = start.position[2] - surface_z + 0.03  # 3 cm "into" the board
        duration = depth / 0.04
        pub.publish(conv.chunk_to_msg(line_chunk(time.time(), start, [0, 0, -depth], duration)))
        probe.wait_for(lambda: "force" in rejected(probe).get("fault", ""), duration + 5,
                       "the wrench-limit stop")
        # The controller stopped on a sample above the limit (it sees every 500 Hz sample; a
        # subscriber may miss that one), and the published wrench shows the contact building up.
        fault = rejected(probe)["fault"]
        assert float(re.search(r"force ([0-9.]+) N", fault).group(1)) > 25.0, fault
        forces = [conv.wrench_from_msg(m)[1][2] for m in probe.all(topics.WRENCH)]
        assert max(forces) > 10.0  # it did press into the board...
        stopped = settle(probe, 0.3)
        # ...and then stopped: held in contact it may settle elastically by a millimetre or
        # two, not continue the remaining centimetres of the chunk.
        assert settle(probe, 0.7).distance_to(stopped)[0] < 3e-3
        assert stopped.position[2] > surface_z - 0.03 + 0.015  # far from the commanded depth
        assert int(rejected(probe).get("rejected.wrench_limit", 0)) >= 1
    finally:
        probe.close()
        bringup.stop()
