"""A probe on its own rclpy context (its own DDS participant): it sees the stack only over DDS."""

from __future__ import annotations

import collections
import threading
import time
from typing import Callable

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from fdvla_msgs import qos


class Probe:
    def __init__(self, name: str = "test_probe"):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.messages: dict[str, collections.deque] = {}
        self.arrivals: dict[str, list] = collections.defaultdict(list)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self):
        while not self._stop.is_set():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:
                if self._stop.is_set():
                    return
                raise

    def subscribe(self, topic: str, msg_type, profile=qos.SENSOR_SUB, keep: int = 5000):
        self.messages[topic] = collections.deque(maxlen=keep)

        def cb(msg, topic=topic):
            with self._lock:
                self.messages[topic].append(msg)
                self.arrivals[topic].append(time.monotonic())

        self.node.create_subscription(msg_type, topic, cb, profile)

    def latest(self, topic: str):
        with self._lock:
            q = self.messages[topic]
            return q[-1] if q else None

    def all(self, topic: str) -> list:
        """A copy of the messages kept for `topic` (the spin thread keeps appending)."""
        with self._lock:
            return list(self.messages[topic])

    def count(self, topic: str) -> int:
        with self._lock:
            return len(self.arrivals[topic])

    def rate(self, topic: str, window: float) -> float:
        now = time.monotonic()
        with self._lock:
            ts = [t for t in self.arrivals[topic] if t >= now - window]
        return (len(ts) - 1) / (ts[-1] - ts[0]) if len(ts) > 2 else 0.0

    def wait_for(self, pred: Callable[[], bool], timeout: float, what: str = "condition"):
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            if pred():
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")

    def publisher(self, topic: str, msg_type, profile=qos.COMMAND):
        return self.node.create_publisher(msg_type, topic, profile)

    def wait_for_subscriber(self, pub, timeout: float = 10.0):
        self.wait_for(lambda: pub.get_subscription_count() > 0, timeout,
                      f"a subscriber on {pub.topic_name}")

    def call(self, srv_type, name: str, request, timeout: float = 10.0):
        client = self.node.create_client(srv_type, name)
        if not client.wait_for_service(timeout_sec=timeout):
            raise AssertionError(f"service {name} not available")
        fut = client.call_async(request)
        self.wait_for(fut.done, timeout, f"a response from {name}")
        return fut.result()

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2.0)
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
