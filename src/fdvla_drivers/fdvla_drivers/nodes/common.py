"""What every node of the stack shares: rate meters, paced threads, /diagnostics publishing,
settings as ROS parameters."""

from __future__ import annotations

import collections
import json
import numbers
import re
import threading
import time
from typing import Any, Callable, Optional

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.parameter import Parameter

from fdvla_msgs import qos, topics
from fdvla_msgs.conversions import header


class RateMeter:
    """Events per second over a sliding window (thread-safe enough for counters)."""

    def __init__(self, window: float = 2.0):
        self.window = window
        self._t: collections.deque = collections.deque()
        self.count = 0

    def tick(self, t: Optional[float] = None) -> None:
        t = time.monotonic() if t is None else t
        self._t.append(t)
        self.count += 1
        while self._t and self._t[0] < t - self.window:
            self._t.popleft()

    def rate(self) -> float:
        now = time.monotonic()
        while self._t and self._t[0] < now - self.window:
            self._t.popleft()
        if len(self._t) < 2:
            return 0.0
        span = max(self._t[-1] - self._t[0], 1e-9)
        return (len(self._t) - 1) / span


class PacedThread:
    """Calls `fn` every `period` seconds in a daemon thread until stopped.

    Sleeps most of the period and spins the last ~0.3 ms, so the period error stays far below
    what OS sleep granularity alone gives; deadlines advance by whole periods (no drift).
    """

    SPIN = 0.0003

    def __init__(self, name: str, period: float, fn: Callable[[], None]):
        self.period = period
        self.fn = fn
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        deadline = time.monotonic()
        while not self._stop.is_set():
            self.fn()
            deadline += self.period
            now = time.monotonic()
            if now > deadline + self.period:  # fell behind (overload): skip, do not burst
                deadline = now
                continue
            if deadline - now > self.SPIN:
                time.sleep(deadline - now - self.SPIN)
            while time.monotonic() < deadline:
                pass

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None and self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=2.0)


def subscribe_with_info(node: Node, msg_type, topic: str, callback: Callable, qos_profile,
                        raw: bool = False):
    """A subscription whose `callback(msg, info)` gets the message info (DDS sequence numbers)
    under every rclpy executor.

    The Python executors call a two-parameter callback with (msg, info); rclpy's C++
    EventsExecutor (which the robot process uses, fdvla/process.py) instead calls it with the
    pair as one argument. So the subscription is given a callback that accepts both forms, and
    is marked as wanting the message info (rclpy infers that from the callback's signature,
    which an adapter taking `*args` does not reveal). `raw`: `msg` is the serialized bytes.
    """
    def deliver(*args):
        msg, info = args[0] if len(args) == 1 and isinstance(args[0], tuple) else args
        callback(msg, info)

    sub = node.create_subscription(msg_type, topic, deliver, qos_profile, raw=raw)
    sub._callback_type = sub.CallbackType.WithMessageInfo
    return sub


class SequenceGapCounter:
    """Counts messages lost between publisher and callback from DDS publication sequence
    numbers (QoS queue overflow on either side, or network loss).

    rclpy's message info carries no publisher id, so streams are told apart by continuity: a
    message continues the stream whose last number is the largest below its own. Exact for one
    publisher; with several, a gap may be attributed to the wrong one but not lost.
    """

    def __init__(self, max_streams: int = 16):
        self._last: list[int] = []
        self.max_streams = max_streams

    def gap(self, info) -> int:
        seq = (info or {}).get("publication_sequence_number") if isinstance(info, dict) else None
        if not isinstance(seq, int) or seq <= 0:
            return 0
        below = [i for i, last in enumerate(self._last) if last < seq]
        if not below:
            self._last.append(seq)  # a new publisher (or one that restarted)
            if len(self._last) > self.max_streams:
                self._last.pop(0)
            return seq - 1 if seq <= 1 else 0
        i = max(below, key=lambda j: self._last[j])
        missed = seq - self._last[i] - 1
        self._last[i] = seq
        return missed


class DomainConflictError(RuntimeError):
    """Another instance of a singleton node runs on this ROS domain."""


def refuse_if_duplicated(node: Node, service: str, until: float) -> None:
    """Raise DomainConflictError if, before `until` (time.monotonic()), another node of this name
    or a second server of `service` shows up on the ROS domain (discovery takes 0.5-2 s)."""
    import os

    name, ns = node.get_name(), node.get_namespace()
    t_end = until
    while True:
        same = sum(1 for n, s in node.get_node_names_and_namespaces() if n == name and s == ns)
        servers = node.count_services(service)
        if same > 1 or servers > 1:
            domain = os.environ.get("ROS_DOMAIN_ID", "0")
            raise DomainConflictError(
                f"another {name!r} node is already running on ROS_DOMAIN_ID={domain} "
                f"({same} nodes named {name!r}, {servers} servers of {service}); stop it, or "
                f"give this bringup its own domain: export ROS_DOMAIN_ID=<0-101, unused>")
        if time.monotonic() >= t_end:
            return
        time.sleep(0.05)


