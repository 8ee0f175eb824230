"""Servo loop, sim real-time factor and topic rates of `fdvla bringup` while it tracks chunks.

    python bench/bench_controller.py [--duration 60] [--robot sim] [--no-cameras]

Starts `fdvla bringup` as its own process (as a user runs it: one OS process per graph process),
streams an action chunk every 100 ms from this process (a slow circle in the horizontal plane,
like a policy), and reports over the last `--duration` seconds:
- the servo loop: mean rate over the whole window (servo cycles counted by the controller,
  target >= 498 Hz), p50/p99/max period error (worst of the controller's 30 s windows inside
  the measurement; target p99 <= 1 ms, goal 0.5 ms), from the controller's /diagnostics;
- the simulation's real-time factor (target 1.0 when paced), from the robot state node's
  /diagnostics;
- /joint_states' mean rate over the window as a separate subscriber process receives it, one
  that only counts (target >= 495 Hz), and every contract topic's rate as this process (also
  its own DDS participant, busier) receives it;
- how closely the TCP follows the controller's target.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fdvla_drivers.environment import apply_defaults  # noqa: E402

apply_defaults()
os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import PoseStamped, WrenchStamped  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, JointState  # noqa: E402
from trajectory_msgs.msg import MultiDOFJointTrajectory  # noqa: E402

from fdvla.config import load_setup  # noqa: E402
from fdvla_drivers.robot import has_wrench  # noqa: E402
from fdvla_msgs import conversions as conv  # noqa: E402
from fdvla_msgs import qos, topics  # noqa: E402
from fdvla_msgs.types import ActionChunk  # noqa: E402
from nodes.probe import Probe  # noqa: E402


def circle_chunk(center, quat, radius, phase0, now, omega, horizon=1.0, n=50):
    t = np.linspace(horizon / n, horizon, n)
    ph = phase0 + omega * t
    pos = center + radius * np.stack([np.cos(ph), np.sin(ph), np.zeros(n)], axis=1)
    return ActionChunk.from_arrays(now, t, pos, np.tile(quat, (n, 1)))


def diag_values(probe: Probe, suffix: str) -> dict:
    for m in reversed(probe.all(topics.DIAGNOSTICS)):
        for st in m.status:
            if st.name.endswith(suffix):
                return conv.diagnostic_values(st)
    return {}


def diag_stamped(probe: Probe, suffix: str) -> list:
    """(header stamp, values) of every report of the component named `...suffix`."""
    out = []
    for m in probe.all(topics.DIAGNOSTICS):
        for st in m.status:
            if st.name.endswith(suffix):
                out.append((m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec,
                            conv.diagnostic_values(st)))
    return out


def count_joint_states(seconds: float) -> int:
    """Subscriber process: count /joint_states for `seconds` after 'go' arrives on stdin and
    print the mean rate. Its only work is that count, so it measures what the stack delivers."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    rclpy.init()
    node = rclpy.create_node("bench_joint_states_counter")
    counter = {"n": 0}
    node.create_subscription(JointState, topics.JOINT_STATES,
                             lambda _m: counter.__setitem__("n", counter["n"] + 1),
                             qos.SENSOR_SUB)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    import select

    print("ready", flush=True)
    while not select.select([sys.stdin], [], [], 0)[0]:
        executor.spin_once(timeout_sec=0.01)
    sys.stdin.readline()
    n0, t0 = counter["n"], time.monotonic()
    while time.monotonic() - t0 < seconds:
        executor.spin_once(timeout_sec=0.01)
    print(f"rate {(counter['n'] - n0) / (time.monotonic() - t0):.3f}", flush=True)
    rclpy.shutdown()
    return 0


