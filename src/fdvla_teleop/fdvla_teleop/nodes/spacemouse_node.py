"""SpaceMouse input node: /spacenav/twist (Twist) and /spacenav/joy (Joy), as the ROS
`spacenav` package publishes them (axes in [-1, 1] in its frame, buttons 0/1)."""

from __future__ import annotations

import threading

from geometry_msgs.msg import Twist
from rclpy.node import Node
from sensor_msgs.msg import Joy

from fdvla_drivers.nodes.common import DiagnosticsMixin, RateMeter
from fdvla_msgs import conversions as conv
from fdvla_msgs import qos, topics
from fdvla_teleop.spacemouse import SpaceMouseError, make_spacemouse


class SpaceMouseNode(DiagnosticsMixin, Node):
    def __init__(self, backend: str = "hid", rate_hz: float = 50.0, device=None,
                 node_name: str = "spacemouse", backend_kwargs: dict | None = None,
                 **node_kwargs):
        super().__init__(node_name, **node_kwargs)
        self.device = device or make_spacemouse(backend, **(backend_kwargs or {}))
        self.backend_name = backend
        self.period = 1.0 / rate_hz
        self.pub_twist = self.create_publisher(Twist, topics.SPACENAV_TWIST, qos.SENSOR_PUB)
        self.pub_joy = self.create_publisher(Joy, topics.SPACENAV_JOY, qos.SENSOR_PUB)
        self.error = ""
        self.rate = RateMeter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spacemouse", daemon=True)
        self.setup_diagnostics()

    def start(self) -> None:
        try:
            self.device.open()
        except SpaceMouseError as e:
            self.error = str(e)
            self.get_logger().error(self.error)
            return
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sample = self.device.poll(self.period)
            except SpaceMouseError as e:
                self.error = str(e)
                self.get_logger().error(self.error)
                return
            if sample is None:
                continue
            a = [float(v) for v in sample.axes]
            tw = Twist()
            tw.linear.x, tw.linear.y, tw.linear.z = a[0], a[1], a[2]
            tw.angular.x, tw.angular.y, tw.angular.z = a[3], a[4], a[5]
            joy = Joy(header=conv.header(sample.stamp, ""), axes=a,
                      buttons=[int(b) for b in sample.buttons])
            self.pub_twist.publish(tw)
            self.pub_joy.publish(joy)
            self.rate.tick()
            self._stop.wait(self.period)

    def diagnostic_statuses(self):
        level, msg = ("error", self.error) if self.error else ("ok", "running")
        return [conv.diagnostic_status(f"{self.get_name()}: spacemouse", level, msg,
                                       {"backend": self.backend_name,
                                        "rate_hz": self.rate.rate()})]

    def destroy_node(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        try:
            self.device.close()
        except Exception:
            pass
        return super().destroy_node()
