"""The SpaceMouse backend interface."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import numpy as np

#: docs/hardware.md, section "SpaceMouse": what to do when the device cannot be opened.
HARDWARE_DOC = "docs/hardware.md (SpaceMouse)"


class SpaceMouseError(RuntimeError):
    """A user-facing problem (device absent, no permission, daemon not running): one line."""


@dataclass
class SpaceMouseSample:
    """One reading: `axes` = (x, y, z, rx, ry, rz) in [-1, 1], spacenav frame; `buttons` 0/1."""

    stamp: float
    axes: np.ndarray = field(default_factory=lambda: np.zeros(6))
    buttons: tuple = ()


class SpaceMouseBackend(abc.ABC):
    @abc.abstractmethod
    def open(self) -> None:
        """Connect; raises SpaceMouseError with the fix when the device cannot be used."""

    @abc.abstractmethod
    def poll(self, timeout: float) -> SpaceMouseSample | None:
        """The newest state after waiting at most `timeout` s for news (None: nothing yet)."""

    @abc.abstractmethod
    def close(self) -> None:
        ...
