"""Azure Kinect (and Orbbec Femto Bolt through Orbbec's K4A wrapper) colour camera over pyk4a.

The colour camera is opened in BGRA32: libk4a decodes the camera's MJPEG itself, and BGRA is the
one format pyk4a hands back as a numpy image at every resolution. The depth camera is off unless
`depth=True`; then each frame also carries the depth registered to the colour camera
(`capture.transformed_depth`: libk4a reprojects the depth image into the colour camera's
geometry, uint16 millimetres of z-depth, 0 where there is no reading) as float32 metres with NaN
for no reading (`CameraFrame.depth`), so a colour pixel lifts to 3D with the colour intrinsics.

Stamps: the device stamps each colour image at the middle of its exposure on the camera's own
clock (microseconds since streaming started); pyk4a also gives the host time at which libk4a
received the image (on the clock of time.perf_counter). The device stamp is mapped onto the host
wall clock with the smallest arrival delay seen so far, so a frame that waited in a queue still
gets the time it was captured.
"""

from __future__ import annotations

import logging
import time
from typing import Optional

import numpy as np

from fdvla_msgs.types import CameraFrame, CameraIntrinsics, depth_from_millimetres

from ..device_clock import DeviceClockMapper, to_wall_clock
from .base import CameraBackend, CameraError

log = logging.getLogger(__name__)

#: Colour resolutions of the Azure Kinect: name -> (pyk4a ColorResolution member, width, height).
COLOR_RESOLUTIONS = {
    "720P": ("RES_720P", 1280, 720),
    "1080P": ("RES_1080P", 1920, 1080),
    "1440P": ("RES_1440P", 2560, 1440),
    "1536P": ("RES_1536P", 2048, 1536),
    "2160P": ("RES_2160P", 3840, 2160),
    "3072P": ("RES_3072P", 4096, 3072),
}
_FPS = {5: "FPS_5", 15: "FPS_15", 30: "FPS_30"}
#: Depth modes (pyk4a DepthMode members) for `depth=True`. NFOV_UNBINNED (640x576, 0.5-3.86 m) is
#: the finest at 30 fps over a table; WFOV_UNBINNED streams at 15 fps at most.
DEPTH_MODES = ("NFOV_2X2BINNED", "NFOV_UNBINNED", "WFOV_2X2BINNED", "WFOV_UNBINNED")

_SDK_HINT = (
    "pyk4a needs the Azure Kinect Sensor SDK (libk4a 1.4 and its depth engine) installed first: "
    "on Ubuntu install Microsoft's k4a-tools and libk4a1.4-dev packages, then "
    "`pip install pyk4a`. For an Orbbec Femto Bolt/Mega install Orbbec's K4A wrapper "
    "(OrbbecSDK-K4A-Wrapper), which provides a compatible libk4a, then pyk4a. See docs/hardware.md."
)
_DEVICE_HINT = (
    "Check that the camera has its own power supply connected, that its USB-C cable is in a USB 3 "
    "port, that the udev rules (99-k4a.rules) are installed so a normal user may open it, and "
    "that no other process (k4aviewer, a ROS Azure Kinect node) holds it."
)


def load_pyk4a():
    """Import pyk4a, turning a missing SDK into an actionable CameraError."""
    try:
        import pyk4a
    except (ImportError, OSError) as err:
        raise CameraError(f"pyk4a is not usable ({err}). {_SDK_HINT}") from err
    return pyk4a


