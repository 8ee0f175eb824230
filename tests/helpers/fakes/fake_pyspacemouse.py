"""A fake of pyspacemouse's public API (the HID vendor boundary): `open()` returning a device
with `read()` -> SpaceMouseState-like objects and `close()`. It fakes the vendor API only."""

from dataclasses import dataclass, field


@dataclass
class FakeState:
    t: float = 0.0
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    roll: float = 0.0
    pitch: float = 0.0
    yaw: float = 0.0
    buttons: list = field(default_factory=lambda: [0, 0])


class FakeDevice:
    def __init__(self, states):
        self.states = list(states)
        self.closed = False

    def read(self):
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def close(self):
        self.closed = True


class FakePySpaceMouse:
    """Module-like: `open(**kw)` as pyspacemouse.open; `error` makes it raise like the library."""

    def __init__(self, states=(), error: Exception | None = None, returns_none=False):
        self.states = list(states) or [FakeState()]
        self.error = error
        self.returns_none = returns_none
        self.opened = []

    def open(self, **kw):
        if self.error is not None:
            raise self.error
        if self.returns_none:
            return None
        dev = FakeDevice(self.states)
        self.opened.append(dev)
        return dev
