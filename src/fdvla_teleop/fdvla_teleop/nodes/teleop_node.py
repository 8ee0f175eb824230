"""Teleop node: /spacenav/twist + /spacenav/joy -> /servo/twist (frame base), buttons ->
episode start/stop/discard (the recorder's services)."""

from __future__ import annotations

import time

import numpy as np
from geometry_msgs.msg import Twist, TwistStamped
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Joy
from std_srvs.srv import Trigger

from fdvla_drivers.nodes.common import DiagnosticsMixin
from fdvla_msgs import conversions as conv
from fdvla_msgs import qos, topics
from fdvla_msgs.types import Twist as TwistCmd
from fdvla_teleop.teleop import ButtonEdges, TeleopConfig, TeleopMapper

JOY_QOS = QoSProfile(depth=50, history=HistoryPolicy.KEEP_LAST,
                     reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
#: After the cap is released, keep sending zero twists this long so the arm brakes at once.
RELEASE_ZEROS = 0.3


class TeleopNode(DiagnosticsMixin, Node):
    def __init__(self, mapping: TeleopConfig | dict | None = None, safety: dict | None = None,
                 node_name: str = "teleop", **node_kwargs):
        super().__init__(node_name, **node_kwargs)
        # `mapping` is the setup's teleop.mapping section (its ROS parameters read mapping.*).
        config = mapping if isinstance(mapping, TeleopConfig) \
            else TeleopConfig.from_dict(mapping, safety)
        self.config = config
        self.mapper = TeleopMapper(config)
        self.edges = ButtonEdges(config)
        self.mode = config.mode
        self._axes = np.zeros(6)
        self._last_input = -1e9
        self._last_motion = -1e9
        self.sent = 0
        self.recording = False
        self.last_service_reply = ""
        self.pub = self.create_publisher(TwistStamped, topics.SERVO_TWIST, qos.COMMAND)
        self.create_subscription(Twist, topics.SPACENAV_TWIST, self._on_twist, qos.SENSOR_SUB)
        # Buttons are events: a reliable, deep reader, so no press is lost to a busy moment.
        self.create_subscription(Joy, topics.SPACENAV_JOY, self._on_joy, JOY_QOS)
        self._recorder_clients = {name: self.create_client(Trigger, srv) for name, srv in
                         (("start", topics.SRV_RECORDER_START), ("stop", topics.SRV_RECORDER_STOP),
                          ("discard", topics.SRV_RECORDER_DISCARD))}
        self.create_timer(1.0 / config.rate_hz, self._tick)
        self.setup_diagnostics()

    def _on_twist(self, msg: Twist) -> None:
        self._axes = np.array([msg.linear.x, msg.linear.y, msg.linear.z,
                               msg.angular.x, msg.angular.y, msg.angular.z])
        self._last_input = time.monotonic()

    def _on_joy(self, msg: Joy) -> None:
        for action in self.edges.update(msg.buttons):
            self.episode_action(action)

    def episode_action(self, action: str) -> None:
        """'toggle' (start; or, if the recorder says it is recording, stop = keep as success)
        or 'discard', through the recorder's services (whoever started the episode)."""
        toggle = action == "toggle"
        if toggle:
            action = "start"
        client = self._recorder_clients[action]
        if not client.service_is_ready() and not client.wait_for_service(timeout_sec=1.0):
            self.get_logger().warning(f"{action}: no recorder is running")
            return
        fut = client.call_async(Trigger.Request())

        def done(f, action=action):
            res = f.result()
            if toggle and not res.success and "already recording" in res.message:
                self.episode_action("stop")
                return
            self.last_service_reply = res.message
            if res.success:
                self.recording = action == "start"
            self.get_logger().info(f"{action}: {res.message}")

        fut.add_done_callback(done)

    def _tick(self) -> None:
        now = time.monotonic()
        if now - self._last_input > self.config.input_timeout:
            return  # device quiet: send nothing; the controller's twist timeout holds the arm
        lin, ang = self.mapper.twist(self._axes, self.mode)
        moving = bool(np.any(lin) or np.any(ang))
        if moving:
            self._last_motion = now
        elif now - self._last_motion > RELEASE_ZEROS:
            return
        self.pub.publish(conv.twist_to_msg(TwistCmd(time.time(), lin, ang)))
        self.sent += 1

    def diagnostic_statuses(self):
        quiet = time.monotonic() - self._last_input > self.config.input_timeout
        return [conv.diagnostic_status(
            f"{self.get_name()}: teleop", "ok", "no SpaceMouse input" if quiet else "active",
            {"mode": self.mode, "twists_sent": self.sent, "recording": self.recording})]
