"""Issue 6 items 4 and 5: sensorless contact estimate, reach limits, protective stop hold/clear.

Each test has its own bringup (different setups); the true contact force is read from the
simulated cell itself (what a force gauge on the table would show), never by the controller.
"""

import time

import numpy as np
import pytest
from std_srvs.srv import SetBool, Trigger

from fdvla_msgs import conversions as conv
from fdvla_msgs import topics
from helpers.sim_graph import line_chunk
from helpers.cell import Cell, ForceGauge, settle, tcp

pytestmark = pytest.mark.slow


def test_sensorless_press_stops_on_the_contact_estimate():
    cell = Cell("sim_sensorless", ["robot.task=wipe", "safety.workspace_min=[-0.8,-0.8,-0.05]"],
                name="contact_probe")
    gauge = ForceGauge(cell.bringup.robot)
    gauge.start()
    try:
        cell.ensure_armed()
        start = settle(cell.probe, 0.3)
        surface_z = cell.bringup.robot.task.object_poses()["board_surface"].position[2]
        depth = start.position[2] - surface_z + 0.05  # 5 cm "into" the board
        duration = depth / 0.04
        cell.chunk_pub.publish(conv.chunk_to_msg(
            line_chunk(time.time(), start, [0, 0, -depth], duration)))
        cell.wait_counter("rejected.contact_estimate", 1, duration + 5)
        time.sleep(1.0)
        peak = max(f for _, f in gauge.samples)
        held = np.mean([f for t, f in gauge.samples if t > time.time() - 0.3])
        limit = float(cell.bringup.cfg["safety"]["max_force"])
        assert peak < limit * 1.25, f"peak {peak:.0f} N with a {limit:.0f} N limit"
        assert held < limit, f"held {held:.0f} N after the stop"
        assert "contact" in cell.diag()["fault"]
    finally:
        gauge.stop()
        cell.close()


def test_reach_limit_slows_and_clamps_before_the_arm_stops():
    cell = Cell("sim", name="reach_probe")
    try:
        cell.ensure_armed()
        before = settle(cell.probe, 0.3)
        t0, t1, _ = cell.stream_twist([0.0, 0.0, 0.25], 5.0, 50)  # straight up, far past reach
        time.sleep(0.5)
        d = cell.fresh_diag()
        assert d["fault"] == "", d["fault"]  # no protective stop: limited before the limit
        top = settle(cell.probe, 0.3)
        assert top.position[2] > before.position[2] + 0.3, d  # it did go up as far as allowed
        assert int(float(d["reach_limited"])) > 0
        assert settle(cell.probe, 0.5).distance_to(top)[0] < 0.5e-3
    finally:
        cell.close()


def test_protective_stop_holds_still_reports_reason_and_clears_over_ros():
    cell = Cell("sim", name="pstop_probe")
    try:
        robot = cell.bringup.robot
        cell.ensure_armed()
        start = settle(cell.probe, 0.3)
        t_move = time.time()
        cell.chunk_pub.publish(conv.chunk_to_msg(line_chunk(t_move, start, [0, 0.1, 0], 1.0)))
        time.sleep(0.5)
        robot.trigger_protective_stop("test: simulated collision")
        t_stop = time.time()
        time.sleep(1.0)
        ts, ps = cell.poses_between(t_stop + 0.05, t_stop + 1.0)
        drift = float(np.max(np.linalg.norm(ps - ps[0], axis=1)))
        assert drift < 1e-3, f"arm moved {drift * 1e3:.1f} mm during the protective stop"
        d = cell.fresh_diag()
        assert "simulated collision" in d["fault"], d["fault"]
        r = cell.probe.call(Trigger, topics.SRV_CONTROLLER_CLEAR_FAULT, Trigger.Request())
        assert r.success, r.message
        assert not robot.read_state().protective_stop
        r = cell.probe.call(SetBool, topics.SRV_CONTROLLER_ENABLE, SetBool.Request(data=True))
        assert r.success, r.message
        here = tcp(cell.probe)
        cell.go_to(here.position + [0, 0, 0.01])
        assert tcp(cell.probe).position[2] > here.position[2] + 0.008  # moves again
    finally:
        cell.close()
