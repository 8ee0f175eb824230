"""spacenavd backend: the daemon's AF_UNIX socket, protocol v0.

Every event the daemon sends is 8 native-endian int32: `[type, d1..d7]`. type 0 = motion with
d1..d6 = x, y, z, rx, ry, rz (device units, about +-350 at full deflection) and d7 = the period
in ms; type 1/2 = button press/release with d1 = the button number. spacenavd's own frame is
left-handed (x right, y up, z away from the user); it is mapped here as the ROS `spacenav` node
maps it: spacenav x = z, y = -x, z = y (and the same for the rotations).
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import time

import numpy as np

from fdvla_teleop.spacemouse.base import (HARDWARE_DOC, SpaceMouseBackend, SpaceMouseError,
                                          SpaceMouseSample)

DEFAULT_SOCKET = "/var/run/spnav.sock"
EVENT = struct.Struct("=8i")
UEV_MOTION, UEV_PRESS, UEV_RELEASE = 0, 1, 2


def encode_motion(x, y, z, rx, ry, rz, period_ms: int = 8) -> bytes:
    """A motion event as spacenavd sends it (for servers and tests)."""
    return EVENT.pack(UEV_MOTION, int(x), int(y), int(z), int(rx), int(ry), int(rz),
                      int(period_ms))


def encode_button(button: int, pressed: bool) -> bytes:
    return EVENT.pack(UEV_PRESS if pressed else UEV_RELEASE, int(button), 0, 0, 0, 0, 0, 0)


def to_spacenav_frame(raw: np.ndarray, full_scale: float) -> np.ndarray:
    """spacenavd (x, y, z, rx, ry, rz) device units -> spacenav frame in [-1, 1]."""
    x, y, z, rx, ry, rz = (float(v) for v in raw)
    axes = np.array([z, -x, y, rz, -rx, ry]) / full_scale
    return np.clip(axes, -1.0, 1.0)


class SpacenavdSpaceMouse(SpaceMouseBackend):
    def __init__(self, socket_path: str | None = None, full_scale: float = 350.0,
                 buttons: int = 2, static_timeout: float = 0.1):
        """`static_timeout`: spacenavd sends no event while the cap rests, so axes drop to zero
        when no motion event arrived for this long (like the spacenav node's zero_when_static)."""
        self.socket_path = socket_path or os.environ.get("SPNAV_SOCKET", DEFAULT_SOCKET)
        self.full_scale = full_scale
        self.static_timeout = static_timeout
        self._sock: socket.socket | None = None
        self._buf = b""
        self._axes = np.zeros(6)
        self._buttons = [0] * buttons
        self._last_motion = 0.0
        #: Button states after each press/release not yet reported: a press and its release
        #: read in one go still give one sample with the button down.
        self._pending: list[tuple] = []

    def open(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.socket_path)
        except FileNotFoundError:
            s.close()
            raise SpaceMouseError(f"spacenavd is not running (no socket at {self.socket_path}); "
                                  f"start it with `sudo systemctl start spacenavd` - see "
                                  f"{HARDWARE_DOC}") from None
        except PermissionError:
            s.close()
            raise SpaceMouseError(f"no permission to connect to {self.socket_path}; see "
                                  f"{HARDWARE_DOC}") from None
        except OSError as e:
            s.close()
            if e.errno == errno.ECONNREFUSED:
                raise SpaceMouseError(f"spacenavd refuses connections on {self.socket_path} "
                                      f"(stale socket?); restart spacenavd - see "
                                      f"{HARDWARE_DOC}") from None
            raise SpaceMouseError(f"cannot connect to spacenavd at {self.socket_path}: "
                                  f"{e.strerror}") from None
        s.setblocking(False)
        self._sock = s

    def poll(self, timeout: float) -> SpaceMouseSample | None:
        if self._sock is None:
            raise SpaceMouseError("spacenavd connection is not open")
        ready, _, _ = select.select([self._sock], [], [], max(timeout, 0.0))
        if ready:
            try:
                data = self._sock.recv(4096)
            except BlockingIOError:
                data = None
            if data == b"":
                raise SpaceMouseError(f"spacenavd closed the connection ({self.socket_path})")
            if data:
                self._buf += data
                self._consume()
        now = time.monotonic()
        if now - self._last_motion > self.static_timeout:
            self._axes = np.zeros(6)
        buttons = self._pending.pop(0) if self._pending else tuple(self._buttons)
        return SpaceMouseSample(time.time(), self._axes.copy(), buttons)

    def _consume(self) -> None:
        n = len(self._buf) // EVENT.size
        for k in range(n):
            ev = EVENT.unpack_from(self._buf, k * EVENT.size)
            if ev[0] == UEV_MOTION:
                self._axes = to_spacenav_frame(np.array(ev[1:7]), self.full_scale)
                self._last_motion = time.monotonic()
            elif ev[0] in (UEV_PRESS, UEV_RELEASE):
                b = ev[1]
                if b >= len(self._buttons):
                    self._buttons.extend([0] * (b + 1 - len(self._buttons)))
                self._buttons[b] = 1 if ev[0] == UEV_PRESS else 0
                self._pending.append(tuple(self._buttons))
        self._buf = self._buf[n * EVENT.size:]

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
