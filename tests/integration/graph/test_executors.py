"""The executors a process can run on (fdvla/process.py) deliver what the nodes rely on: the
controller's command callbacks get the message info (DDS sequence numbers, for counting lost
chunks) under the C++ EventsExecutor as under the Python ones."""

import time

import pytest
import rclpy
from rclpy.context import Context
from rclpy.node import Node
from std_msgs.msg import String

from fdvla.process import EXECUTORS, make_executor, process_executor
from fdvla_drivers.nodes.common import SequenceGapCounter, subscribe_with_info
from fdvla_msgs import qos


@pytest.mark.parametrize("kind", EXECUTORS)
def test_subscribe_with_info_gets_sequence_numbers_under_every_executor(kind):
    context = Context()
    rclpy.init(context=context)
    try:
        node = Node("info_probe", context=context)
        got = []
        subscribe_with_info(node, String, "/fdvla_test/info", lambda m, i: got.append((m, i)),
                            qos.COMMAND)
        pub = node.create_publisher(String, "/fdvla_test/info", qos.COMMAND)
        executor = make_executor(kind, context=context)
        executor.add_node(node)
        gaps, lost = SequenceGapCounter(), 0
        deadline = time.monotonic() + 10.0
        sent = 0
        while len(got) < 5 and time.monotonic() < deadline:
            if sent < 5:
                sent += 1
                pub.publish(String(data=str(sent)))
            executor.spin_once(timeout_sec=0.05)
        for _, info in got:
            lost += gaps.gap(info)
        assert [m.data for m, _ in got] == ["1", "2", "3", "4", "5"]
        seqs = [i["publication_sequence_number"] for _, i in got]
        assert seqs == sorted(seqs) and len(set(seqs)) == 5
        assert lost == 0
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def test_a_lost_message_is_counted_under_the_events_executor():
    context = Context()
    rclpy.init(context=context)
    try:
        node = Node("gap_probe", context=context)
        got = []
        subscribe_with_info(node, String, "/fdvla_test/gap", lambda m, i: got.append(i),
                            qos.COMMAND)
        pub = node.create_publisher(String, "/fdvla_test/gap", qos.COMMAND)
        executor = make_executor("events", context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 10.0
        while node.count_subscribers("/fdvla_test/gap") < 1 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        pub.publish(String(data="first"))  # the stream's start, so a gap after it is seen
        while not got and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        # More messages than the subscription's queue holds before the executor takes any.
        depth = qos.COMMAND.depth
        for k in range(depth + 5):
            pub.publish(String(data=str(k)))
        time.sleep(0.5)
        while time.monotonic() < deadline and len(got) < 1 + depth:
            executor.spin_once(timeout_sec=0.05)
        for _ in range(10):
            executor.spin_once(timeout_sec=0.02)
        gaps = SequenceGapCounter()
        lost = sum(gaps.gap(i) for i in got)
        assert lost > 0
        assert len(got) + lost == 1 + depth + 5
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def test_the_robot_process_runs_on_the_events_executor_by_default():
    class Spec:
        robot = {"backend": "sim"}

    class Other:
        robot = None
        nodes = ()

    assert process_executor({}, Spec) == "events"
    assert process_executor({}, Other) == "multi"
    assert process_executor({"executors": {"robot_driver": "multi"}}, Spec) == "multi"
    with pytest.raises(ValueError, match="executor 'fast'"):
        make_executor("fast")
