"""A fake of the parts of pyrealsense2 the camera backend uses: a D405 on the USB bus.

Names and call shapes follow the pyrealsense2 2.59 wheel (test_fake_names_exist_in_pyrealsense2
checks them against it). The D405 is modelled as it is: one "Stereo Module" sensor that also
produces the colour stream, and a fixed list of supported colour modes.
"""

from __future__ import annotations

import enum
import time
import types
from dataclasses import dataclass, field

import numpy as np


class stream(enum.Enum):
    depth = 1
    color = 2


class format(enum.Enum):  # noqa: A001 - pyrealsense2's own name
    z16 = 1
    rgb8 = 5
    bgr8 = 6


class option(enum.Enum):
    global_time_enabled = 1
    exposure = 2


class camera_info(enum.Enum):
    name = 0
    serial_number = 1


class timestamp_domain(enum.Enum):
    hardware_clock = 0
    system_time = 1
    global_time = 2


class distortion(enum.Enum):
    none = 0
    brown_conrady = 4


D405_COLOR_MODES = {(w, h, f) for (w, h) in [(1280, 720), (848, 480), (640, 480), (640, 360),
                                            (480, 270), (424, 240)] for f in (5, 15, 30, 60)}


@dataclass
class FakeDevice:
    serial: str = "230322270101"
    name: str = "Intel RealSense D405"
    fx: float = 433.1
    fy: float = 432.7
    ppx: float = 421.3
    ppy: float = 242.9
    coeffs: tuple = (-0.055, 0.063, 0.0002, 0.0008, -0.020)
    domain: timestamp_domain = timestamp_domain.global_time
    #: device clock (ms) = (host time - device_boot) * 1000 in the hardware_clock domain
    device_boot: float = field(default_factory=lambda: time.time() - 50.0)
    #: how long before being handed to the application each frame was captured (s)
    frame_age: float = 0.03
    frames_available: bool = True

    def __post_init__(self):
        self.options: dict = {}
        self.frame_counter = 0


def make_pyrealsense2(devices, calls=None):
    """A module object standing in for pyrealsense2 with `devices` (FakeDevice) plugged in."""
    calls = [] if calls is None else calls
    mod = types.ModuleType("pyrealsense2")
    for e in (stream, format, option, camera_info, timestamp_domain, distortion):
        setattr(mod, e.__name__, e)

    class sensor:
        def __init__(self, dev):
            self._dev = dev

        def supports(self, opt):
            return opt in (option.global_time_enabled, option.exposure)

        def set_option(self, opt, value):
            calls.append(("set_option", opt, value))
            self._dev.options[opt] = value

        def get_info(self, info):
            return "Stereo Module"

    class device:
        def __init__(self, dev):
            self._dev = dev

        def get_info(self, info):
            return {camera_info.serial_number: self._dev.serial,
                    camera_info.name: self._dev.name}[info]

        def query_sensors(self):
            return [sensor(self._dev)]  # the D405 has no separate RGB sensor

    class context:
        def query_devices(self):
            return [device(d) for d in devices]

    class config:
        def __init__(self):
            self.serial = None
            self.streams = []

        def enable_device(self, serial):
            self.serial = serial

        def enable_stream(self, stream_type, width, height, fmt, framerate):
            self.streams.append((stream_type, width, height, fmt, framerate))

    class intrinsics:
        def __init__(self, dev, width, height):
            self.width, self.height = width, height
            self.fx, self.fy, self.ppx, self.ppy = dev.fx, dev.fy, dev.ppx, dev.ppy
            self.model = distortion.brown_conrady
            self.coeffs = list(dev.coeffs)

    class video_stream_profile:
        def __init__(self, dev, width, height):
            self._args = (dev, width, height)

        def as_video_stream_profile(self):
            return self

        def get_intrinsics(self):
            return intrinsics(*self._args)

    class pipeline_profile:
        def __init__(self, dev, width, height):
            self._dev, self._size = dev, (width, height)

        def get_stream(self, stream_type):
            assert stream_type == stream.color
            return video_stream_profile(self._dev, *self._size)

        def get_device(self):
            return device(self._dev)

    class video_frame:
        def __init__(self, dev, width, height, number):
            self._dev = dev
            self.number = number
            self.captured = time.time() - dev.frame_age
            # A deterministic pattern: red = column, green = row, blue = frame number.
            img = np.empty((height, width, 3), dtype=np.uint8)
            img[..., 0] = (np.arange(width) % 256)[None, :]
            img[..., 1] = (np.arange(height) % 256)[:, None]
            img[..., 2] = number % 256
            self._data = img

        def __bool__(self):
            return True

        def get_data(self):
            return self._data

        def get_frame_number(self):
            return self.number

        def get_frame_timestamp_domain(self):
            return self._dev.domain

        def get_timestamp(self):
            if self._dev.domain == timestamp_domain.hardware_clock:
                return (self.captured - self._dev.device_boot) * 1000.0
            if self._dev.domain == timestamp_domain.system_time:
                return time.time() * 1000.0
            return self.captured * 1000.0

    class composite_frame:
        def __init__(self, color):
            self._color = color

        def get_color_frame(self):
            return self._color

    class pipeline:
        def __init__(self, ctx=None):
            self._dev = None
            self._size = None

        def start(self, cfg):
            calls.append(("start", cfg.serial, tuple(cfg.streams)))
            dev = next((d for d in devices if d.serial == cfg.serial), None)
            if dev is None:
                raise RuntimeError("No device connected")
            (stype, width, height, fmt, fps), = cfg.streams
            if (stype != stream.color or fmt != format.rgb8
                    or (width, height, fps) not in D405_COLOR_MODES):
                raise RuntimeError("Couldn't resolve requests")
            self._dev, self._size = dev, (width, height)
            return pipeline_profile(dev, width, height)

        def try_wait_for_frames(self, timeout_ms=5000):
            calls.append(("try_wait_for_frames", timeout_ms))
            if self._dev is None:
                raise RuntimeError("wait_for_frames cannot be called before start()")
            if not self._dev.frames_available:
                return False, composite_frame(None)
            self._dev.frame_counter += 1
            return True, composite_frame(video_frame(self._dev, *self._size,
                                                     self._dev.frame_counter))

        def stop(self):
            calls.append(("stop",))
            if self._dev is None:
                raise RuntimeError("stop() cannot be called before start()")
            self._dev = None

    for cls in (sensor, device, context, config, intrinsics, video_stream_profile,
                pipeline_profile, video_frame, composite_frame, pipeline):
        setattr(mod, cls.__name__, cls)
    mod.calls = calls
    return mod
