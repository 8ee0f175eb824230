"""The camera backend interface: colour frames stamped with their sampling time."""

from __future__ import annotations

import abc

from fdvla_msgs.types import CameraFrame, CameraIntrinsics


class CameraError(RuntimeError):
    """The camera cannot be opened or read; the message says what to check."""


class CameraBackend(abc.ABC):
    @abc.abstractmethod
    def start(self) -> None:
        """Open the device and start streaming."""

    @abc.abstractmethod
    def read(self, timeout: float = 1.0) -> CameraFrame:
        """Block until the next colour frame (rgb8) and return it with its sampling time."""

    @abc.abstractmethod
    def intrinsics(self) -> CameraIntrinsics:
        """Intrinsics of the colour stream as configured."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop streaming and release the device. Safe to call twice."""

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
