"""A small rclpy session for this package's commands: own context, executor thread, helpers to
wait for topics and call services over DDS."""

from __future__ import annotations

import json
import threading
import time
from typing import Callable

from fdvla.environment import apply_defaults


class RosSession:
    def __init__(self, name: str = "fdvla_teleop_session", threads: int = 4):
        apply_defaults()
        import rclpy
        from rclpy.executors import MultiThreadedExecutor
        from rclpy.node import Node

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node(name, context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=threads, context=self.context)
        self.executor.add_node(self.node)
        self.nodes = [self.node]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name="session-executor", daemon=True)
        self._thread.start()

    def _spin(self):
        from rclpy._rclpy_pybind11 import InvalidHandle

        while not self._stop.is_set():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except InvalidHandle:
                # An entity destroyed by another thread while this one built its wait set: the
                # next wait set no longer holds it. Ending the thread would silently stop every
                # node of the session.
                continue
            except Exception:
                if self._stop.is_set():
                    return
                raise

    def add(self, node):
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def call_trigger(self, service: str, timeout: float = 10.0):
        from std_srvs.srv import Trigger

        client = self.node.create_client(Trigger, service)
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                raise TimeoutError(f"service {service} is not available")
            fut = client.call_async(Trigger.Request())
            t_end = time.monotonic() + timeout
            while not fut.done():
                if time.monotonic() > t_end:
                    raise TimeoutError(f"no response from {service}")
                time.sleep(0.005)
            return fut.result()
        finally:
            self.node.destroy_client(client)

    @staticmethod
    def wait_for(pred: Callable[[], bool], timeout: float, what: str,
                 check: Callable[[], None] | None = None, period: float = 0.02) -> None:
        t_end = time.monotonic() + timeout
        while not pred():
            if check is not None:
                check()
            if time.monotonic() > t_end:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(period)

    def close(self):
        import rclpy

        self._stop.set()
        self._thread.join(timeout=2.0)
        for n in reversed(self.nodes):
            try:
                n.destroy_node()
            except Exception:
                pass
        self.executor.shutdown(timeout_sec=2.0)
        try:
            rclpy.shutdown(context=self.context)
        except Exception:
            pass


def parse_json(text: str) -> dict:
    try:
        return json.loads(text)
    except ValueError:
        return {}
