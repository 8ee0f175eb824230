"""Pip-mode bringup.

`run_bringup` (the `fdvla bringup` command) runs one OS process per process of the graph under a
supervisor. `Bringup` runs the whole graph in this one interpreter on an rclpy executor: a
harness for tests that need the node objects (`.robot`, `.node(name)`) next to DDS.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from typing import Optional

from fdvla.config import load_setup
from fdvla.environment import apply_defaults, freeze_startup_heap, tune_interpreter
from fdvla.graph import build_graph

_instances = itertools.count()


class Bringup:
    """Starts every process of the graph on one rclpy context and spins it in a thread."""

    def __init__(self, cfg: dict, num_threads: int = 4):
        apply_defaults()
        cfg = dict(cfg)
        # The simulated cell's cameras read its state from shared memory, even in one process.
        cfg.setdefault("sim_snapshot", f"fdvla_sim_{os.getpid()}_b{next(_instances)}")
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
        from rclpy._rclpy_pybind11 import InvalidHandle
        from rclpy.executors import ExternalShutdownException

        while not self._stop.is_set():
            try:
                self.executor.spin_once(timeout_sec=0.1)
            except InvalidHandle:
                continue  # a node removed by another thread mid-wait; the others spin on
            except ExternalShutdownException:
                return

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


def _check_policies(graph) -> None:
    """A policy that cannot run on this setup is refused before any process starts (raises
    PolicyLoadError), not discovered later as one dead process among running ones."""
    for spec in (n for p in graph for n in p.nodes if n.kind == "policy"):
        from fdvla_policy_node.inference.checkpoint import check_fits_setup

        check_fits_setup(spec.params["checkpoint"], bool(spec.params.get("wrench_available")),
                         str(spec.params.get("setup", "")))


def run_bringup(robot: str = "sim", task: Optional[str] = None, duration: Optional[float] = None,
                overrides: Optional[list[str]] = None, instruction: Optional[str] = None,
                status_period: float = 5.0, console=None) -> int:
    """`fdvla bringup`: one OS process per process of the graph (as the launch file starts
    them), supervised from this one, which also prints their merged logs and /diagnostics.

    Returns 0 after --duration or Ctrl-C/SIGTERM, 1 when the robot's process died.
    """
    from rich.console import Console
    from rich.text import Text

    from fdvla.supervisor import Supervisor, quote_override
    from fdvla_drivers.sim.shared_snapshot import remove_stale_segments, segment_name, unlink

    apply_defaults()
    overrides = list(overrides or [])
    if task:
        overrides.append(f"robot.task={task}")
    if instruction:
        overrides.append(quote_override("instruction", instruction))
    remove_stale_segments()
    snapshot = segment_name(os.getpid(), f"d{os.environ.get('ROS_DOMAIN_ID', '0')}")
    overrides.append(f"sim_snapshot={snapshot}")
    cfg = load_setup(robot, overrides)
    graph = build_graph(cfg)
    _check_policies(graph)
    console = console or Console()
    styles = ["cyan", "magenta", "green", "yellow", "blue", "red"]
    style = {p.name: styles[i % len(styles)] for i, p in enumerate(graph)}

    def emit(name: str, line: str) -> None:
        console.print(Text.assemble((f"[{name}] ", style.get(name, "bold")), line),
                      highlight=False, soft_wrap=True)

    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    supervisor = Supervisor(robot, overrides, graph, emit)
    context = executor = spin = None
    rc = 0
    try:
        supervisor.start()  # before this process starts any rclpy thread (fork safety)
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        from fdvla.status import StatusMonitor

        context = rclpy.Context()
        rclpy.init(context=context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        monitor = StatusMonitor(context, console=console)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(monitor)
        spin = threading.Thread(target=_spin_until, args=(executor, stop), daemon=True)
        spin.start()
        procs = ", ".join(f"{c.name} ({' '.join(n.name for n in c.spec.nodes)}) pid {c.pid}"
                          for c in supervisor.children)
        monitor.say(f"[bold]fdvla bringup[/] robot={cfg['name']} processes: {procs}")

        def report():
            monitor.set_processes([(c.name, c.pid, c.returncode is None, c.describe())
                                   for c in supervisor.children])

        report()
        t_end = None if duration is None else time.monotonic() + duration
        next_status = time.monotonic() + status_period
        while not stop.is_set():
            if t_end is not None and time.monotonic() >= t_end:
                break
            dead = supervisor.poll()
            if dead:
                report()
            for c in dead:
                emit("supervisor", f"process {c.name} (pid {c.pid}) {c.describe()}")
                if c.critical:
                    emit("supervisor", "the robot's process is gone: stopping every process")
                    rc = 1
                    stop.set()
                elif supervisor.child_alive_critical():
                    held = monitor.request_hold()
                    emit("supervisor", "robot told to hold (/controller/stop)" if held else
                         "could not reach /controller/stop")
            stop.wait(0.1)
            if status_period > 0 and time.monotonic() >= next_status:
                monitor.print_table()
                next_status += status_period
        if status_period > 0:
            monitor.print_table()
        return rc
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        supervisor.stop()
        unlink(snapshot)
        stop.set()
        if spin is not None:
            spin.join(timeout=2.0)
        if executor is not None:
            executor.shutdown(timeout_sec=1.0)
        if context is not None:
            rclpy.try_shutdown(context=context)


def _spin_until(executor, stop: threading.Event) -> None:
    from rclpy.executors import ExternalShutdownException

    try:
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.1)
    except ExternalShutdownException:
        pass
