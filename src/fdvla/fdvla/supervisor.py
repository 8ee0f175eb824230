"""Pip-mode supervisor: one OS process per ProcessSpec of the graph, started and watched.

Each child is `python -m fdvla.process --robot R --process NAME --set ...` (what the launch file
runs as `fdvla_process`), in its own process group (Ctrl-C in the terminal reaches only the
supervisor, which then stops the children in order) and with PR_SET_PDEATHSIG, so a supervisor
killed outright takes its children with it. Their output is merged line by line, prefixed with
the process name.

Policy: the process that owns the robot (driver + controller) is critical: when it exits, every
other process is stopped. When another process exits (a camera, the policy, teleop), the
supervisor reports it and the robot is told to hold (`/controller/stop`, done by the caller);
the servo loop keeps running. Stopping stops the robot's process first (its controller holds the
arm before anything else goes), then the others; SIGKILL after a grace period.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from fdvla.graph import ProcessSpec


def _describe_exit(rc: Optional[int]) -> str:
    if rc is None:
        return "running"
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exited with status {rc}"


_LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_PR_SET_PDEATHSIG = 1


def _child_setup(parent_pid: int) -> Callable[[], None]:
    def setup() -> None:  # runs in the forked child, before exec: no imports, no locks
        _LIBC.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)
    return setup


class LogFile:
    """An `emit` for the Supervisor that writes the children's merged lines to one file
    (commands that own the terminal: record's status line, eval's and sim-demos' progress)."""

    def __init__(self, path):
        from pathlib import Path

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = open(path, "w")
        self._lock = threading.Lock()

    def __call__(self, name: str, line: str) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.write(f"[{name}] {line}\n")
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


@dataclass
class Child:
    spec: ProcessSpec
    popen: subprocess.Popen
    critical: bool
    reported: bool = False
    log_thread: Optional[threading.Thread] = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> Optional[int]:
        return self.popen.poll()

    def describe(self) -> str:
        return _describe_exit(self.returncode)


class Supervisor:
    def __init__(self, robot: str, overrides: list[str], graph: list[ProcessSpec],
                 emit: Callable[[str, str], None] = lambda name, line: print(f"[{name}] {line}"),
                 python: str = sys.executable):
        self.robot = robot
        self.overrides = list(overrides)
        self.graph = graph
        self.emit = emit
        self.python = python
        self.children: list[Child] = []

    # ------------------------------------------------------------------ start
    def command(self, spec: ProcessSpec) -> list[str]:
        cmd = [self.python, "-m", "fdvla.process", "--robot", self.robot, "--process", spec.name]
        for o in self.overrides:
            cmd += ["--set", o]
        return cmd

    def start(self) -> "Supervisor":
        """Start every process, the robot's first (it creates what the others attach to)."""
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        order = sorted(self.graph, key=lambda s: 0 if s.robot is not None else 1)
        try:
            for spec in order:
                popen = subprocess.Popen(
                    self.command(spec), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, env=env, process_group=0,
                    preexec_fn=_child_setup(os.getpid()))
                self.children.append(Child(spec, popen, critical=spec.robot is not None))
        except BaseException:
            self.stop()
            raise
        for child in self.children:  # only now: no thread of ours runs while we fork
            child.log_thread = threading.Thread(target=self._pump, args=(child,),
                                                name=f"log-{child.name}", daemon=True)
            child.log_thread.start()
        return self

    def _pump(self, child: Child) -> None:
        for raw in iter(child.popen.stdout.readline, b""):
            self.emit(child.name, raw.decode(errors="replace").rstrip())
        child.popen.stdout.close()

    # ------------------------------------------------------------------ watch
    def child(self, name: str) -> Child:
        return next(c for c in self.children if c.name == name)

    def poll(self) -> list[Child]:
        """Children that exited since the last call."""
        dead = []
        for c in self.children:
            if not c.reported and c.returncode is not None:
                c.reported = True
                dead.append(c)
        return dead

    def child_alive_critical(self) -> bool:
        return any(c.critical and c.returncode is None for c in self.children)

    def alive(self) -> list[Child]:
        return [c for c in self.children if c.returncode is None]

    # ------------------------------------------------------------------ stop
    def stop(self, grace: float = 5.0) -> None:
        """Robot process first (SIGINT: its controller stops the arm), then the rest; any
        process still there after `grace` seconds, and its process group, is SIGKILLed."""
        t0 = time.monotonic()
        first = [c for c in self.children if c.critical]
        rest = [c for c in self.children if not c.critical]
        for group, until in ((first, t0 + grace / 2), (rest, t0 + grace)):
            for c in group:
                self._signal(c, signal.SIGINT)
            for c in group:
                self._wait(c, max(0.05, until - time.monotonic()))
        for c in self.children:
            if c.returncode is None:
                self.emit("supervisor", f"{c.name} (pid {c.pid}) did not stop: SIGKILL")
            self._killpg(c)  # also what a child left behind in its group
            try:
                c.popen.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                pass
        for c in self.children:
            if c.log_thread is not None:
                c.log_thread.join(timeout=1.0)
        for c in self.children:
            if not c.reported:
                c.reported = True
                self.emit("supervisor", f"process {c.name} (pid {c.pid}) {c.describe()}")

    @staticmethod
    def _signal(c: Child, sig: int) -> None:
        if c.returncode is None:
            try:
                c.popen.send_signal(sig)
            except ProcessLookupError:
                pass

    @staticmethod
    def _wait(c: Child, timeout: float) -> None:
        try:
            c.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass

    @staticmethod
    def _killpg(c: Child) -> None:
        try:
            os.killpg(c.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def quote_override(key: str, value) -> str:
    """`key=value` for `--set`, with the value as a YAML (JSON) literal, whatever it holds."""
    return f"{key}={json.dumps(value)}"
