"""DeviceClockMapper: device timestamps onto the host clock, from arrival times alone."""

from __future__ import annotations

import numpy as np
import pytest

from fdvla_drivers.device_clock import DeviceClockMapper


def test_converges_to_the_smallest_latency():
    rng = np.random.default_rng(0)
    offset = 1.7e9 - 120.0  # host = device + offset
    mapper = DeviceClockMapper()
    errors = []
    for i in range(500):
        device = 120.0 + 0.002 * i
        latency = 0.0005 + rng.exponential(0.003)  # never below 0.5 ms
        mapped = mapper.to_host(device, device + offset + latency)
        errors.append(mapped - (device + offset))
    # Late samples are mapped to their sampling time (+ the minimal latency), not their arrival.
    assert max(errors[50:]) < 0.0015
    assert min(errors) >= 0.0005 - 1e-9


def test_tracks_a_device_clock_that_runs_slow():
    mapper = DeviceClockMapper(max_drift=2e-4)
    drift = 5e-5  # the device loses 50 us per second
    for i in range(2000):
        device = 0.05 * i
        host = 1000.0 + device * (1.0 + drift) + 0.001
        mapped = mapper.to_host(device, host)
    assert mapped == pytest.approx(host - 0.001, abs=2e-3)


def test_restarts_when_the_device_clock_goes_back():
    mapper = DeviceClockMapper()
    mapper.to_host(500.0, 2000.0)
    assert mapper.offset == pytest.approx(1500.0)
    mapped = mapper.to_host(1.0, 3000.0)  # the device rebooted
    assert mapped == pytest.approx(3000.0)
    assert mapper.offset == pytest.approx(2999.0)