class DiagnosticsMixin:
    """Publishes `self.diagnostic_statuses()` on /diagnostics once a second."""

    def setup_diagnostics(self: Node, period: float = 1.0) -> None:
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS,
                                               qos.DIAGNOSTICS)
        self._diag_timer = self.create_timer(period, self._publish_diagnostics)

    def _publish_diagnostics(self) -> None:
        statuses = self.diagnostic_statuses()
        msg = DiagnosticArray(header=header(time.time(), ""), status=statuses)
        self._diag_pub.publish(msg)

    def diagnostic_statuses(self) -> list[DiagnosticStatus]:  # pragma: no cover - abstract
        raise NotImplementedError


def spin_until(executor, stop: threading.Event, period: float = 0.1) -> None:
    """Spin `executor` until `stop` is set or its context shuts down. A node removed by another
    thread while the executor built its wait set (InvalidHandle) is skipped: ending the loop
    there would silently stop every other node on the executor."""
    from rclpy._rclpy_pybind11 import InvalidHandle
    from rclpy.executors import ExternalShutdownException

    while not stop.is_set():
        try:
            executor.spin_once(timeout_sec=period)
        except InvalidHandle:
            continue
        except ExternalShutdownException:
            return


# ---------------------------------------------------------------- settings as ROS parameters

SETTING_DESCRIPTION = (
    "From the robot setup YAML, as the node was started with. Read-only: a setting takes "
    "effect only at start, so change it in the YAML or with --set KEY=VALUE and restart. "
    "Lists of mappings and mixed lists are JSON text; a null setting is declared unset.")


class SettingOverrideError(ValueError):
    """A ROS parameter override (`--ros-args -p`, a params file) names one of a node's settings
    with another value: the node would run with the YAML's value while showing the override."""


def _key(key) -> str:
    # rclpy checks only that a name is non-empty, but `-p name:=value`, params files and other
    # clients take '.' as nesting and only letters, digits and '_' inside a level: any other
    # character of a key (a '.' too, which would fake a level) becomes '_'.
    return re.sub(r"[^A-Za-z0-9_]", "_", str(key)) or "_"


def _parameter_value(value) -> tuple[bool, Any]:
    """(declarable, value as a ROS parameter type) of one non-mapping setting."""
    if value is None or isinstance(value, (bool, str)):
        return True, value
    if isinstance(value, numbers.Integral):
        return True, int(value)
    if isinstance(value, numbers.Real):
        return True, float(value)
    if isinstance(value, (list, tuple)) and value:
        if all(isinstance(v, bool) for v in value) or all(isinstance(v, str) for v in value):
            return True, list(value)
        if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value):
            # A YAML list like [0.8, 0, 1] mixes ints and floats; ROS arrays hold one type.
            ints = all(isinstance(v, numbers.Integral) for v in value)
            return True, [int(v) if ints else float(v) for v in value]
    try:  # an empty list (no element type), nested or mixed lists
        return True, json.dumps(value)
    except (TypeError, ValueError):  # an object (a backend, a device): not a setting
        return False, None


def ros_parameters(settings: dict, prefix: str = "") -> dict[str, Any]:
    """A node's settings as ROS parameters {name: value}: nested mappings flattened with '.'
    (ROS's own nesting), bool/int/float/str and one-type lists as themselves, None kept (it is
    declared unset), other lists as JSON text; values that are objects are left out.
    Raises ValueError when two keys come out as one name."""
    out: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for key, value in settings.items():
        name = prefix + _key(key)
        if isinstance(value, dict) and value:
            flat = ros_parameters(value, name + ".")
        elif isinstance(value, dict):
            flat = {name: "{}"}
        else:
            ok, v = _parameter_value(value)
            flat = {name: v} if ok else {}
        for n, v in flat.items():
            if n in out:
                raise ValueError(f"settings {origin[n]!r} and {prefix}{key!s} are both ROS "
                                 f"parameter {n!r}")
            out[n], origin[n] = v, f"{prefix}{key!s}"
    return out


def declare_settings(node: Node, settings: dict) -> None:
    """Declare `settings` (what the node was built from) as read-only ROS parameters of `node`,
    so `ros2 param list/get` shows them. An override of one of them from the ROS command line
    is refused (SettingOverrideError) rather than shown while not applied."""
    for name, value in ros_parameters(settings).items():
        descriptor = ParameterDescriptor(read_only=True, dynamic_typing=value is None,
                                         description=SETTING_DESCRIPTION)
        try:
            got = node.declare_parameter(name, value, descriptor)
        except ParameterException as e:  # an override of another type
            raise SettingOverrideError(_override_message(node, name, str(e))) from None
        if got.get_parameter_value() != Parameter(name, value=value).get_parameter_value():
            raise SettingOverrideError(_override_message(node, name, repr(got.value)))


def _override_message(node: Node, name: str, what: str) -> str:
    return (f"node {node.get_name()!r}: ROS parameter override of {name!r} ({what}) is not "
            f"applied: its settings come from the setup YAML; change it there or with "
            f"--set KEY=VALUE")
