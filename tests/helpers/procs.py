"""Looking at processes from outside, through /proc (no psutil in the stack's dependencies)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def stat(pid: int) -> dict:
    """ppid, pgrp and state of a process (None if it does not exist or is a zombie)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return {}
    fields = text[text.rindex(")") + 2:].split()
    return {"state": fields[0], "ppid": int(fields[1]), "pgrp": int(fields[2])}


def live_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()
            and stat(int(p)).get("state") not in (None, "Z")]


def children(pid: int) -> dict[int, list[str]]:
    return {p: cmdline(p) for p in live_pids() if stat(p).get("ppid") == pid}


def graph_processes(pid: int) -> dict[str, int]:
    """{process name: pid} of the `fdvla.process` children of a bringup."""
    out = {}
    for child, argv in children(pid).items():
        if "fdvla.process" in argv and "--process" in argv:
            out[argv[argv.index("--process") + 1]] = child
    return out


def marked(marker: str) -> list[int]:
    """Live processes whose command line mentions `marker` (a bringup's snapshot name)."""
    return [p for p in live_pids() if any(marker in a for a in cmdline(p))]


def in_groups(pgids) -> list[int]:
    pgids = set(pgids)
    return [p for p in live_pids() if stat(p).get("pgrp") in pgids]


def wait_until(pred, timeout: float, what: str):
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        value = pred()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def start_bringup(log_path, *args: str, env: dict | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "fdvla.cli", "bringup", "--status-period", "0", *args]
    log = open(log_path, "w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})})
