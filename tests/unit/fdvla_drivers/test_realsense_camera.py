"""RealSenseCamera against a fake pyrealsense2 (no USB camera here)."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from fdvla_drivers.camera.base import CameraError
from fdvla_drivers.camera.realsense import RealSenseCamera

from helpers.fakes import fake_pyrealsense2 as fake
from helpers.fakes.fake_pyrealsense2 import FakeDevice, make_pyrealsense2


def test_fake_names_exist_in_pyrealsense2():
    import pyrealsense2 as rs

    for enum_cls in (fake.stream, fake.format, fake.option, fake.camera_info,
                     fake.timestamp_domain, fake.distortion):
        real = getattr(rs, enum_cls.__name__)
        for member in enum_cls:
            assert hasattr(real, member.name), f"rs.{enum_cls.__name__}.{member.name}"
    mod = make_pyrealsense2([])
    for cls_name in ("sensor", "device", "context", "config", "intrinsics",
                     "video_stream_profile", "pipeline_profile", "video_frame",
                     "composite_frame", "pipeline"):
        real_cls = getattr(rs, cls_name)
        fake_cls = getattr(mod, cls_name)
        for name, value in vars(fake_cls).items():
            if callable(value) and not name.startswith("_"):
                assert hasattr(real_cls, name), f"rs.{cls_name}.{name} does not exist"


def test_streams_rgb8_colour_from_the_selected_d405():
    devices = [FakeDevice(serial="111"), FakeDevice(serial="222")]
    rs = make_pyrealsense2(devices)
    cam = RealSenseCamera(serial="222", width=640, height=480, fps=30, rs_module=rs)
    cam.start()
    try:
        start = next(c for c in rs.calls if c[0] == "start")
        assert start == ("start", "222", ((fake.stream.color, 640, 480, fake.format.rgb8, 30),))
        assert devices[1].options[fake.option.global_time_enabled] == 1.0
        frame = cam.read(timeout=0.5)
        assert frame.rgb.shape == (480, 640, 3) and frame.rgb.dtype == np.uint8
        assert frame.rgb[0, 5, 0] == 5 and frame.rgb[7, 0, 1] == 7  # channels not swapped
        assert frame.rgb.flags.c_contiguous and frame.rgb.flags.owndata
        assert ("try_wait_for_frames", 500) in rs.calls
    finally:
        cam.stop()


def test_intrinsics_come_from_the_stream_profile():
    dev = FakeDevice()
    cam = RealSenseCamera(rs_module=make_pyrealsense2([dev]))
    with pytest.raises(CameraError):
        cam.intrinsics()
    with cam:
        intr = cam.intrinsics()
    assert (intr.width, intr.height) == (848, 480)
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (dev.fx, dev.fy, dev.ppx, dev.ppy)
    assert intr.distortion == dev.coeffs


def test_global_time_stamp_is_the_capture_time():
    dev = FakeDevice(domain=fake.timestamp_domain.global_time, frame_age=0.04)
    with RealSenseCamera(rs_module=make_pyrealsense2([dev])) as cam:
        before = time.time()
        frame = cam.read()
    assert frame.stamp == pytest.approx(before - 0.04, abs=0.02)


def test_hardware_clock_is_mapped_to_the_host_clock():
    dev = FakeDevice(domain=fake.timestamp_domain.hardware_clock, frame_age=0.0)
    with RealSenseCamera(rs_module=make_pyrealsense2([dev])) as cam:
        cam.read()  # a fresh frame calibrates the offset
        time.sleep(0.2)
        dev.frame_age = 0.1  # this one waited 100 ms in the queue
        before = time.time()
        frame = cam.read()
    assert frame.stamp == pytest.approx(before - 0.1, abs=0.03)


def test_timeout_is_a_camera_error():
    dev = FakeDevice(frames_available=False)
    with RealSenseCamera(rs_module=make_pyrealsense2([dev])) as cam:
        with pytest.raises(CameraError, match="No frame"):
            cam.read(timeout=0.05)


def test_unsupported_mode_names_the_valid_ones():
    cam = RealSenseCamera(width=1920, height=1080, rs_module=make_pyrealsense2([FakeDevice()]))
    with pytest.raises(CameraError, match="848x480"):
        cam.start()


def test_device_selection_errors():
    with pytest.raises(CameraError, match="No RealSense camera is connected"):
        RealSenseCamera(rs_module=make_pyrealsense2([])).start()
    two = [FakeDevice(serial="111"), FakeDevice(serial="222")]
    with pytest.raises(CameraError, match="111, 222"):
        RealSenseCamera(rs_module=make_pyrealsense2(two)).start()
    with pytest.raises(CameraError, match="serial 333"):
        RealSenseCamera(serial="333", rs_module=make_pyrealsense2(two)).start()


def test_stop_is_safe_twice():
    rs = make_pyrealsense2([FakeDevice()])
    cam = RealSenseCamera(rs_module=rs)
    cam.start()
    cam.stop()
    cam.stop()
    assert [c for c in rs.calls if c[0] == "stop"] == [("stop",)]
    with pytest.raises(CameraError, match="not started"):
        cam.read()


def test_missing_pyrealsense2_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyrealsense2", None)
    with pytest.raises(CameraError, match="pip install"):
        RealSenseCamera().start()


class _NoLibusb:
    """An import hook behaving like pyrealsense2 on a machine without libusb."""

    def find_spec(self, name, path=None, target=None):
        if name == "pyrealsense2":
            raise ImportError("libusb-1.0.so.0: cannot open shared object file: "
                              "No such file or directory")
        return None


def test_missing_libusb_says_which_package_to_install(monkeypatch):
    monkeypatch.delitem(sys.modules, "pyrealsense2", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoLibusb(), *sys.meta_path])
    with pytest.raises(CameraError, match="apt-get install libusb-1.0-0"):
        RealSenseCamera().start()
