"""A supervised node graph plus this process's own rclpy side: what `fdvla bringup` and the
real-time `fdvla eval` both run.

The graph's processes start as children under the `Supervisor` (one OS process each, as the
launch file starts them); this process gets an rclpy context, an executor thread and the
`StatusMonitor` (the /diagnostics table, the supervisor's process rows), and may add nodes of
its own (the episode client). `poll()` reports processes that exited and tells the robot to hold
when one that is not the robot's goes.
"""

from __future__ import annotations

import os
from typing import Callable

from fdvla.config import load_setup
from fdvla_drivers.environment import apply_defaults
from fdvla.graph import build_graph


def check_policies(graph) -> None:
    """A policy that cannot run on this setup is refused before any process starts (raises
    PolicyLoadError), not discovered later as one dead process among running ones."""
    for spec in (n for p in graph for n in p.nodes if n.kind == "policy"):
        from fdvla_policy_node.inference.agents import check_fits_setup

        check_fits_setup(spec.params["checkpoint"], bool(spec.params.get("wrench_available")),
                         str(spec.params.get("setup", "")))


class GraphRun:
    def __init__(self, robot: str, overrides: list[str], emit: Callable[[str, str], None],
                 console=None, own: tuple = ()):
        """`own`: names of graph processes that this process runs itself or leaves out (`fdvla
        record` runs the teleop process beside its keyboard; sim-demos its own recorder); the
        supervisor starts the others."""
        apply_defaults()
        from fdvla_drivers.sim.shared_snapshot import remove_stale_segments, segment_name

        remove_stale_segments()
        self.snapshot = segment_name(os.getpid())
        self.overrides = [*overrides, f"sim_snapshot={self.snapshot}"]
        self.robot = robot
        self.cfg = load_setup(robot, self.overrides)
        if self.is_sim and (self.cfg.get("policy") or {}).get("checkpoint") \
                and not self.cfg.get("instruction"):
            # In simulation the task says what to do; on hardware the operator must.
            from fdvla.supervisor import quote_override
            from fdvla_drivers.sim.tasks import make_task

            task = make_task(str(self.cfg["robot"].get("task", "button")))
            self.overrides.append(quote_override("instruction", task.instruction))
            self.cfg = load_setup(robot, self.overrides)
        self.graph = build_graph(self.cfg)
        self.own = [p for p in self.graph if p.name in own]
        check_policies(self.graph)
        self.emit = emit
        self.console = console
        self.supervisor = None
        self.session = self.context = self.monitor = None
        self.failed = False  # the robot's process exited

    @property
    def is_sim(self) -> bool:
        return (self.cfg.get("robot") or {}).get("backend") == "sim"

    def start(self) -> "GraphRun":
        from fdvla.supervisor import Supervisor

        self.supervisor = Supervisor(self.robot, self.overrides,
                                     [p for p in self.graph if p not in self.own], self.emit)
        try:
            self.supervisor.start()  # before this process starts any rclpy thread (fork safety)
            from fdvla.status import StatusMonitor
            from fdvla_drivers.nodes.session import RosSession

            self.session = RosSession("fdvla_graph_run", threads=2, signals=False)
            self.context = self.session.context
            self.monitor = self.session.add(StatusMonitor(self.context, console=self.console))
            self.report()
        except BaseException:
            self.stop()
            raise
        return self

    def add_node(self, node):
        return self.session.add(node)

    def report(self) -> None:
        self.monitor.set_processes([(c.name, c.pid, c.returncode is None, c.describe())
                                    for c in self.supervisor.children])

    def poll(self) -> bool:
        """Report processes that exited; False once the robot's process is gone."""
        dead = self.supervisor.poll()
        if dead:
            self.report()
        for c in dead:
            self.emit("supervisor", f"process {c.name} (pid {c.pid}) {c.describe()}")
            if c.critical:
                self.emit("supervisor", "the robot's process is gone: stopping every process")
                self.failed = True
            elif self.supervisor.child_alive_critical():
                held = self.monitor.request_hold()
                self.emit("supervisor", "robot told to hold (/controller/stop)" if held else
                          "could not reach /controller/stop")
        return not self.failed

    def check(self) -> None:
        """Raise when the robot's process is gone (for loops that wait on the graph)."""
        if not self.poll():
            raise RuntimeError("the robot's process exited (see its log)")

    def stop(self) -> None:
        from fdvla_drivers.sim.shared_snapshot import unlink

        if self.supervisor is not None:
            self.supervisor.stop()
        unlink(self.snapshot)
        if self.session is not None:
            self.session.close()
            self.session = self.context = None

    def __enter__(self) -> "GraphRun":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
