"""Real-time factor of the simulated cell.

1. Lockstep (realtime=False): the scripted expert's full servo loop (controller + IK + physics),
   and physics stepping alone; RTF = simulated seconds / wall seconds.
2. Realtime mode with both cameras rendering at their target fps: achieved fps per camera and the
   physics RTF while they run (1.0 means the physics kept pace with the wall clock).

    python bench/bench_sim.py [--task wipe] [--seconds 5] [--fps 30] [--width 320 --height 240]
"""

from __future__ import annotations

import argparse
import os
import threading
import time

from fdvla_drivers.environment import apply_defaults

apply_defaults()  # before rclpy or mujoco load

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from fdvla_drivers.camera.sim_camera import SimCamera  # noqa: E402
from fdvla_drivers.control.controller import ServoController  # noqa: E402
from fdvla_drivers.robot.sim_backend import SimRobotBackend  # noqa: E402
from fdvla_drivers.sim.experts import make_expert  # noqa: E402
from fdvla_drivers.control.rollout import run_episode  # noqa: E402
from fdvla_drivers.sim.tasks import TASK_NAMES  # noqa: E402


def lockstep_expert(task: str, episodes: int) -> tuple[float, float, int]:
    backend = SimRobotBackend(task, realtime=False)
    sim = wall = 0.0
    successes = 0
    for seed in range(episodes):
        backend.reset(seed)
        t = time.perf_counter()
        result = run_episode(backend, ServoController(), make_expert(backend.task), 15.0)
        wall += time.perf_counter() - t
        sim += result.duration
        successes += result.success
    return sim, wall, successes


def lockstep_physics(task: str, seconds: float) -> tuple[float, float]:
    backend = SimRobotBackend(task, realtime=False)
    target = backend.read_state().tcp_pose
    n = int(seconds / backend.servo_period)
    t = time.perf_counter()
    for _ in range(n):
        backend.step(backend.servo_period)
    physics = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(n):
        c = backend.begin_cycle()
        backend.servo_tcp(target)
        backend.read_state()
        backend.end_cycle(c)
    servo = time.perf_counter() - t
    return seconds / physics, seconds / servo


def realtime_with_cameras(task: str, seconds: float, fps: float, width: int, height: int):
    backend = SimRobotBackend(task, realtime=True)
    backend.connect()
    cams = [SimCamera(backend, name, width, height, fps) for name in ("scene", "wrist")]
    counts = {c.camera: 0 for c in cams}
    stop = threading.Event()

    def reader(cam):
        while not stop.is_set():
            cam.read(timeout=5.0)
            counts[cam.camera] += 1

    for c in cams:
        c.start()
        c.read(timeout=10.0)  # renderer up
    threads = [threading.Thread(target=reader, args=(c,), daemon=True) for c in cams]
    sim0, wall0 = backend.sim_time, time.perf_counter()
    for t in threads:
        t.start()
    # The servo loop too, as in operation: hold the pose at 500 Hz.
    target = backend.read_state().tcp_pose
    while time.perf_counter() - wall0 < seconds:
        c = backend.begin_cycle()
        backend.servo_tcp(target)
        backend.end_cycle(c)
    stop.set()
    wall = time.perf_counter() - wall0
    sim = backend.sim_time - sim0
    for t in threads:
        t.join(timeout=5.0)
    for c in cams:
        c.stop()
    backend.close()
    return {k: v / wall for k, v in counts.items()}, sim / wall, backend.physics_lag_resyncs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--task", default="wipe", choices=TASK_NAMES)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--episodes", type=int, default=3)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    args = ap.parse_args()
    console = Console()
    table = Table(title=f"simulated cell, task {args.task}, {os.cpu_count()} CPUs")
    table.add_column("measurement")
    table.add_column("value", justify="right")

    phys_rtf, servo_rtf = lockstep_physics(args.task, args.seconds)
    table.add_row("lockstep physics only: RTF", f"{phys_rtf:.1f}")
    table.add_row("lockstep servo_tcp (IK) + physics: RTF", f"{servo_rtf:.1f}")
    sim, wall, ok = lockstep_expert(args.task, args.episodes)
    table.add_row(f"lockstep expert episodes ({ok}/{args.episodes} ok): RTF", f"{sim / wall:.1f}")
    fps, rtf, resyncs = realtime_with_cameras(args.task, args.seconds, args.fps, args.width,
                                              args.height)
    for name, f in fps.items():
        table.add_row(f"realtime: {name} camera {args.width}x{args.height} fps (target "
                      f"{args.fps:g})", f"{f:.1f}")
    table.add_row("realtime with both cameras: physics RTF", f"{rtf:.2f}")
    table.add_row("realtime: physics lag resyncs", str(resyncs))
    console.print(table)


if __name__ == "__main__":
    main()
