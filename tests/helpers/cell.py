"""Shared pieces of the safety tests: a sim bringup seen over DDS by a probe, twist streams."""

from __future__ import annotations

import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, TwistStamped
from trajectory_msgs.msg import MultiDOFJointTrajectory

from fdvla.bringup import Bringup
from fdvla_msgs import conversions as conv
from fdvla_msgs import qos, topics
from fdvla_msgs.types import Twist
from helpers.probe import Probe
from helpers.sim_graph import NO_CAMERAS, rejected, settle, tcp  # noqa: F401


class Cell:
    """A sim bringup and a probe that records /tcp_pose, target pose and /diagnostics."""

    #: The sim shares one Python interpreter with the test and its DDS traffic; on a loaded
    #: 2-core CI machine its state can go 0.25 s stale. A stale-state stop mid-test would hide
    #: what the test is about, so the tests allow 0.5 s (the rule itself is tested elsewhere).
    LOAD_ALLOWANCE = ["safety.state_timeout=0.5"]

    def __init__(self, setup: str = "sim", overrides=(), name: str = "safety_probe"):
        self.bringup = Bringup.from_setup(
            setup, NO_CAMERAS + self.LOAD_ALLOWANCE + list(overrides)).start()
        self.probe = Probe(name)
        p = self.probe
        p.subscribe(topics.TCP_POSE, PoseStamped, keep=20000)
        p.subscribe(topics.CONTROLLER_TARGET_POSE, PoseStamped)
        p.subscribe(topics.DIAGNOSTICS, DiagnosticArray, profile=qos.DIAGNOSTICS)
        self.chunk_pub = p.publisher(topics.ACTION_CHUNK, MultiDOFJointTrajectory)
        self.twist_pub = p.publisher(topics.SERVO_TWIST, TwistStamped)
        p.wait_for(lambda: p.count(topics.TCP_POSE) > 50, 20, "/tcp_pose")
        p.wait_for(lambda: p.count(topics.CONTROLLER_TARGET_POSE) > 0, 20, "the controller to arm")
        p.wait_for_subscriber(self.chunk_pub)
        p.wait_for_subscriber(self.twist_pub)

    def resyncs(self) -> int:
        """How often the real-time sim fell behind the wall clock and skipped ahead so far
        (a starved machine): TCP-level timing figures mean little across one."""
        return self.bringup.robot.physics_lag_resyncs

    def ensure_armed(self) -> str:
        """Re-arm after a fault (a loaded CI machine may starve the sim into a stale-state stop);
        returns the fault that was cleared, if any."""
        from std_srvs.srv import SetBool

        d = self.diag()
        if d.get("armed") == "True" and not d.get("fault"):
            return ""
        r = self.probe.call(SetBool, topics.SRV_CONTROLLER_ENABLE, SetBool.Request(data=True))
        assert r.success, r.message
        self.fresh_diag()
        return d.get("fault", "")

    def close(self):
        self.probe.close()
        self.bringup.stop()

    def diag(self) -> dict:
        """Values of the newest controller status on /diagnostics."""
        for msg in reversed(self.probe.all(topics.DIAGNOSTICS)):
            for st in msg.status:
                if st.name.endswith(": controller"):
                    return conv.diagnostic_values(st)
        return {}

    def counter(self, key: str) -> int:
        return int(float(self.diag().get(key, 0)))

    def wait_counter(self, key: str, at_least: int, timeout: float = 5.0) -> int:
        self.probe.wait_for(lambda: self.counter(key) >= at_least, timeout,
                            f"diagnostics {key} >= {at_least}")
        return self.counter(key)

    def fresh_diag(self, timeout: float = 5.0) -> dict:
        """Controller diagnostics published after this call (published once a second)."""
        n = self._controller_diag_count()
        self.probe.wait_for(lambda: self._controller_diag_count() > n, timeout,
                            "fresh /diagnostics")
        return self.diag()

    def _controller_diag_count(self) -> int:
        return sum(1 for m in self.probe.all(topics.DIAGNOSTICS)
                   if any(st.name.endswith(": controller") for st in m.status))

    def twist(self, linear, stamp=None, angular=(0.0, 0.0, 0.0)):
        t = Twist(time.time() if stamp is None else stamp, np.asarray(linear, float),
                  np.asarray(angular, float))
        self.twist_pub.publish(conv.twist_to_msg(t))

    def stream_twist(self, linear, duration: float, rate: float) -> tuple[float, float, int]:
        """Publish `linear` at `rate` Hz for `duration` s; (first, last publish time, count)."""
        n, t0 = 0, time.time()
        period = 1.0 / rate
        last = t0
        while time.time() - t0 < duration:
            last = time.time()
            self.twist(linear, last)
            n += 1
            next_t = t0 + n * period
            while time.time() < next_t:
                if next_t - time.time() > 0.002:
                    time.sleep(0.0005)
        return t0, last, n

    def poses_between(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        """(stamps, positions) of /tcp_pose samples stamped in [t0, t1]."""
        ts, ps = [], []
        for m in self.probe.all(topics.TCP_POSE):
            stamp, pose = conv.pose_from_msg(m)
            if t0 <= stamp <= t1:
                ts.append(stamp)
                ps.append(pose.position)
        return np.asarray(ts), np.asarray(ps).reshape(-1, 3)

    def go_to(self, position, speed: float = 0.05):
        """Move the TCP (orientation kept) to `position` with one chunk; wait until there."""
        from helpers.sim_graph import line_chunk

        start = settle(self.probe, 0.2)
        delta = np.asarray(position) - start.position
        dist = float(np.linalg.norm(delta))
        if dist < 1e-3:
            return start
        dur = max(dist / speed, 0.2)
        self.chunk_pub.publish(conv.chunk_to_msg(line_chunk(time.time(), start, delta, dur)))
        time.sleep(dur + 0.5)
        return tcp(self.probe)


def peak_speed(ts: np.ndarray, ps: np.ndarray, window: float = 0.02) -> float:
    """Peak speed of a sampled path over windows of `window` seconds."""
    best = 0.0
    j = 0
    for i in range(len(ts)):
        while ts[i] - ts[j] > window:
            j += 1
        if ts[i] - ts[j] >= window * 0.5:
            best = max(best, float(np.linalg.norm(ps[i] - ps[j]) / (ts[i] - ts[j])))
    return best


class Flood(threading.Thread):
    def __init__(self, fn, duration):
        super().__init__(daemon=True)
        self.fn, self.duration, self.result = fn, duration, None

    def run(self):
        self.result = self.fn(self.duration)


class ForceGauge(threading.Thread):
    """Samples the cell's true external force at ~500 Hz."""

    def __init__(self, robot):
        super().__init__(daemon=True)
        self.robot, self.samples, self._halt = robot, [], threading.Event()

    def run(self):
        while not self._halt.is_set():
            with self.robot._lock:
                f = float(np.linalg.norm(self.robot.cell.external_force()))
            self.samples.append((time.time(), f))
            time.sleep(0.002)

    def stop(self):
        self._halt.set()
        self.join()
