"""Test-session environment: DDS on loopback only, a ROS domain of this run's own, offscreen GL."""

import os
import random

# Before anything imports rclpy or mujoco.
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Robot processes started by tests run at normal priority (a SCHED_FIFO servo process would
# starve the tests' own subscribers on a loaded machine); tests/processes checks the request.
os.environ.setdefault("FDVLA_RT_PRIORITY", "0")
if "ROS_DOMAIN_ID" not in os.environ:
    # Parallel test runs on one machine must not hear each other.
    os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 100))


import pytest  # noqa: E402


@pytest.fixture
def own_domain(monkeypatch):
    """A ROS domain of this test's own, for a graph started while a module fixture's graph still
    runs on the session's domain (a second controller on one domain is refused, as on a cell)."""
    current = int(os.environ["ROS_DOMAIN_ID"])
    monkeypatch.setenv("ROS_DOMAIN_ID", str((current + 36) % 100 + 1))