def main(argv=None) -> int:
    if argv is None and sys.argv[1:2] == ["--count-joint-states"]:
        return count_joint_states(float(sys.argv[2]))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--robot", default="sim")
    ap.add_argument("--no-cameras", action="store_true")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="setup override passed to fdvla bringup, e.g. "
                         "executors.robot_driver=multi")
    args = ap.parse_args(argv)
    console = Console()
    overrides = (["cameras={}"] if args.no_cameras else []) + args.overrides
    cfg = load_setup(args.robot, overrides)
    cmd = [sys.executable, "-m", "fdvla.cli", "bringup", "--robot", args.robot,
           "--status-period", "0", "--duration", str(args.duration + 60)]
    for o in overrides:
        cmd += ["--set", o]
    log = open(os.environ["FDVLA_BENCH_LOG"], "w") if os.environ.get("FDVLA_BENCH_LOG") else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=log, stderr=log)
    probe = Probe("bench_probe")
    expected = {topics.JOINT_STATES: (JointState, cfg["robot"]["state_rate"]),
                topics.TCP_POSE: (PoseStamped, cfg["robot"]["state_rate"]),
                topics.CONTROLLER_TARGET_POSE: (PoseStamped,
                                                cfg["controller"]["target_pose_rate"])}
    if has_wrench(cfg["robot"]):
        expected[topics.WRENCH] = (WrenchStamped, cfg["robot"]["state_rate"])
    for cam, cc in (cfg.get("cameras") or {}).items():
        expected[topics.camera_image_topic(cam)] = (Image, cc["fps"])
        expected[topics.camera_info_topic(cam)] = (CameraInfo, cc["fps"])
    for t, (typ, _) in expected.items():
        probe.subscribe(t, typ)
    probe.subscribe(topics.DIAGNOSTICS, DiagnosticArray, profile=qos.DIAGNOSTICS, keep=100000)
    pub = probe.publisher(topics.ACTION_CHUNK, MultiDOFJointTrajectory)
    counter = subprocess.Popen([sys.executable, __file__, "--count-joint-states",
                                str(args.duration)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert counter.stdout.readline().strip() == "ready"
        probe.wait_for(lambda: all(probe.count(t) > 5 for t in expected), 90, "all topics")
        probe.wait_for_subscriber(pub)
        time.sleep(2.0)
        start = conv.pose_from_msg(probe.latest(topics.TCP_POSE))[1]
        radius, omega = 0.03, 2.0  # 6 cm/s around a 3 cm circle
        center = start.position - [radius, 0, 0]
        counter.stdin.write("go\n")
        counter.stdin.flush()
        t0 = time.time()
        m0 = time.monotonic()
        counts0 = {t: probe.count(t) for t in expected}
        errors, rtfs, p99s = [], [], []
        next_p99 = time.monotonic() + 30.0
        console.print(f"tracking chunks for {args.duration:.0f} s ...")
        while time.time() - t0 < args.duration:
            now = time.time()
            pub.publish(conv.chunk_to_msg(circle_chunk(center, start.quat_xyzw, radius,
                                                       omega * (now - t0), now, omega)))
            time.sleep(0.1)
            tp = probe.latest(topics.TCP_POSE)
            tg = probe.latest(topics.CONTROLLER_TARGET_POSE)
            errors.append(np.linalg.norm(conv.pose_from_msg(tp)[1].position
                                         - conv.pose_from_msg(tg)[1].position))
            rtf = diag_values(probe, ": robot state").get("sim_real_time_factor")
            if rtf is not None:
                rtfs.append(float(rtf))
            if time.monotonic() >= next_p99:  # the controller's stats cover the last 30 s
                p99s.append(diag_values(probe, ": controller"))
                next_p99 += 30.0
        m1 = time.monotonic()
        rates = {t: (probe.count(t) - counts0[t]) / (m1 - m0) for t in expected}
        out, _ = counter.communicate(timeout=30)
        counted = float(out.split()[-1])
        time.sleep(1.2)  # one more /diagnostics report covering the tracking window
        loop = diag_values(probe, ": controller")
        p99s.append(loop)
        reports = [(t, v) for t, v in diag_stamped(probe, ": controller") if t >= t0]
        (ta, a), (tb, b) = reports[0], reports[-1]
        mean_rate = (int(b["servo_cycles"]) - int(a["servo_cycles"])) / (tb - ta)
    finally:
        if counter.poll() is None:
            counter.kill()
        probe.close()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()

    f = lambda k: float(loop.get(k, "nan"))  # noqa: E731
    rt = os.environ.get("FDVLA_RT_PRIORITY", "default")
    table = Table(title=f"fdvla bringup --robot {args.robot}, cameras "
                        f"{'off' if args.no_cameras else 'on'}, {args.duration:.0f} s of chunks "
                        f"(FDVLA_RT_PRIORITY={rt}{''.join(', ' + o for o in args.overrides)})")
    for col, just in (("what", "left"), ("measured", "right"), ("target", "right")):
        table.add_column(col, justify=just)
    worst = lambda k: max(float(v.get(k, "nan")) for v in p99s)  # noqa: E731
    table.add_row(f"servo loop rate (mean over {tb - ta:.0f} s)", f"{mean_rate:.1f} Hz",
                  ">= 498 Hz")
    table.add_row("period error p50", f"{f('period_err_p50_ms'):.3f} ms", "")
    table.add_row("period error p99 (worst 30 s window)",
                  f"{worst('period_err_p99_ms'):.3f} ms", "<= 1 ms (goal 0.5)")
    table.add_row("period error max", f"{worst('period_err_max_ms'):.3f} ms", "")
    table.add_row("sim real-time factor (median)",
                  f"{np.median(rtfs):.3f}" if rtfs else "n/a", "1.0")
    table.add_row("TCP - target (median)", f"{np.median(errors) * 1e3:.2f} mm", "")
    table.add_row("chunks accepted / rejected",
                  f"{loop.get('accepted_chunks', '?')} / {loop.get('rejected_total', '?')}",
                  "all / 0")
    table.add_row("/joint_states, counting subscriber process", f"{counted:.1f} Hz",
                  ">= 495 Hz")
    for t, (_, target) in expected.items():
        table.add_row(f"{t} (this process, busy)" if t == topics.JOINT_STATES else t,
                      f"{rates[t]:.1f} Hz", f"{target:g} Hz")
    console.print(table)
    console.print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f} on "
                  f"{os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
