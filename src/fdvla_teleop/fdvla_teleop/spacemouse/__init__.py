"""SpaceMouse input behind one interface: the pyspacemouse HID backend and the spacenavd socket.

Every backend yields `SpaceMouseSample`s in the ROS `spacenav` package's frame (x forward = push
the cap away from you, y left, z up; rotations about those axes), scaled to [-1, 1], plus the
button states, so `/spacenav/twist` and `/spacenav/joy` look as that package publishes them.
"""

from fdvla_teleop.spacemouse.base import SpaceMouseBackend, SpaceMouseError, SpaceMouseSample


def make_spacemouse(backend: str, **kw) -> SpaceMouseBackend:
    if backend in ("hid", "pyspacemouse"):
        from fdvla_teleop.spacemouse.hid import HidSpaceMouse

        return HidSpaceMouse(**kw)
    if backend == "spacenavd":
        from fdvla_teleop.spacemouse.spacenavd import SpacenavdSpaceMouse

        return SpacenavdSpaceMouse(**kw)
    raise SpaceMouseError(f"unknown spacemouse backend {backend!r}; use 'hid' or 'spacenavd'")


__all__ = ["SpaceMouseBackend", "SpaceMouseError", "SpaceMouseSample", "make_spacemouse"]
