"""The client side of the sim episode contract: the one episode loop over DDS.

`/sim/reset` starts an episode, `/sim/task_state` says how it goes, the controller's
`/diagnostics` counts what the safety layer refused or stopped. `SimEpisodeClient.run_episode`
runs one episode from reset to success (held `success_hold` s), a caller's `done`, a stop
request or the timeout, and returns what happened, the controller's refusals and safety stops
during the episode included. `fdvla eval` (real time) and `fdvla bringup`'s episode loop use it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Optional

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import Trigger

from fdvla_drivers.control.controller import SAFETY_STOP_KEYS
from fdvla_msgs import conversions as conv
from fdvla_msgs import qos, topics



@dataclass
class EpisodeOutcome:
    episode: int
    seed: int
    success: bool
    duration: float  # s, wall clock
    success_time: Optional[float] = None  # s after the reset when success was first seen
    progress: float = 0.0
    failure: str = ""
    fault: str = ""
    #: The controller's refusals during the episode, by reason (e.g. start_far, stale).
    rejected: dict = field(default_factory=dict)
    #: The controller's safety stops during the episode, by reason (e.g. wrench_limit).
    safety_stops: dict = field(default_factory=dict)
    #: Counted safety actions that are not refusals (chunk_retimed, reach_limited, ...).
    counters: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)  # the last /sim/task_state of the episode


class SimEpisodeClient(Node):
    def __init__(self, node_name: str = "sim_episode_client", **kw):
        super().__init__(node_name, **kw)
        self._lock = threading.Lock()
        self.state: dict = {}
        #: Latest controller and policy /diagnostics values, and when they arrived.
        self.controller: dict = {}
        self._controller_at = 0.0
        self.policy: dict = {}
        self.policy_level = 0
        self.policy_message = ""
        self.create_subscription(String, topics.SIM_TASK_STATE, self._on_state, qos.SIM_TASK_STATE)
        self.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diag,
                                 qos.DIAGNOSTICS)
        self.reset_client = self.create_client(Trigger, topics.SIM_RESET)
        self._baseline: Optional[dict] = None

    # ------------------------------------------------------------------ inputs
    def _on_state(self, msg: String) -> None:
        try:
            st = json.loads(msg.data)
        except ValueError:
            return
        with self._lock:
            self.state = st

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for st in msg.status:
            if st.name.endswith(": controller"):
                with self._lock:
                    self.controller = conv.diagnostic_values(st)
                    self._controller_at = time.monotonic()
            elif st.name.endswith(": policy"):
                with self._lock:
                    self.policy = conv.diagnostic_values(st)
                    self.policy_level, self.policy_message = st.level, st.message

    # ------------------------------------------------------------------ facts
    def task_state(self) -> dict:
        with self._lock:
            return dict(self.state)

    @property
    def policy_ready(self) -> bool:
        with self._lock:
            return self.policy.get("ready") == "True"

    def controller_counts(self, fresh_after: Optional[float] = None,
                          timeout: float = 3.0) -> dict:
        """The controller's cumulative counts ({key: int}); with `fresh_after` (monotonic
        time), from a report that arrived after it (the controller reports once a second)."""
        end = time.monotonic() + timeout
        while fresh_after is not None and time.monotonic() < end:
            with self._lock:
                if self._controller_at > fresh_after:
                    break
            time.sleep(0.02)
        with self._lock:
            values = dict(self.controller)
        counts = {}
        for k, v in values.items():
            try:
                counts[k] = int(float(v))
            except (TypeError, ValueError):
                continue
        return counts

    # ------------------------------------------------------------------ episodes
    def reset(self, timeout: float = 10.0) -> dict:
        """Call /sim/reset; returns its info (episode, seed, task, instruction)."""
        if not self.reset_client.wait_for_service(timeout_sec=timeout):
            raise RuntimeError(f"no {topics.SIM_RESET} service: is a simulated cell running?")
        fut = self.reset_client.call_async(Trigger.Request())
        end = time.monotonic() + timeout
        while not fut.done() and time.monotonic() < end:
            time.sleep(0.01)
        if not fut.done():
            raise RuntimeError(f"{topics.SIM_RESET}: no answer in {timeout:.0f} s")
        res = fut.result()
        if not res.success:
            raise RuntimeError(f"{topics.SIM_RESET} failed: {res.message}")
        return json.loads(res.message)

    def run_episode(self, timeout: float, success_hold: float = 0.3,
                    stop: Optional[threading.Event] = None,
                    done: Optional[Callable[[dict], bool]] = None,
                    on_started: Optional[Callable[[dict], None]] = None,
                    reset: bool = True) -> EpisodeOutcome:
        """Reset (or, `reset=False`, take the episode running now), then watch the episode until
        its success has held `success_hold` s, `done(state)` is true, `stop` is set or `timeout`
        s have passed."""
        if self._baseline is None:  # what the controller counted before the first episode
            self._baseline = self.controller_counts(time.monotonic())
        info = self.reset() if reset else self.task_state()
        ep = int(info["episode"])
        t0 = time.monotonic()
        end = t0 + 5.0
        while self.task_state().get("episode") != ep and time.monotonic() < end:
            time.sleep(0.02)
        if on_started is not None:
            on_started(info)
        success_since = success_time = None
        st = self.task_state()
        while time.monotonic() - t0 < timeout and not (stop is not None and stop.is_set()):
            st = self.task_state()
            now = time.monotonic()
            if st.get("episode") == ep and st.get("success"):
                success_since = success_since or now
                success_time = success_time or now - t0
                if now - success_since >= success_hold:
                    break
            else:
                success_since = None
            if done is not None and done(st):
                break
            time.sleep(0.02)
        duration = time.monotonic() - t0
        ok = bool(st.get("success")) and st.get("episode") == ep
        counts = self.controller_counts(time.monotonic())
        delta = Counter({k: v - self._baseline.get(k, 0) for k, v in counts.items()})
        self._baseline = counts
        rejected = {k[len("rejected."):]: v for k, v in delta.items()
                    if k.startswith("rejected.") and v > 0}
        stops = {k: rejected.pop(k) for k in list(rejected) if k in SAFETY_STOP_KEYS}
        counters = {k: v for k, v in delta.items()
                    if k in ("chunk_retimed", "chunk_replaced", "chunk_dropped", "reach_limited",
                             "twist_scaled") and v > 0}
        return EpisodeOutcome(
            episode=ep, seed=int(info["seed"]), success=ok, duration=duration,
            success_time=success_time if ok else None, progress=float(st.get("progress", 0.0)),
            failure="" if ok else str(st.get("failure", "")), fault=str(st.get("fault", "")),
            rejected=rejected, safety_stops=stops, counters=counters, state=st)
