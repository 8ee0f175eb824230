"""The Foxglove bridge node: a foxglove-sdk WebSocket server on localhost, fed with the raw CDR
bytes of raw rclpy subscriptions (encoding `cdr`, schemas `ros2msg`): no deserialisation."""

from __future__ import annotations

from rclpy.node import Node

from fdvla_msgs import qos as contract_qos
from fdvla_msgs import topics
from .channels import ros2msg_definition, ros_message_class, view_topics


class FoxgloveBridgeNode(Node):
    def __init__(self, host: str = "127.0.0.1", port: int = 8765, wrench_available: bool = True,
                 node_name: str = "foxglove_bridge", **node_kwargs):
        super().__init__(node_name, **node_kwargs)
        import foxglove

        self.fox_context = foxglove.Context()
        self.server = foxglove.start_server(name="fdvla", host=host, port=int(port),
                                            context=self.fox_context)
        self.port = self.server.port
        self.channels = {}
        self.forwarded = 0
        for topic, type_name in view_topics(wrench_available).items():
            schema = foxglove.Schema(name=type_name, encoding="ros2msg",
                                     data=ros2msg_definition(type_name).encode())
            channel = foxglove.Channel(topic, schema=schema, message_encoding="cdr",
                                       context=self.fox_context)
            self.channels[topic] = channel
            # The contract's reader profiles: newest-sample-wins for sensors, every chunk and
            # diagnostics message, the latched instruction.
            qos = (contract_qos.LATCHED if topic == topics.INSTRUCTION else
                   contract_qos.COMMAND if topic in (topics.ACTION_CHUNK, topics.DIAGNOSTICS)
                   else contract_qos.SENSOR_SUB)
            self.create_subscription(ros_message_class(type_name), topic,
                                     lambda data, ch=channel: self._forward(ch, data), qos, raw=True)
        self.get_logger().info(f"Foxglove live view on ws://{host}:{self.port} "
                               "(open it in the Foxglove app: Open connection -> Foxglove WebSocket; "
                               "layout: config/fdvla.foxglove.json)")

    def _forward(self, channel, data: bytes) -> None:
        channel.log(bytes(data), log_time=self.get_clock().now().nanoseconds)
        self.forwarded += 1

    def destroy_node(self):
        try:
            self.server.stop()
        finally:
            return super().destroy_node()
