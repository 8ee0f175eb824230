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

    def mounted_pose(self):
        """4x4 pose in `base` of the colour optical frame of a camera mounted in the cell, when
        the backend knows it (a simulated one); None: unknown here (a real camera: the setup's
        calibration, `cameras.<name>.pose_in_base`) or moving with the arm."""
        return None

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop streaming and release the device. Safe to call twice."""

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
