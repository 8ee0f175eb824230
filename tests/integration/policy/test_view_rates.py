"""Issue 16 item 7: the live view forwards every message unless `view.max_rate` throttles it.

A real Foxglove WebSocket client against `fdvla bringup --view` (its own OS processes, the
process executors the graph picks), next to a DDS probe. Counts only, never a rate the machine
must reach: the unthrottled /controller/target_pose (50 Hz) must reach the client with every
stamp the probe saw, and the throttled /tcp_pose (500 Hz, `view.max_rate` 20 Hz) must reach it
no more often than 20 per second of the window the stamps span, plus a margin.
"""

import asyncio
import json
import os
import signal
import socket
import struct
import subprocess
import sys

import pytest
from geometry_msgs.msg import PoseStamped
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message

from fdvla_msgs import conversions as conv
from fdvla_msgs import topics
from helpers.probe import Probe

pytestmark = pytest.mark.slow

THROTTLE = 20.0  # Hz, for /tcp_pose
TARGETS = 150  # /controller/target_pose messages to collect (3 s of its 50 Hz)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stamp(data: bytes) -> float:
    return conv.from_ros_time(deserialize_message(data, PoseStamped).header.stamp)


async def collect(port: int) -> dict:
    import websockets

    for _ in range(120):  # the view process starts within a minute on a loaded machine
        try:
            ws = await websockets.connect(f"ws://127.0.0.1:{port}", max_size=None,
                                          subprotocols=["foxglove.sdk.v1"])
            break
        except OSError:
            await asyncio.sleep(0.5)
    else:
        raise AssertionError("the live view never accepted a connection")
    want = [topics.TCP_POSE, topics.CONTROLLER_TARGET_POSE]
    async with ws:
        channels = {}
        while not all(t in channels for t in want):
            msg = await asyncio.wait_for(ws.recv(), 30)
            if isinstance(msg, str) and json.loads(msg)["op"] == "advertise":
                channels.update({c["topic"]: c for c in json.loads(msg)["channels"]})
        await ws.send(json.dumps({"op": "subscribe", "subscriptions": [
            {"id": i, "channelId": channels[t]["id"]} for i, t in enumerate(want)]}))
        got = {t: [] for t in want}
        deadline = asyncio.get_running_loop().time() + 120
        while len(got[topics.CONTROLLER_TARGET_POSE]) < TARGETS:
            # A bound on the whole collection: /tcp_pose alone must not keep this waiting.
            assert asyncio.get_running_loop().time() < deadline, \
                f"{len(got[topics.CONTROLLER_TARGET_POSE])} of {TARGETS} target poses in 120 s"
            data = await asyncio.wait_for(ws.recv(), 30)
            if isinstance(data, bytes) and data[0] == 0x01:
                sub_id, _ = struct.unpack_from("<IQ", data, 1)
                got[want[sub_id]].append(stamp(data[13:]))
        return got


def test_live_view_forwards_every_message_unless_throttled(tmp_path):
    port = free_port()
    log = open(tmp_path / "bringup.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fdvla.cli", "bringup", "--robot", "sim", "--view",
         "--status-period", "0", "--set", "cameras={}", "--set", f"view.port={port}",
         "--set", f"view.max_rate={{{topics.TCP_POSE}: {THROTTLE}}}"],
        env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    probe = Probe("view_rate_probe")
    deep = QoSProfile(depth=1000, history=HistoryPolicy.KEEP_LAST,
                      reliability=ReliabilityPolicy.BEST_EFFORT)
    probe.subscribe(topics.CONTROLLER_TARGET_POSE, PoseStamped, profile=deep)
    try:
        got = asyncio.run(collect(port))
        assert proc.poll() is None, (tmp_path / "bringup.log").read_text()[-3000:]
        targets = got[topics.CONTROLLER_TARGET_POSE]
        poses = got[topics.TCP_POSE]
        # Every target pose the probe saw in the client's window reached the client too.
        seen = [conv.from_ros_time(m.header.stamp)
                for m in probe.all(topics.CONTROLLER_TARGET_POSE)]
        inside = {s for s in seen if targets[0] <= s <= targets[-1]}
        missing = sorted(inside - set(targets))
        assert len(inside) > TARGETS // 2, (len(inside), len(seen))
        assert not missing, f"{len(missing)} of {len(inside)} target poses never reached the client"
        assert len(targets) == len(set(targets))  # each once
        # The throttled topic: at most THROTTLE per second of that window (1 s of slack for
        # delivery in bursts), and it is forwarded at all.
        span = targets[-1] - targets[0]
        assert 5 <= len(poses) <= THROTTLE * (span + 1.0) + 5, (len(poses), span)
    finally:
        probe.close()
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
