"""Pip-mode bringup: the whole node graph of a robot setup in one process on an rclpy executor."""

from __future__ import annotations

import signal
import threading
import time
from typing import Optional

from fdvla.config import load_setup
from fdvla.environment import apply_defaults, freeze_startup_heap, tune_interpreter
from fdvla.graph import build_graph


class Bringup:
    """Starts every process of the graph on one rclpy context and spins it in a thread."""

    def __init__(self, cfg: dict, num_threads: int = 4):
        apply_defaults()
        self.cfg = cfg
        self.graph = build_graph(cfg)
        self.num_threads = num_threads
        self.runtimes = []
        self.context = None
        self.executor = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @classmethod
    def from_setup(cls, robot: str, overrides: Optional[list[str]] = None, **kw) -> "Bringup":
        return cls(load_setup(robot, overrides), **kw)

    @property
    def nodes(self):
        return [n for rt in self.runtimes for n in rt.nodes]

    def node(self, name: str):
        return next(n for n in self.nodes if n.get_name() == name)

    @property
    def robot(self):
        return next((rt.robot for rt in self.runtimes if rt.robot is not None), None)

    def start(self, extra_nodes=()) -> "Bringup":
        import rclpy
        from rclpy.executors import MultiThreadedExecutor

        from fdvla.runtime import ProcessRuntime

        tune_interpreter(float(self.cfg.get("gil_switch_interval", 2e-4)))
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=self.num_threads, context=self.context)
        try:
            for spec in self.graph:
                self.runtimes.append(ProcessRuntime(spec, self.context).start())
        except BaseException:
            self.stop()
            raise
        for node in [*self.nodes, *extra_nodes]:
            self.executor.add_node(node)
        freeze_startup_heap()
        self._thread = threading.Thread(target=self._spin, name="executor", daemon=True)
        self._thread.start()
        return self

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            while not self._stop.is_set():
                self.executor.spin_once(timeout_sec=0.1)
        except ExternalShutdownException:
            pass

    def stop(self) -> None:
        """Controller first (it stops the robot), then nodes, cameras, backends, rclpy."""
        import rclpy

        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        for rt in self.runtimes:
            rt.shutdown()
        self.runtimes = []
        if self.executor is not None:
            self.executor.shutdown(timeout_sec=2.0)
        if self.context is not None:
            try:
                rclpy.shutdown(context=self.context)
            except Exception:
                pass
            self.context = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def run_bringup(robot: str = "sim", task: Optional[str] = None, duration: Optional[float] = None,
                overrides: Optional[list[str]] = None, instruction: Optional[str] = None,
                status_period: float = 5.0, console=None) -> int:
    from fdvla.status import StatusMonitor

    overrides = list(overrides or [])
    if task:
        overrides.append(f"robot.task={task}")
    cfg = load_setup(robot, overrides)
    if instruction:
        cfg["instruction"] = instruction
    bringup = Bringup(cfg)
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        bringup.start()
        monitor = StatusMonitor(bringup.context, console=console)
        bringup.executor.add_node(monitor)
        names = ", ".join(n.get_name() for n in bringup.nodes)
        monitor.say(f"[bold]fdvla bringup[/] robot={cfg['name']} nodes: {names}")
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
        bringup.stop()
