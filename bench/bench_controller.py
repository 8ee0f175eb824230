"""Controller loop and topic rates of the simulated cell while it tracks streamed action chunks.

    python bench/bench_controller.py [--duration 30] [--no-cameras] [--robot sim]

Runs the sim bringup in this process, streams a chunk every 100 ms (a slow circle in the
horizontal plane, like a policy would), and reports over the measurement window:
- the servo loop: achieved rate, p50/p99/max period error (target 500 Hz, p99 < 0.5 ms);
- the sim's real-time factor (simulated seconds per wall second, target 1.0 when paced);
- every contract topic's rate, measured by a subscriber on its own DDS participant;
- chunk tracking error (TCP vs the controller's target).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fdvla.environment import apply_defaults  # noqa: E402

apply_defaults()
os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import PoseStamped, WrenchStamped  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, JointState  # noqa: E402
from trajectory_msgs.msg import MultiDOFJointTrajectory  # noqa: E402

from fdvla.bringup import Bringup  # noqa: E402
from fdvla_msgs import conversions as conv  # noqa: E402
from fdvla_msgs import qos, topics  # noqa: E402
from fdvla_msgs.types import ActionChunk  # noqa: E402
from nodes.probe import Probe  # noqa: E402


def circle_chunk(center, quat, radius, phase0, now, omega=1.0, horizon=1.0, n=50):
    t = np.linspace(horizon / n, horizon, n)
    ph = phase0 + omega * t
    pos = center + radius * np.stack([np.cos(ph), np.sin(ph), np.zeros(n)], axis=1)
    return ActionChunk.from_arrays(now, t, pos, np.tile(quat, (n, 1)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--robot", default="sim")
    ap.add_argument("--no-cameras", action="store_true")
    args = ap.parse_args(argv)
    console = Console()
    overrides = ["cameras={}"] if args.no_cameras else []
    bringup = Bringup.from_setup(args.robot, overrides).start()
    cfg = bringup.cfg
    probe = Probe("bench_probe")
    expected = {topics.JOINT_STATES: (JointState, cfg["robot"]["state_rate"]),
                topics.TCP_POSE: (PoseStamped, cfg["robot"]["state_rate"]),
                topics.CONTROLLER_TARGET_POSE: (PoseStamped,
                                                cfg["controller"]["target_pose_rate"])}
    if bringup.robot.has_wrench:
        expected[topics.WRENCH] = (WrenchStamped, cfg["robot"]["state_rate"])
    for cam, cc in (cfg.get("cameras") or {}).items():
        expected[topics.camera_image_topic(cam)] = (Image, cc["fps"])
        expected[topics.camera_info_topic(cam)] = (CameraInfo, cc["fps"])
    for t, (typ, _) in expected.items():
        probe.subscribe(t, typ)
    probe.subscribe(topics.DIAGNOSTICS, DiagnosticArray, profile=qos.DIAGNOSTICS)
    pub = probe.publisher(topics.ACTION_CHUNK, MultiDOFJointTrajectory)
    try:
        probe.wait_for(lambda: all(probe.count(t) > 5 for t in expected), 60, "all topics")
        probe.wait_for_subscriber(pub)
        time.sleep(1.0)
        start = conv.pose_from_msg(probe.latest(topics.TCP_POSE))[1]
        radius, omega = 0.03, 2.0  # 6 cm/s around a 3 cm circle
        center = start.position - [radius, 0, 0]
        controller = bringup.node("controller")
        loop = controller.loop
        loop.stats.reset()
        wall_t0 = time.monotonic()
        sim_clock0 = getattr(bringup.robot, "sim_time", None)
        t0 = time.time()
        errors = []
        console.print(f"tracking chunks for {args.duration:.0f} s ...")
        while time.monotonic() - wall_t0 < args.duration:
            now = time.time()
            pub.publish(conv.chunk_to_msg(circle_chunk(center, start.quat_xyzw, radius,
                                                       omega * (now - t0), now, omega)))
            time.sleep(0.1)
            tp = conv.pose_from_msg(probe.latest(topics.TCP_POSE))[1]
            tgt = controller.controller.target
            if tgt is not None:
                errors.append(np.linalg.norm(tp.position - tgt.position))
        wall = time.monotonic() - wall_t0
        rates = {t: probe.rate(t, window=min(10.0, args.duration)) for t in expected}
        loop_stats = loop.stats.summary()
        sim_clock1 = getattr(bringup.robot, "sim_time", None)
        rtf = ((sim_clock1 - sim_clock0) / wall) if sim_clock0 is not None else float("nan")
        status = controller.controller.status()
    finally:
        probe.close()
        bringup.stop()

    table = Table(title=f"controller & topics, robot={args.robot}, "
                        f"cameras={'off' if args.no_cameras else 'on'}, {wall:.0f} s")
    table.add_column("what")
    table.add_column("measured", justify="right")
    table.add_column("target", justify="right")
    table.add_row("servo loop rate", f"{loop_stats['rate_hz']:.1f} Hz", "500 Hz")
    table.add_row("period error p50", f"{loop_stats['p50_err_ms']:.3f} ms", "")
    table.add_row("period error p99", f"{loop_stats['p99_err_ms']:.3f} ms", "< 0.5 ms")
    table.add_row("period error max", f"{loop_stats['max_err_ms']:.3f} ms", "")
    table.add_row("sim real-time factor", f"{rtf:.3f}", "1.0")
    table.add_row("TCP - target (median)", f"{np.median(errors) * 1e3:.2f} mm", "")
    table.add_row("chunks accepted / rejected",
                  f"{status['accepted'].get('chunk', 0)} / {sum(status['rejections'].values())}",
                  "all / 0")
    for t, (_, target) in expected.items():
        table.add_row(t, f"{rates[t]:.1f} Hz", f"{target:g} Hz")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
