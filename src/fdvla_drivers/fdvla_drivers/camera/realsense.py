"""Intel RealSense colour camera (the D405 on the wrist) over pyrealsense2.

The D405 has no separate RGB sensor: its colour image comes from the stereo (depth) module's
left imager, exposed as `rs.stream.color`. Asking the pipeline for `rs.stream.color` in rgb8 works
on it as on any D400, so nothing here is D405-specific except the defaults (848x480 @ 30 Hz is one
of its native colour modes).

Stamps: with the sensors' `global_time_enabled` option on (the default; set again here), frames
are stamped in the GLOBAL_TIME domain: the device's hardware clock translated by librealsense to
the host's system clock, in ms, i.e. `time.time()` * 1000 at the moment the frame was captured.
In the HARDWARE_CLOCK domain the device clock is mapped onto the host clock here; in SYSTEM_TIME
(no frame metadata) the stamp is the host arrival time, later than the capture by the transfer.
"""

from __future__ import annotations

import logging
import time
from typing import Optional

import numpy as np

from fdvla_msgs.types import CameraFrame, CameraIntrinsics

from ..device_clock import DeviceClockMapper
from .base import CameraBackend, CameraError

log = logging.getLogger(__name__)

_UDEV_HINT = (
    "Check the USB-C cable is in a USB 3 port (`lsusb` lists 8086:0b5b for a D405), that the "
    "RealSense udev rules are installed (99-realsense-libusb.rules, see docs/hardware.md) and "
    "that no other process (realsense-viewer, a ROS realsense2_camera node) holds the camera."
)


def load_pyrealsense2():
    """Import pyrealsense2, turning a missing library into an actionable CameraError."""
    try:
        import pyrealsense2 as rs
    except ImportError as err:
        if "libusb" in str(err):
            raise CameraError(
                f"pyrealsense2 cannot load libusb ({err}): install it with "
                "`sudo apt-get install libusb-1.0-0`.") from err
        raise CameraError(
            f"pyrealsense2 is not importable ({err}): install it with "
            "`pip install -r requirements/hardware.txt`.") from err
    return rs


class RealSenseCamera(CameraBackend):
    """The colour stream of a RealSense camera, as rgb8 frames stamped with their capture time.

    serial: the camera's serial number (printed on it; `rs-enumerate-devices -s` lists them);
        None takes the only camera connected and refuses to guess between several.
    rs_module: the pyrealsense2 module; None imports it.
    """

    def __init__(self, serial: Optional[str] = None, width: int = 848, height: int = 480,
                 fps: int = 30, rs_module=None):
        self.serial = None if serial is None else str(serial)
        self.width, self.height, self.fps = int(width), int(height), int(fps)
        self._rs = rs_module
        self._pipeline = None
        self._intrinsics: Optional[CameraIntrinsics] = None
        self._clock = DeviceClockMapper()
        self._warned_system_time = False
        self.device_name: Optional[str] = None

    def start(self) -> None:
        if self._pipeline is not None:
            return
        rs = self._rs or load_pyrealsense2()
        self._rs = rs
        context = rs.context()
        device = self._find_device(rs, context)
        serial = device.get_info(rs.camera_info.serial_number)
        self.device_name = device.get_info(rs.camera_info.name)
        for sensor in device.query_sensors():
            if sensor.supports(rs.option.global_time_enabled):
                sensor.set_option(rs.option.global_time_enabled, 1.0)

        config = rs.config()
        config.enable_device(serial)
        config.enable_stream(rs.stream.color, self.width, self.height, rs.format.rgb8, self.fps)
        pipeline = rs.pipeline(context)
        try:
            profile = pipeline.start(config)
        except RuntimeError as err:
            raise CameraError(
                f"{self.device_name} {serial} cannot stream colour {self.width}x{self.height} rgb8 "
                f"@ {self.fps} Hz: {err}. The D405 streams colour at 1280x720, 848x480, 640x480, "
                "640x360, 480x270 or 424x240 and 5/15/30/60/90 Hz (not every pair; "
                "`rs-enumerate-devices` lists them). " + _UDEV_HINT) from err
        intr = profile.get_stream(rs.stream.color).as_video_stream_profile().get_intrinsics()
        self._intrinsics = CameraIntrinsics(
            width=int(intr.width), height=int(intr.height), fx=float(intr.fx), fy=float(intr.fy),
            cx=float(intr.ppx), cy=float(intr.ppy),
            distortion=tuple(float(c) for c in intr.coeffs))
        self._pipeline = pipeline
        self._clock.reset()
        log.info("%s %s streaming colour %dx%d @ %d Hz", self.device_name, serial,
                 self.width, self.height, self.fps)

    def _find_device(self, rs, context):
        devices = list(context.query_devices())
        serials = [d.get_info(rs.camera_info.serial_number) for d in devices]
        if not devices:
            raise CameraError("No RealSense camera is connected. " + _UDEV_HINT)
        if self.serial is None:
            if len(devices) > 1:
                raise CameraError(
                    f"{len(devices)} RealSense cameras are connected ({', '.join(serials)}): "
                    "set the serial of the one to use.")
            return devices[0]
        if self.serial not in serials:
            raise CameraError(
                f"No RealSense camera with serial {self.serial}; connected: "
                f"{', '.join(serials)}. " + _UDEV_HINT)
        return devices[serials.index(self.serial)]

    def read(self, timeout: float = 1.0) -> CameraFrame:
        if self._pipeline is None:
            raise CameraError("the RealSense camera is not started: call start() first")
        ok, frames = self._pipeline.try_wait_for_frames(int(max(timeout, 0.0) * 1000))
        arrival = time.time()
        if not ok:
            raise CameraError(
                f"No frame from the RealSense camera within {timeout:.2f} s. " + _UDEV_HINT)
        color = frames.get_color_frame()
        if not color:
            raise CameraError("the RealSense frameset holds no colour frame")
        # The frame's buffer goes back to librealsense's pool when `color` is released, so the
        # pixels must be copied once; that copy is the only one.
        rgb = np.array(color.get_data(), dtype=np.uint8, copy=True)
        if rgb.shape != (self.height, self.width, 3):
            raise CameraError(f"unexpected colour frame shape {rgb.shape}, expected "
                              f"{(self.height, self.width, 3)} rgb8")
        return CameraFrame(stamp=self._stamp(color, arrival), rgb=rgb)

    def _stamp(self, frame, arrival: float) -> float:
        domain = frame.get_frame_timestamp_domain()
        seconds = float(frame.get_timestamp()) / 1000.0
        rs = self._rs
        if domain == rs.timestamp_domain.global_time:
            return seconds
        if domain == rs.timestamp_domain.hardware_clock:
            return self._clock.to_host(seconds, arrival)
        if not self._warned_system_time:
            log.warning("RealSense frames carry no metadata (timestamp domain %s): stamps are "
                        "host arrival times, late by the USB transfer", domain)
            self._warned_system_time = True
        return seconds

    def intrinsics(self) -> CameraIntrinsics:
        if self._intrinsics is None:
            raise CameraError("intrinsics are known once the camera is started")
        return self._intrinsics

    def stop(self) -> None:
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            pipeline.stop()
