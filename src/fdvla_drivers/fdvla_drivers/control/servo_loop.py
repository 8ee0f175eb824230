"""The servo loop: one thread that reads the robot, asks the controller, commands the robot."""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional

import numpy as np

from fdvla_drivers.control.controller import ServoController
from fdvla_drivers.environment import fifo_this_thread, granted_priority
from fdvla_drivers.robot.base import RobotBackend
from fdvla_msgs.types import Pose, RobotState



class PeriodStats:
    """Cycle start times in a ring buffer, for achieved rate and period-error percentiles.

    The servo thread marks while the diagnostics timer reads: `summary` copies the buffer and
    its count under a lock (a few microseconds), so it never mixes two generations of samples.
    """

    def __init__(self, nominal: float, capacity: int = 15000):  # 30 s at 500 Hz
        self.nominal = nominal
        self._t = np.zeros(capacity)
        self._n = 0
        self._lock = threading.Lock()

    def mark(self, t: float) -> None:
        with self._lock:
            self._t[self._n % len(self._t)] = t
            self._n += 1

    def reset(self) -> None:
        with self._lock:
            self._n = 0

    def summary(self) -> dict:
        with self._lock:
            total = self._n
            buf = self._t.copy()
        n = min(total, len(buf))
        if n < 3:
            return {"cycles": total, "rate_hz": 0.0, "p50_err_ms": 0.0, "p99_err_ms": 0.0,
                    "max_err_ms": 0.0}
        t = np.roll(buf, -(total % len(buf))) if total > len(buf) else buf[:n]
        periods = np.diff(t)
        err = np.abs(periods - self.nominal) * 1e3
        return {
            "cycles": total,
            "rate_hz": float(1.0 / periods.mean()),
            "p50_err_ms": float(np.percentile(err, 50)),
            "p99_err_ms": float(np.percentile(err, 99)),
            "max_err_ms": float(err.max()),
        }


class ServoLoop:
    """Runs `run_cycle` at the backend's servo period, in a thread or step by step (lockstep)."""

    def __init__(self, backend: RobotBackend, controller: ServoController,
                 before_step: Optional[Callable[[RobotState, float], None]] = None,
                 on_cycle: Optional[Callable[[float, RobotState, Optional[Pose]], None]] = None):
        """`before_step(state, now)` runs after the state is read and before the controller
        steps (an in-process agent submits chunks there); `on_cycle(now, state, target)` runs
        after the command is sent (recorders)."""
        self.backend = backend
        self.controller = controller
        self.before_step = before_step
        self.on_cycle = on_cycle
        self.stats = PeriodStats(backend.servo_period)
        self.errors = 0
        self.last_error = ""
        self.last_state: Optional[RobotState] = None
        self._commanding = False
        self._thread: Optional[threading.Thread] = None
        self._running = threading.Event()

    def run_cycle(self) -> Optional[Pose]:
        t0 = self.backend.begin_cycle()
        self.stats.mark(time.perf_counter())
        target = None
        try:
            state = self.backend.read_state()
            self.last_state = state
            now = self.backend.now()
            if self.before_step is not None:
                self.before_step(state, now)
            contact = None if self.backend.has_wrench else self.backend.contact_estimate()
            target = self.controller.step(state, now, contact)
            if target is not None:
                self.backend.servo_tcp(target)
                self._commanding = True
            elif self._commanding:
                self.backend.stop()
                self._commanding = False
            if self.on_cycle is not None:
                self.on_cycle(now, state, target)
        except Exception as e:  # a backend fault must stop motion, not kill the loop silently
            self.errors += 1
            self.last_error = f"{type(e).__name__}: {e}"
            self.controller.stop(f"servo loop error: {self.last_error}")
            try:
                self.backend.stop()
            except Exception:
                pass
            self._commanding = False
            target = None
        finally:
            self.backend.end_cycle(t0)
        return target

    def start(self) -> None:
        if self._thread is not None:
            return
        self._running.set()
        self._thread = threading.Thread(target=self._run, name="servo-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # The priority request_realtime granted this process (0: none); it said at start-up
        # why it runs without, so a refusal here is not repeated.
        fifo_this_thread(granted_priority())
        while self._running.is_set():
            self.run_cycle()

    def shutdown(self) -> None:
        self._running.clear()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._commanding:
            try:
                self.backend.stop()
            finally:
                self._commanding = False
