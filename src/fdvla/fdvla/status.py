"""A console view of /diagnostics for pip mode (what rqt_robot_monitor shows natively)."""

from __future__ import annotations

import threading

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node
from rich.console import Console
from rich.table import Table

from fdvla_msgs import qos, topics

_LEVEL = {DiagnosticStatus.OK: "[green]OK[/]", DiagnosticStatus.WARN: "[yellow]WARN[/]",
          DiagnosticStatus.ERROR: "[red]ERROR[/]", DiagnosticStatus.STALE: "[grey50]STALE[/]"}
_SHOWN_KEYS = ("rate_hz", "servo_rate_hz", "period_err_p99_ms", "rejected_total", "mode")


class StatusMonitor(Node):
    def __init__(self, context=None, console: Console | None = None):
        super().__init__("fdvla_status", context=context)
        self.console = console or Console(stderr=False)
        self._lock = threading.Lock()
        self.latest: dict[str, DiagnosticStatus] = {}
        self.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diag,
                                 qos.DIAGNOSTICS)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        with self._lock:
            for st in msg.status:
                self.latest[st.name] = st

    def say(self, text: str) -> None:
        self.console.print(text)

    def print_table(self) -> None:
        with self._lock:
            statuses = sorted(self.latest.values(), key=lambda s: s.name)
        table = Table(title="/diagnostics", show_lines=False)
        for col in ("component", "level", "message", "details"):
            table.add_column(col)
        for st in statuses:
            values = {kv.key: kv.value for kv in st.values}
            details = ", ".join(f"{k}={values[k]}" for k in _SHOWN_KEYS if k in values)
            table.add_row(st.name, _LEVEL.get(st.level, str(st.level)), st.message, details)
        self.console.print(table)
