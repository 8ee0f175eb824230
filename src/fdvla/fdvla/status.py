"""A console view of /diagnostics for pip mode (what rqt_robot_monitor shows natively)."""

from __future__ import annotations

import threading
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node
from rich.console import Console
from rich.table import Table

from fdvla_msgs import conversions as conv
from fdvla_msgs import qos, topics

_LEVEL = {DiagnosticStatus.OK: "[green]OK[/]", DiagnosticStatus.WARN: "[yellow]WARN[/]",
          DiagnosticStatus.ERROR: "[red]ERROR[/]", DiagnosticStatus.STALE: "[grey50]STALE[/]"}
_SHOWN_KEYS = ("rate_hz", "servo_rate_hz", "period_err_p99_ms", "rejected_total", "mode",
               "inference_ms_p50", "episodes", "successes", "time_to_success_s_mean",
               "safety_stops")


#: A component that has not reported for this long is shown STALE (its process may be gone).
STALE_AFTER = 3.0


class StatusMonitor(Node):
    """Collects /diagnostics for the console table; in multi-process pip mode also reports the
    supervisor's view of its processes on /diagnostics and asks the controller to hold."""

    def __init__(self, context=None, console: Console | None = None):
        super().__init__("fdvla_status", context=context)
        self.console = console or Console(stderr=False)
        self._lock = threading.Lock()
        self.latest: dict[str, DiagnosticStatus] = {}
        self._seen: dict[str, float] = {}
        self._processes: list[tuple] = []
        self._sources: list = []
        self.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diag,
                                 qos.DIAGNOSTICS)
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS,
                                               qos.DIAGNOSTICS)
        self._stop_client = None
        self.create_timer(1.0, self._publish_processes)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        now = time.monotonic()
        with self._lock:
            for st in msg.status:
                self.latest[st.name] = st
                self._seen[st.name] = now

    # ------------------------------------------------------------------ supervisor
    def set_processes(self, rows) -> None:
        """rows: (name, pid, alive, description) per supervised process; published now and
        every second as 'fdvla_supervisor: process NAME' (ERROR once it is gone)."""
        with self._lock:
            self._processes = list(rows)
        self._publish_processes()

    def _publish_processes(self) -> None:
        with self._lock:
            rows = list(self._processes)
        statuses = [st for source in self._sources for st in source()]
        if not rows and not statuses:
            return
        statuses += [conv.diagnostic_status(
            f"fdvla_supervisor: process {name}", "ok" if alive else "error",
            f"pid {pid} running" if alive else f"gone: {what}",
            {"pid": pid, "alive": alive}) for name, pid, alive, what in rows]
        self._diag_pub.publish(DiagnosticArray(header=conv.header(time.time(), ""),
                                               status=statuses))

    def add_source(self, source) -> None:
        """`source()` -> DiagnosticStatus list, published every second with the process rows
        (e.g. the episode tally)."""
        self._sources.append(source)

    def request_hold(self, timeout: float = 1.0) -> bool:
        """Call /controller/stop (stop, hold, disarm); False if no controller answered."""
        from std_srvs.srv import Trigger

        if self._stop_client is None:
            self._stop_client = self.create_client(Trigger, topics.SRV_CONTROLLER_STOP)
        if not self._stop_client.wait_for_service(timeout_sec=timeout):
            return False
        future = self._stop_client.call_async(Trigger.Request())
        t_end = time.monotonic() + timeout
        while not future.done() and time.monotonic() < t_end:
            time.sleep(0.01)
        return future.done() and bool(future.result().success)

    def say(self, text: str) -> None:
        self.console.print(text)

    def print_table(self) -> None:
        now = time.monotonic()
        with self._lock:
            statuses = sorted(self.latest.values(), key=lambda s: s.name)
            stale = {n for n, t in self._seen.items() if now - t > STALE_AFTER}
        table = Table(title="/diagnostics", show_lines=False)
        for col in ("component", "level", "message", "details"):
            table.add_column(col)
        for st in statuses:
            values = {kv.key: kv.value for kv in st.values}
            details = ", ".join(f"{k}={values[k]}" for k in _SHOWN_KEYS if k in values)
            level = _LEVEL.get(st.level, str(st.level))
            if st.name in stale:
                level, details = _LEVEL[DiagnosticStatus.STALE], "no report for " \
                    f"{now - self._seen[st.name]:.0f} s; " + details
            table.add_row(st.name, level, st.message, details)
        self.console.print(table)
