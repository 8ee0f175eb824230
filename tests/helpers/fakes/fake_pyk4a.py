"""A fake of the parts of pyk4a (1.5) the Azure Kinect backend uses.

pyk4a cannot be installed here (it compiles against the Azure Kinect SDK), so names follow
pyk4a's source: PyK4A(config, device_id).start()/stop()/get_capture(timeout ms)/calibration,
Config, ColorResolution, ImageFormat, DepthMode, FPS, CalibrationType, K4AException,
K4ATimeoutException, connected_device_count(). Captures expose `color` (H, W, 4) BGRA uint8,
`color_timestamp_usec` (device clock, mid-exposure) and `color_system_timestamp_nsec`
(time.perf_counter_ns() when the host received the image), and `transformed_depth`: None with
depth off (pyk4a: no depth image in the capture), else (H, W) uint16 millimetres in the colour
camera's geometry, 0 where there is no reading.
"""

from __future__ import annotations

import enum
import time
import types
from dataclasses import dataclass

import numpy as np


class FPS(enum.IntEnum):
    FPS_5 = 0
    FPS_15 = 1
    FPS_30 = 2


class ImageFormat(enum.IntEnum):
    COLOR_MJPG = 0
    COLOR_NV12 = 1
    COLOR_YUY2 = 2
    COLOR_BGRA32 = 3


class DepthMode(enum.IntEnum):
    OFF = 0
    NFOV_2X2BINNED = 1
    NFOV_UNBINNED = 2
    WFOV_2X2BINNED = 3
    WFOV_UNBINNED = 4
    PASSIVE_IR = 5


class ColorResolution(enum.IntEnum):
    OFF = 0
    RES_720P = 1
    RES_1080P = 2
    RES_1440P = 3
    RES_1536P = 4
    RES_2160P = 5
    RES_3072P = 6


class CalibrationType(enum.IntEnum):
    DEPTH = 0
    COLOR = 1


class K4AException(Exception):
    pass


class K4ATimeoutException(K4AException):
    pass


_SIZES = {ColorResolution.RES_720P: (1280, 720), ColorResolution.RES_1080P: (1920, 1080),
          ColorResolution.RES_1536P: (2048, 1536)}


@dataclass
class FakeKinect:
    fx: float = 612.6
    fy: float = 612.4
    cx: float = 638.1
    cy: float = 366.9
    distortion: tuple = (0.51, -2.61, 0.0007, -0.0002, 1.46, 0.39, -2.44, 1.39)
    #: how long before it is handed to the application each image was exposed (s)
    frame_age: float = 0.04
    frames_available: bool = True
    openable: bool = True
    #: registered depth, mm: `depth_base_mm` + the row index; 0 (no reading) in the leftmost
    #: `depth_hole_columns` columns (where a real Kinect's depth camera does not see)
    depth_base_mm: int = 400
    depth_hole_columns: int = 8

    def __post_init__(self):
        self.calls: list = []
        self.started_at = time.time()
        self.counter = 0


def make_pyk4a(kinects):
    mod = types.ModuleType("pyk4a")
    for obj in (FPS, ImageFormat, DepthMode, ColorResolution, CalibrationType, K4AException,
                K4ATimeoutException):
        setattr(mod, obj.__name__, obj)

    class Config:
        def __init__(self, color_resolution=ColorResolution.RES_720P,
                     color_format=ImageFormat.COLOR_BGRA32, depth_mode=DepthMode.NFOV_UNBINNED,
                     camera_fps=FPS.FPS_30, synchronized_images_only=True, **_):
            if synchronized_images_only and depth_mode == DepthMode.OFF:
                raise AssertionError("libk4a rejects synchronized_images_only with depth off")
            self.color_resolution = color_resolution
            self.color_format = color_format
            self.depth_mode = depth_mode
            self.camera_fps = camera_fps
            self.synchronized_images_only = synchronized_images_only

    class Calibration:
        def __init__(self, kin):
            self._k = kin

        def get_camera_matrix(self, camera):
            assert camera == CalibrationType.COLOR
            k = self._k
            return np.array([[k.fx, 0, k.cx], [0, k.fy, k.cy], [0, 0, 1]])

        def get_distortion_coefficients(self, camera):
            assert camera == CalibrationType.COLOR
            return np.array(self._k.distortion)

    class PyK4ACapture:
        def __init__(self, kin, width, height, depth_on=False):
            kin.counter += 1
            exposed = time.time() - kin.frame_age
            img = np.empty((height, width, 4), dtype=np.uint8)
            img[..., 0] = 10  # B
            img[..., 1] = 20  # G
            img[..., 2] = (np.arange(width) % 256)[None, :]  # R = column
            img[..., 3] = 255
            self.color = img
            self.color_timestamp_usec = int((exposed - kin.started_at) * 1e6)
            self.color_system_timestamp_nsec = time.perf_counter_ns()
            self.transformed_depth = None
            if depth_on:
                mm = kin.depth_base_mm + np.arange(height, dtype=np.uint16)[:, None]
                depth = np.repeat(mm, width, axis=1).astype(np.uint16)
                depth[:, :kin.depth_hole_columns] = 0
                self.transformed_depth = depth

    class PyK4A:
        TIMEOUT_WAIT_INFINITE = -1

        def __init__(self, config=None, device_id=0, thread_safe=True):
            self._config = config or Config()
            self._id = device_id
            self._kin = kinects[device_id] if device_id < len(kinects) else None
            self.is_running = False

        def start(self):
            if self._kin is None or not self._kin.openable:
                raise K4AException()
            self._kin.calls.append(("start", self._config))
            self.is_running = True

        def stop(self):
            if not self.is_running:
                raise K4AException("Device is not opened")
            self._kin.calls.append(("stop",))
            self.is_running = False

        @property
        def calibration(self):
            if not self.is_running:
                raise K4AException("Device is not opened")
            return Calibration(self._kin)

        def get_capture(self, timeout=TIMEOUT_WAIT_INFINITE):
            if not self.is_running:
                raise K4AException("Device is not opened")
            self._kin.calls.append(("get_capture", timeout))
            if not self._kin.frames_available:
                raise K4ATimeoutException()
            return PyK4ACapture(self._kin, *_SIZES[self._config.color_resolution],
                                depth_on=self._config.depth_mode != DepthMode.OFF)

    mod.Config = Config
    mod.Calibration = Calibration
    mod.PyK4ACapture = PyK4ACapture
    mod.PyK4A = PyK4A
    mod.connected_device_count = lambda: len(kinects)
    return mod
