"""Issue 16: what the outside adversarial run found still open, over DDS against the sim.

Items 1 and 2 (clamping relief after a force stop; the peak force at the stop) press into the
button cap with and without a wrench; items 3, 4 and 6 share one sim bringup. The true contact
force is read from the simulated cell (what a force gauge on the table would show).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fdvla_drivers.control.safety import SafetyLimits
from fdvla_msgs import conversions as conv
from fdvla_msgs.types import ActionChunk
from helpers.sim_graph import line_chunk
from helpers.cell import Cell, peak_speed, settle
from helpers.cell import ForceGauge

pytestmark = pytest.mark.slow


# ------------------------------------------------------------------ 1, 2. pressing into the cap

@pytest.mark.parametrize("setup,key", [("sim", "rejected.wrench_limit"),
                                       ("sim_sensorless", "rejected.contact_estimate")])
def test_press_into_the_cap_stops_near_the_limit_then_backs_off(setup, key):
    cell = Cell(setup, ["robot.task=button"], name=f"relief_probe_{setup}")
    gauge = ForceGauge(cell.bringup.robot)
    gauge.start()
    try:
        cell.ensure_armed()
        first = settle(cell.probe, 0.3)
        cap = cell.bringup.robot.task.object_poses()["button_cap_top"].position
        start = cell.go_to([cap[0], cap[1], first.position[2]], speed=0.1)
        depth = start.position[2] - cap[2] + 0.05  # 5 cm into the cap, at 5 cm/s
        duration = depth / 0.05
        t0 = time.time()
        cell.chunk_pub.publish(conv.chunk_to_msg(
            line_chunk(t0, start, [0, 0, -depth], duration)))
        cell.wait_counter(key, 1, duration + 5)
        time.sleep(1.5)
        limit = float(cell.bringup.cfg["safety"]["max_force"])
        peak = max(f for t, f in gauge.samples if t >= t0)
        held = float(np.mean([f for t, f in gauge.samples if t > time.time() - 0.3]))
        d = cell.fresh_diag()
        # Item 1: the stop backs off until the cap is relieved (it held 21 N), then holds.
        assert held < 8.0, f"{held:.1f} N left on the cap after the stop ({d})"
        assert int(float(d["force_retract"])) >= 1 and float(d["retract_mm"]) > 0, d
        # Item 2: near contact the speed into it is capped so the stop holds the limit (it
        # overshot to 67-69 N; the bound leaves 8 % for a loaded machine).
        assert peak < limit * 1.08, f"true peak {peak:.1f} N for a {limit:.0f} N limit"
        # Issue 15: a press that does not give is first held at the press limit (50 N; the
        # speed into the contact falls to zero there), and stopped after press_dwell.
        press = SafetyLimits.from_dict(cell.bringup.cfg["safety"]).press_limit
        assert peak < press * 1.08, f"true peak {peak:.1f} N for a {press:.0f} N press limit"
        assert "press limit" in d["fault"], d
    finally:
        gauge.stop()
        cell.close()


# ------------------------------------------------------------------ 3, 4, 6. one sim bringup

@pytest.fixture(scope="module")
def cell():
    c = Cell("sim", name="residuals_probe")
    yield c
    c.close()


@pytest.fixture(autouse=True)
def armed(request):
    if "cell" in request.fixturenames:
        request.getfixturevalue("cell").ensure_armed()


def test_huge_chunk_is_refused_by_size_before_it_is_parsed(cell):
    start = settle(cell.probe, 0.2)
    n0 = cell.counter("rejected.too_long")
    n = 50000
    s = np.linspace(1.0 / n, 1.0, n)
    chunk = ActionChunk.from_arrays(time.time(), s * 2.0,
                                    start.position + np.outer(s, [0, 0, 0.005]),
                                    np.tile(start.quat_xyzw, (n, 1)))
    cell.chunk_pub.publish(conv.chunk_to_msg(chunk))
    cell.wait_counter("rejected.too_long", n0 + 1, 20)
    why = cell.fresh_diag()["last_rejection"]
    # Refused on the serialized size, never turned into Python objects (which stalled the servo
    # thread ~0.1 s on the interpreter lock).
    assert "bytes" in why and "unparsed" in why, why


def test_second_bringup_refuses_in_one_line_without_a_traceback(cell):
    fdvla = Path(sys.executable).with_name("fdvla")
    r = subprocess.run([str(fdvla), "bringup", "--robot", "sim", "--duration", "20",
                        "--set", "cameras={}"], env=dict(os.environ), capture_output=True,
                       text=True, timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert f"ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']}" in out, out
    assert "Traceback" not in out, out


def test_scaled_twist_keeps_the_tcp_under_the_speed_limit(cell):
    before = settle(cell.probe, 0.3)
    r0 = cell.resyncs()
    t0, t1, _ = cell.stream_twist([0.0, 0.0, 10.0], 0.4, 50)  # 40x the 0.25 m/s limit
    time.sleep(0.6)
    ts, ps = cell.poses_between(t0, t1 + 0.5)
    limit = float(cell.bringup.cfg["safety"]["max_linear_speed"])
    # The TCP's own speed from the robot's stamps over 10 ms windows (it was 0.269-0.272 m/s):
    # the target keeps 10 % below the limit for the servo's catch-up overshoot.
    if cell.resyncs() == r0:  # a starved real-time sim skips ahead: its catch-up is not ours
        peak = peak_speed(ts, ps, 0.01)
        assert peak <= limit, f"TCP peak {peak:.3f} m/s over 10 ms for a {limit} m/s limit"
    cell.go_to(before.position, speed=0.1)
