"""Test-session environment: DDS on loopback only, a ROS domain of this run's own, offscreen GL.

Layout: tests/unit/<package>/ test one package's code directly (no DDS, no graph);
tests/integration/<area>/ run the graph over real DDS, its processes and the CLI; tests/helpers/
is what they share (`from helpers.probe import Probe`)."""

import os
import random

# Before anything imports rclpy or mujoco: the stack's own defaults (DDS on loopback, offscreen
# GL, no model hub), from the one place that sets them.
from fdvla_drivers.environment import apply_defaults  # noqa: E402

apply_defaults()
# Robot processes started by tests run at normal priority (a SCHED_FIFO servo process would
# starve the tests' own subscribers on a loaded machine); tests/integration/processes checks the request.
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
