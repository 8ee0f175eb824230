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

from fdvla.config import ConfigError, load_setup
from fdvla_drivers.environment import apply_defaults, freeze_startup_heap, tune_interpreter
from fdvla_drivers.sim.shared_snapshot import segment_name
from fdvla.graph import build_graph

_instances = itertools.count()


class Bringup:
    """Starts every process of the graph on one rclpy context and spins it in a thread."""

    def __init__(self, cfg: dict, num_threads: int = 4):
        apply_defaults()
        cfg = dict(cfg)
        # The simulated cell's cameras read its state from shared memory, even in one process.
        cfg.setdefault("sim_snapshot", segment_name(os.getpid(), f"b{next(_instances)}"))
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
        from fdvla_drivers.nodes.common import spin_until

        spin_until(self.executor, self._stop)

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
                status_period: float = 5.0, console=None, episodes: Optional[int] = None,
                episode_timeout: float = 30.0, success_hold: float = 2.0) -> int:
    """`fdvla bringup`: one OS process per process of the graph (as the launch file starts
    them), supervised from this one, which also prints their merged logs and /diagnostics.

    In simulation with a policy, episodes run in a loop (`EpisodeLoop`): success (held
    `success_hold` s, the arm releasing and holding) or `episode_timeout` -> report -> /sim/reset
    to a new placement; `episodes` stops after that many. Returns 0 after --duration, the
    episodes or Ctrl-C/SIGTERM, 1 when the robot's process died.
    """
    from rich.console import Console
    from rich.text import Text

    from fdvla.graph_run import GraphRun
    from fdvla.supervisor import quote_override

    overrides = list(overrides or [])
    if task:
        overrides.append(f"robot.task={task}")
    if instruction:
        overrides.append(quote_override("instruction", instruction))
    console = console or Console()
    styles = ["cyan", "magenta", "green", "yellow", "blue", "red"]
    style: dict = {}

    def emit(name: str, line: str) -> None:
        console.print(Text.assemble((f"[{name}] ", style.get(name, "bold")), line),
                      highlight=False, soft_wrap=True)

    run = GraphRun(robot, overrides, emit, console=console)
    style.update({p.name: styles[i % len(styles)] for i, p in enumerate(run.graph)})
    has_policy = any(n.kind == "policy" for p in run.graph for n in p.nodes)
    if episodes is not None and not (run.is_sim and has_policy):
        raise ConfigError("--episodes needs a simulated setup and --policy")
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    loop = None
    try:
        run.start()
        procs = ", ".join(f"{c.name} ({' '.join(n.name for n in c.spec.nodes)}) pid {c.pid}"
                          for c in run.supervisor.children)
        run.monitor.say(f"[bold]fdvla bringup[/] robot={run.cfg['name']} processes: {procs}")
        if run.is_sim and has_policy:
            from fdvla.episode_loop import EpisodeLoop

            loop = EpisodeLoop(run, stop, episodes=episodes, timeout=episode_timeout,
                               success_hold=success_hold).start()
        t_end = None if duration is None else time.monotonic() + duration
        next_status = time.monotonic() + status_period
        while not stop.is_set():
            if t_end is not None and time.monotonic() >= t_end:
                break
            if not run.poll():
                stop.set()
                break
            if loop is not None and loop.finished:
                break
            stop.wait(0.1)
            if status_period > 0 and time.monotonic() >= next_status:
                run.monitor.print_table()
                next_status += status_period
        if status_period > 0:
            run.monitor.print_table()
        if loop is not None:
            loop.close()
            run.monitor.say(loop.summary_line())
        return 1 if run.failed else 0
    finally:
        stop.set()
        if loop is not None:
            loop.close()
        for s, h in previous.items():
            signal.signal(s, h)
        run.stop()