class AzureKinectCamera(CameraBackend):
    """The colour stream of an Azure Kinect as rgb8 frames stamped with their capture time.

    device_id: index of the camera among those connected (0 for the first).
    color_resolution: one of COLOR_RESOLUTIONS ("720P", "1080P", ...).
    fps: 5, 15 or 30 (3072P only up to 15).
    depth: also open the depth camera; frames then carry depth registered to the colour image.
    depth_mode: one of DEPTH_MODES (used only with depth).
    pyk4a_module: the pyk4a module; None imports it.
    """

    def __init__(self, device_id: int = 0, color_resolution: str = "720P", fps: int = 30,
                 depth: bool = False, depth_mode: str = "NFOV_UNBINNED", pyk4a_module=None):
        key = str(color_resolution).upper()
        if key not in COLOR_RESOLUTIONS:
            raise ValueError(f"color_resolution must be one of {sorted(COLOR_RESOLUTIONS)}, "
                             f"got {color_resolution!r}")
        if int(fps) not in _FPS:
            raise ValueError(f"fps must be one of {sorted(_FPS)}, got {fps}")
        if key == "3072P" and int(fps) > 15:
            raise ValueError("the Azure Kinect streams 3072P at 15 fps at most")
        mode = str(depth_mode).upper()
        if mode not in DEPTH_MODES:
            raise ValueError(f"depth_mode must be one of {list(DEPTH_MODES)}, got {depth_mode!r}")
        if depth and mode == "WFOV_UNBINNED" and int(fps) > 15:
            raise ValueError("the Azure Kinect streams WFOV_UNBINNED depth at 15 fps at most")
        self.depth = bool(depth)
        self.depth_mode = mode
        self.device_id = int(device_id)
        self.color_resolution = key
        self.fps = int(fps)
        _, self.width, self.height = COLOR_RESOLUTIONS[key]
        self._k4a_mod = pyk4a_module
        self._device = None
        self._intrinsics: Optional[CameraIntrinsics] = None
        self._clock = DeviceClockMapper()

    def start(self) -> None:
        if self._device is not None:
            return
        k4a = self._k4a_mod or load_pyk4a()
        self._k4a_mod = k4a
        count = getattr(k4a, "connected_device_count", None)
        if count is not None and self.device_id >= count():
            raise CameraError(
                f"Azure Kinect #{self.device_id} is not connected ({count()} found). "
                + _DEVICE_HINT)
        resolution_name = COLOR_RESOLUTIONS[self.color_resolution][0]
        config = k4a.Config(
            color_resolution=getattr(k4a.ColorResolution, resolution_name),
            color_format=k4a.ImageFormat.COLOR_BGRA32,
            depth_mode=(getattr(k4a.DepthMode, self.depth_mode) if self.depth
                        else k4a.DepthMode.OFF),
            camera_fps=getattr(k4a.FPS, _FPS[self.fps]),
            # libk4a refuses synchronised captures when depth is off. With depth on, every
            # capture then holds a colour and a depth image of the same moment.
            synchronized_images_only=self.depth,
        )
        device = k4a.PyK4A(config=config, device_id=self.device_id)
        try:
            device.start()
        except k4a.K4AException as err:
            raise CameraError(
                f"Cannot start Azure Kinect #{self.device_id} (colour {self.color_resolution} @ "
                f"{self.fps} fps): {err or type(err).__name__}. " + _DEVICE_HINT) from err
        try:
            calibration = device.calibration
            K = np.asarray(calibration.get_camera_matrix(k4a.CalibrationType.COLOR), dtype=float)
            dist = calibration.get_distortion_coefficients(k4a.CalibrationType.COLOR)
        except k4a.K4AException as err:
            device.stop()
            raise CameraError(f"Azure Kinect #{self.device_id} gave no colour calibration: "
                              f"{err or type(err).__name__}") from err
        # libk4a's Brown-Conrady model as OpenCV's rational polynomial: k1 k2 p1 p2 k3 k4 k5 k6.
        self._intrinsics = CameraIntrinsics(
            width=self.width, height=self.height, fx=float(K[0, 0]), fy=float(K[1, 1]),
            cx=float(K[0, 2]), cy=float(K[1, 2]), distortion=tuple(float(d) for d in dist))
        self._device = device
        self._clock.reset()
        log.info("Azure Kinect #%d streaming colour %s @ %d fps%s", self.device_id,
                 self.color_resolution, self.fps,
                 f", depth {self.depth_mode}" if self.depth else "")

    def read(self, timeout: float = 1.0) -> CameraFrame:
        device = self._device
        if device is None:
            raise CameraError("the Azure Kinect is not started: call start() first")
        k4a = self._k4a_mod
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            remaining_ms = max(int((deadline - time.monotonic()) * 1000), 0)
            try:
                capture = device.get_capture(timeout=remaining_ms)
            except k4a.K4ATimeoutException as err:
                raise CameraError(
                    f"No frame from Azure Kinect #{self.device_id} within {timeout:.2f} s. "
                    + _DEVICE_HINT) from err
            arrival = time.time()
            bgra = capture.color
            # The registered depth (computed by libk4a on access); None when depth is off.
            depth_mm = capture.transformed_depth if self.depth else None
            if bgra is not None and (depth_mm is not None or not self.depth):
                break
            if time.monotonic() >= deadline:  # incomplete captures (never with depth off)
                raise CameraError(f"Azure Kinect #{self.device_id} gave captures without "
                                  + ("colour and depth" if self.depth else "colour"))
        if bgra.ndim != 3 or bgra.shape != (self.height, self.width, 4):
            raise CameraError(f"unexpected colour image shape {bgra.shape}, expected "
                              f"{(self.height, self.width, 4)} BGRA")
        # BGRA -> RGB: a reversed-channel view, made contiguous by the one copy it needs.
        rgb = np.ascontiguousarray(bgra[:, :, 2::-1])
        depth = None if depth_mm is None else self._depth_metres(depth_mm)
        return CameraFrame(stamp=self._stamp(capture, arrival), rgb=rgb, depth=depth)

    def _depth_metres(self, depth_mm: np.ndarray) -> np.ndarray:
        """uint16 millimetres (0: no reading) -> float32 metres (NaN: no reading)."""
        if depth_mm.shape != (self.height, self.width):
            raise CameraError(f"unexpected registered depth shape {depth_mm.shape}, expected "
                              f"{(self.height, self.width)}")
        return depth_from_millimetres(depth_mm)

    def _stamp(self, capture, arrival: float) -> float:
        system_ns = int(getattr(capture, "color_system_timestamp_nsec", 0) or 0)
        if system_ns > 0:
            arrival = to_wall_clock(system_ns * 1e-9, time.perf_counter)
        return self._clock.to_host(capture.color_timestamp_usec * 1e-6, arrival)

    def intrinsics(self) -> CameraIntrinsics:
        if self._intrinsics is None:
            raise CameraError("intrinsics are known once the camera is started")
        return self._intrinsics

    def stop(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            device.stop()
