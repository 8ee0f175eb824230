"""Mapping a device's own clock (UR controller, camera) onto the host's wall clock.

Every stamp in the stack is the time the data was *sampled*, on the host's wall clock. Devices
stamp samples on their own clock (UR: seconds since controller boot; K4A: microseconds since the
camera started; RealSense hardware clock: milliseconds). The host only sees when a sample
*arrived*, which is the sampling time plus a transport latency that is never negative and is
smallest for the luckiest samples. So the offset host - device is estimated as a running minimum
of (arrival - device time) over many samples; that converges to (true offset + minimal latency)
without any cooperation from the device.

The minimum is allowed to rise slowly (`max_drift`, s per s of device time) so that a device
clock that runs slow relative to the host is still tracked; one that runs fast lowers the
minimum by itself. A device clock that goes backwards (device restarted) or an offset jump larger
than `reset_after` restarts the estimate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional


@dataclass
class DeviceClockMapper:
    #: How fast (seconds per second of device time) the offset may rise: 200 ppm covers
    #: crystal drift of any device we use, while latency spikes of a few ms decay away quickly.
    max_drift: float = 2e-4
    #: An offset change larger than this means the device clock was reset, not latency.
    reset_after: float = 1.0

    def __post_init__(self):
        self._offset: Optional[float] = None
        self._last_device_time: Optional[float] = None

    @property
    def offset(self) -> Optional[float]:
        """Current estimate of host_time - device_time, seconds (None before the first sample)."""
        return self._offset

    def reset(self) -> None:
        self._offset = None
        self._last_device_time = None

    def to_host(self, device_time: float, host_arrival: float) -> float:
        """The host time at which a sample stamped `device_time` by the device was taken.

        `host_arrival` is when the host received (or first saw) that sample; it must be on the
        clock the result should be on (normally `time.time()`).
        """
        device_time = float(device_time)
        observed = float(host_arrival) - device_time
        last = self._last_device_time
        if (self._offset is None or last is None or device_time < last
                or abs(observed - self._offset) > self.reset_after):
            self._offset = observed
        else:
            allowed = self._offset + self.max_drift * (device_time - last)
            self._offset = min(observed, allowed)
        self._last_device_time = device_time
        return device_time + self._offset


def to_wall_clock(host_time: float, clock: Callable[[], float] = time.monotonic) -> float:
    """A time read from the host clock `clock` (e.g. time.perf_counter) as a time.time() value."""
    return host_time + (time.time() - clock())
