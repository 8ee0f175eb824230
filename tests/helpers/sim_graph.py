"""Pieces of the sim-graph tests: the controller's counters, the TCP, straight-line chunks."""

import time

import numpy as np

from fdvla_msgs import conversions as conv
from fdvla_msgs import topics
from fdvla_msgs.types import ActionChunk, Pose
from helpers.probe import Probe

# No cameras here: these tests are about the robot side and must be light on 2 cores.
NO_CAMERAS = ["cameras={}"]


def rejected(probe: Probe) -> dict:
    """The controller's latest diagnostic values. Every node publishes on /diagnostics, so the
    newest message may be another node's: take the newest one that carries the controller."""
    for msg in reversed(probe.all(topics.DIAGNOSTICS)):
        for st in msg.status:
            if st.name.endswith(": controller"):
                return {k: v for k, v in conv.diagnostic_values(st).items()}
    return {}


def tcp(probe: Probe) -> Pose:
    return conv.pose_from_msg(probe.latest(topics.TCP_POSE))[1]


def line_chunk(stamp, start: Pose, delta, duration, n=50):
    s = np.linspace(1.0 / n, 1.0, n)
    return ActionChunk.from_arrays(stamp, s * duration, start.position + np.outer(s, delta),
                                   np.tile(start.quat_xyzw, (n, 1)))


def settle(probe, seconds=0.3):
    time.sleep(seconds)
    return tcp(probe)
