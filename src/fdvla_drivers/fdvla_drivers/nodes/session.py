"""This process's own rclpy side, apart from any other: a context, an executor thread and helpers
to wait for topics and call services over DDS. The application's graph runner and commands, the
tests and the benches all use it."""

from __future__ import annotations

import threading
import time
from typing import Callable

from fdvla_drivers.environment import apply_defaults


class RosSession:
    def __init__(self, name: str = "fdvla_session", threads: int = 4, signals: bool = True):
        """`signals=False`: rclpy installs no signal handler (the caller owns Ctrl-C)."""
        apply_defaults()
        import rclpy
        from rclpy.executors import MultiThreadedExecutor
        from rclpy.node import Node

        from fdvla_drivers.nodes.common import spin_until

        self.context = rclpy.Context()
        if signals:
            rclpy.init(context=self.context)
        else:
            rclpy.init(context=self.context,
                       signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        self.node = Node(name, context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=threads, context=self.context)
        self.executor.add_node(self.node)
        self.nodes = [self.node]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=spin_until, args=(self.executor, self._stop),
                                        kwargs={"period": 0.05}, name=f"{name}-executor",
                                        daemon=True)
        self._thread.start()

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
        rclpy.try_shutdown(context=self.context)
