"""The Foxglove bridge node: a foxglove-sdk WebSocket server on localhost, fed with the raw CDR
bytes of raw rclpy subscriptions (encoding `cdr`, schemas `ros2msg`): no deserialisation.

Every message is forwarded unless `max_rate` throttles its topic. The process runs rclpy's C++
EventsExecutor (fdvla/process.py): with the Python executors (~0.5 ms of wait-set work per
callback) this node could not keep up with 3 x 500 Hz robot topics on a 2-core machine and the
sensor readers' queues overflowed (issue 16 item 7: a client got 64-79 of 500 /tcp_pose per
second). `/diagnostics` ("foxglove_bridge: view") counts per topic what was received, forwarded,
throttled and lost before it arrived (gaps in DDS publication sequence numbers).
"""

from __future__ import annotations

import time

from rclpy.node import Node
from rclpy.qos import QoSProfile

from fdvla_drivers.nodes.common import DiagnosticsMixin, SequenceGapCounter, subscribe_with_info
from fdvla_msgs import conversions as conv
from fdvla_msgs import qos as contract_qos
from fdvla_msgs import topics
from .channels import ros2msg_definition, ros_message_class, view_topics


def topic_rates(max_rate, topic_names) -> dict:
    """topic -> the most messages per second to forward (None: all), from `view.max_rate`: a
    number for every topic, or a mapping topic -> Hz (unlisted topics unthrottled); 0 or None:
    no throttle."""
    if isinstance(max_rate, dict):
        unknown = sorted(set(max_rate) - set(topic_names))
        if unknown:
            raise ValueError(f"view.max_rate: not a topic of the live view: {unknown}")
        rates = {t: max_rate.get(t) for t in topic_names}
    else:
        rates = {t: max_rate for t in topic_names}
    out = {}
    for t, r in rates.items():
        r = None if r in (None, 0) else float(r)
        if r is not None and not r > 0:
            raise ValueError(f"view.max_rate for {t}: {r} is not a rate in Hz")
        out[t] = r
    return out


class _Forward:
    """One topic: its channel, throttle and counters."""

    __slots__ = ("channel", "period", "next_at", "received", "forwarded", "throttled", "lost",
                 "gaps")

    def __init__(self, channel, rate):
        self.channel = channel
        self.period = None if rate is None else 1.0 / rate
        self.next_at = 0.0
        self.received = self.forwarded = self.throttled = self.lost = 0
        self.gaps = SequenceGapCounter()


class FoxgloveBridgeNode(DiagnosticsMixin, Node):
    def __init__(self, host: str = "127.0.0.1", port: int = 8765, wrench_available: bool = True,
                 max_rate=None, depth: int = 100, node_name: str = "foxglove_bridge",
                 **node_kwargs):
        super().__init__(node_name, **node_kwargs)
        import foxglove

        self.fox_context = foxglove.Context()
        self.channels = {}
        self.topics: dict[str, _Forward] = {}
        self.forwarded = 0
        view = view_topics(wrench_available)
        rates = topic_rates(max_rate, list(view))
        for topic, type_name in view.items():
            schema = foxglove.Schema(name=type_name, encoding="ros2msg",
                                     data=ros2msg_definition(type_name).encode())
            channel = foxglove.Channel(topic, schema=schema, message_encoding="cdr",
                                       context=self.fox_context)
            self.channels[topic] = channel
            fw = self.topics[topic] = _Forward(channel, rates[topic])
            # The contract's reader profiles (newest-sample-wins for sensors, every chunk and
            # diagnostics message, the latched instruction), with a deeper queue for sensors so
            # that a stall of this process (up to 0.2 s of a 500 Hz topic) loses nothing.
            profile = (contract_qos.LATCHED if topic == topics.INSTRUCTION else
                       contract_qos.COMMAND if topic in (topics.ACTION_CHUNK, topics.DIAGNOSTICS)
                       else QoSProfile(depth=int(depth),
                                       history=contract_qos.SENSOR_SUB.history,
                                       reliability=contract_qos.SENSOR_SUB.reliability,
                                       durability=contract_qos.SENSOR_SUB.durability))
            subscribe_with_info(self, ros_message_class(type_name), topic,
                                lambda data, info, fw=fw: self._forward(fw, data, info),
                                profile, raw=True)
        # The server starts once every channel exists: a client that connects sooner would
        # be sent each advertise as its channel is made, and a subscription sent back before
        # the server has registered that channel is refused as "unknown channel" (seen under
        # load), leaving the client without the topic.
        self.server = foxglove.start_server(name="fdvla", host=host, port=int(port),
                                            context=self.fox_context)
        self.port = self.server.port
        self.setup_diagnostics()
        throttled = {t: r for t, r in rates.items() if r is not None}
        self.get_logger().info(
            f"Foxglove live view on ws://{host}:{self.port} "
            "(open it in the Foxglove app: Open connection -> Foxglove WebSocket; "
            "layout: config/fdvla.foxglove.json)"
            + (f"; throttled (Hz): {throttled}" if throttled else ""))

    def _forward(self, fw: _Forward, data: bytes, info=None) -> None:
        fw.received += 1
        fw.lost += fw.gaps.gap(info)
        if fw.period is not None:
            now = time.monotonic()
            if now < fw.next_at:
                fw.throttled += 1
                return
            # At least one period between two forwarded messages: never more than the rate.
            fw.next_at = now + fw.period
        fw.channel.log(bytes(data), log_time=time.time_ns())
        fw.forwarded += 1
        self.forwarded += 1

    def diagnostic_statuses(self):
        values = {}
        for topic, fw in self.topics.items():
            values[f"{topic} received"] = fw.received
            values[f"{topic} forwarded"] = fw.forwarded
            if fw.period is not None:
                values[f"{topic} throttled"] = fw.throttled
            values[f"{topic} lost"] = fw.lost
        lost = sum(fw.lost for fw in self.topics.values())
        return [conv.diagnostic_status(
            f"{self.get_name()}: view", "warn" if lost else "ok",
            f"{self.forwarded} forwarded, {lost} lost before the bridge", values)]

    def destroy_node(self):
        try:
            self.server.stop()
        finally:
            return super().destroy_node()
