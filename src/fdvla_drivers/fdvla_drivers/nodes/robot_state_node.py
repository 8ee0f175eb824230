"""Publishes the robot's joint state, TCP pose and (where measured) wrench at the backend's rate."""

from __future__ import annotations

import threading
import time

from geometry_msgs.msg import PoseStamped, WrenchStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState

from fdvla_drivers.nodes.common import DiagnosticsMixin, PacedThread, RateMeter
from fdvla_drivers.robot.base import RobotBackend
from fdvla_msgs import conversions as conv
from fdvla_msgs import qos, topics


class RobotStateNode(DiagnosticsMixin, Node):
    def __init__(self, backend: RobotBackend, rate_hz: float = 500.0,
                 node_name: str = "robot_state", **node_kwargs):
        super().__init__(node_name, **node_kwargs)
        self.backend = backend
        self.rate_hz = float(rate_hz)
        self.pub_joints = self.create_publisher(JointState, topics.JOINT_STATES, qos.SENSOR_PUB)
        self.pub_pose = self.create_publisher(PoseStamped, topics.TCP_POSE, qos.SENSOR_PUB)
        # A sensorless setup must not even advertise /wrench.
        self.pub_wrench = (self.create_publisher(WrenchStamped, topics.WRENCH, qos.SENSOR_PUB)
                           if backend.has_wrench else None)
        self.meter = RateMeter()
        self.errors = 0
        self.last_error = ""
        self._last_stamp = None
        self.setup_diagnostics()
        if getattr(backend, "realtime", False) and hasattr(backend, "wait_for_state"):
            # Publish each new sample once, as soon as the backend has it (no clock of our own
            # to drift against the backend's, no spinning next to the servo loop).
            self._thread = _StateFollower("robot-state", backend, self._publish_once,
                                          lambda: self._last_stamp)
        else:
            self._thread = PacedThread("robot-state", 1.0 / self.rate_hz, self._publish_once)

    def start(self) -> None:
        self._thread.start()

    def _publish_once(self) -> None:
        try:
            st = self.backend.read_state()
        except Exception as e:  # keep publishing attempts; diagnostics carry the error
            self.errors += 1
            self.last_error = f"{type(e).__name__}: {e}"
            return
        if st.stamp == self._last_stamp:
            return  # nothing new sampled since the last cycle
        self._last_stamp = st.stamp
        self.pub_joints.publish(conv.joint_state_to_msg(st.stamp, st.q, st.qd))
        self.pub_pose.publish(conv.pose_to_msg(st.tcp_pose, st.stamp))
        if self.pub_wrench is not None and st.wrench is not None:
            self.pub_wrench.publish(conv.wrench_to_msg(st.wrench, st.stamp))
        self.meter.tick()

    def _sim_real_time_factor(self):
        """Simulated seconds per wall second since the last report (simulated robots only)."""
        sim_time = getattr(self.backend, "sim_time", None)
        if sim_time is None:
            return None
        now = (sim_time, time.monotonic())
        prev, self._rtf_mark = getattr(self, "_rtf_mark", None), now
        if prev is None or now[1] <= prev[1]:
            return None
        return (now[0] - prev[0]) / (now[1] - prev[1])

    def diagnostic_statuses(self):
        rate = self.meter.rate()
        level = "ok" if rate >= 0.9 * self.rate_hz else "warn"
        msg = f"publishing at {rate:.1f} Hz"
        if self.errors:
            level, msg = "error", f"read_state failed {self.errors}x: {self.last_error}"
        values = {"rate_hz": rate, "target_rate_hz": self.rate_hz,
                  "published": self.meter.count, "wrench": self.pub_wrench is not None,
                  "errors": self.errors}
        rtf = self._sim_real_time_factor()
        if rtf is not None:
            values["sim_real_time_factor"] = rtf
        return [conv.diagnostic_status(f"{self.get_name()}: robot state", level, msg, values)]

    def destroy_node(self):
        self._thread.stop()
        return super().destroy_node()


class _StateFollower:
    """Calls `fn` each time the backend has a state newer than `last_stamp()`."""

    def __init__(self, name: str, backend, fn, last_stamp):
        self.backend, self.fn, self.last_stamp = backend, fn, last_stamp
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.backend.wait_for_state(self.last_stamp(), timeout=0.1):
                self.fn()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=2.0)
