"""Pip-mode bringup: the whole node graph of a robot setup in one process on an rclpy executor."""

from __future__ import annotations

import signal
import threading
import time
from typing import Optional

from fdvla.config import load_setup
from fdvla.environment import apply_defaults
from fdvla.graph import build_graph


def run_bringup(robot: str = "sim", task: Optional[str] = None, duration: Optional[float] = None,
                overrides: Optional[list[str]] = None, instruction: Optional[str] = None,
                status_period: float = 5.0, console=None) -> int:
    apply_defaults()
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    from fdvla.runtime import ProcessRuntime
    from fdvla.status import StatusMonitor

    overrides = list(overrides or [])
    if task:
        overrides.append(f"robot.task={task}")
    cfg = load_setup(robot, overrides)
    if instruction:
        cfg["instruction"] = instruction
    graph = build_graph(cfg)

    context = rclpy.Context()
    rclpy.init(context=context)
    runtimes: list[ProcessRuntime] = []
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for spec in graph:
            runtimes.append(ProcessRuntime(spec, context).start())
        for rt in runtimes:
            for node in rt.nodes:
                executor.add_node(node)
        monitor = StatusMonitor(context, console=console)
        executor.add_node(monitor)
        names = ", ".join(n.get_name() for rt in runtimes for n in rt.nodes)
        monitor.say(f"[bold]fdvla bringup[/] robot={cfg['name']} nodes: {names}")
        spin = threading.Thread(target=_spin, args=(executor, stop), daemon=True)
        spin.start()
        t_end = None if duration is None else time.monotonic() + duration
        next_status = time.monotonic() + status_period
        while not stop.is_set():
            if t_end is not None and time.monotonic() >= t_end:
                break
            stop.wait(0.1)
            if status_period > 0 and time.monotonic() >= next_status:
                monitor.print_table()
                next_status += status_period
        if status_period > 0:
            monitor.print_table()
        return 0
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        stop.set()
        for rt in runtimes:
            rt.shutdown()
        executor.shutdown(timeout_sec=2.0)
        try:
            rclpy.shutdown(context=context)
        except Exception:
            pass


def _spin(executor, stop: threading.Event) -> None:
    from rclpy.executors import ExternalShutdownException

    try:
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.1)
    except ExternalShutdownException:
        pass
