"""Start graph processes as children (`python -m fdvla.process --process NAME`) and stop them.

The commands of this package run the robot side (sim cell or drivers) in child processes, one
per ProcessSpec, and their own nodes (recorder, expert, teleop) in the calling process: the
servo loop never shares an interpreter with the recorder.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path


def _die_with_parent() -> None:
    """A child must not outlive a parent killed with SIGKILL (Linux: PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except Exception:
        pass


class GraphChildren:
    def __init__(self, robot: str, processes: list[str], overrides: list[str],
                 log_dir: Path | None = None):
        self.robot = robot
        self.names = list(processes)
        self.overrides = list(overrides)
        self.log_dir = Path(log_dir) if log_dir else None
        self.procs: list[subprocess.Popen] = []
        self.logs: list = []

    def start(self) -> "GraphChildren":
        for name in self.names:
            cmd = [sys.executable, "-m", "fdvla.process", "--robot", self.robot,
                   "--process", name]
            for o in self.overrides:
                cmd += ["--set", o]
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                log = open(self.log_dir / f"{name}.log", "w")
            else:
                log = subprocess.DEVNULL
            self.logs.append(log)
            self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                               preexec_fn=_die_with_parent,
                                               env={**os.environ}))
        return self

    def check(self) -> None:
        for name, p in zip(self.names, self.procs):
            if p.poll() is not None:
                where = f" (log: {self.log_dir / (name + '.log')})" if self.log_dir else ""
                raise RuntimeError(f"graph process {name!r} exited with code {p.returncode}"
                                   f"{where}")

    def stop(self, timeout: float = 15.0) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in self.procs:
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self.logs:
            if hasattr(log, "close"):
                log.close()
        self.procs, self.logs = [], []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
