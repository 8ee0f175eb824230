"""pyspacemouse (HID, through Debian's hidapi library) backend.

pyspacemouse reports x right, y away from the user, z up and roll/pitch/yaw about y/x/z, each
in [-1, 1]; this maps them to the spacenav frame (x away, y left, z up).
"""

from __future__ import annotations

import time

import numpy as np

from fdvla_teleop.spacemouse.base import (HARDWARE_DOC, SpaceMouseBackend, SpaceMouseError,
                                          SpaceMouseSample)


class HidSpaceMouse(SpaceMouseBackend):
    def __init__(self, device: str | None = None, module=None, poll_period: float = 0.005):
        """`module`: the pyspacemouse API (default: import it)."""
        self.device_name = device
        self._module = module
        self.poll_period = poll_period
        self._dev = None

    def open(self) -> None:
        mod = self._module
        if mod is None:
            try:
                import pyspacemouse as mod
            except Exception as e:  # ImportError, or hidapi's shared library missing
                raise SpaceMouseError(
                    f"pyspacemouse cannot load ({e}); install Debian's libhidapi-hidraw0 "
                    f"(scripts/install.sh does) - see {HARDWARE_DOC}") from None
            self._module = mod
        try:
            kw = {"device": self.device_name} if self.device_name else {}
            dev = mod.open(**kw)
        except PermissionError as e:
            raise SpaceMouseError(f"no permission to open the SpaceMouse ({e}); install the "
                                  f"udev rule from {HARDWARE_DOC} and re-plug it") from None
        except Exception as e:
            text = str(e)
            hint = ("install the udev rule from " + HARDWARE_DOC if "ermission" in text
                    or "open" in text.lower() else "plug it in / check `lsusb` - see "
                    + HARDWARE_DOC)
            raise SpaceMouseError(f"cannot open a SpaceMouse over HID ({text}); {hint}") from None
        if not dev:
            raise SpaceMouseError(f"no SpaceMouse found over HID; plug it in, or install the "
                                  f"udev rule from {HARDWARE_DOC} if it is plugged in")
        self._dev = dev

    def poll(self, timeout: float) -> SpaceMouseSample | None:
        if self._dev is None:
            raise SpaceMouseError("SpaceMouse is not open")
        t_end = time.monotonic() + timeout
        state = self._dev.read()
        while state is None and time.monotonic() < t_end:
            time.sleep(self.poll_period)
            state = self._dev.read()
        if state is None:
            return None
        axes = np.array([state.y, -state.x, state.z, state.roll, -state.pitch, state.yaw],
                        dtype=np.float64)
        return SpaceMouseSample(time.time(), np.clip(axes, -1.0, 1.0),
                                tuple(int(b) for b in state.buttons))

    def close(self) -> None:
        if self._dev is not None:
            try:
                self._dev.close()
            finally:
                self._dev = None
