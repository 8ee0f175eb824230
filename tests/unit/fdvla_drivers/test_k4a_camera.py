"""AzureKinectCamera against a fake pyk4a (pyk4a and the camera cannot exist here)."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from fdvla_drivers.camera.base import CameraError
from fdvla_drivers.camera.k4a import AzureKinectCamera

from helpers.fakes.fake_pyk4a import ColorResolution, DepthMode, FakeKinect, FPS, ImageFormat, make_pyk4a


def test_opens_colour_only_bgra_at_the_requested_mode():
    kin = FakeKinect()
    cam = AzureKinectCamera(device_id=0, color_resolution="1080p", fps=15,
                            pyk4a_module=make_pyk4a([kin]))
    cam.start()
    cam.stop()
    (_, config), _ = kin.calls
    assert config.color_resolution == ColorResolution.RES_1080P
    assert config.camera_fps == FPS.FPS_15
    assert config.color_format == ImageFormat.COLOR_BGRA32
    assert config.depth_mode == DepthMode.OFF


def test_frames_are_rgb8_converted_from_bgra():
    with AzureKinectCamera(pyk4a_module=make_pyk4a([FakeKinect()])) as cam:
        frame = cam.read(timeout=0.5)
    assert frame.rgb.shape == (720, 1280, 3) and frame.rgb.dtype == np.uint8
    assert frame.rgb.flags.c_contiguous
    np.testing.assert_array_equal(frame.rgb[0, 7], [7, 20, 10])  # R = column, G, B
    np.testing.assert_array_equal(frame.rgb[5, 300], [300 % 256, 20, 10])


def test_depth_off_opens_no_depth_and_frames_carry_none():
    kin = FakeKinect()
    with AzureKinectCamera(pyk4a_module=make_pyk4a([kin])) as cam:
        frame = cam.read(timeout=0.5)
    (_, config), *_ = kin.calls
    assert config.depth_mode == DepthMode.OFF and config.synchronized_images_only is False
    assert frame.depth is None


def test_depth_on_gives_registered_depth_in_metres_with_nan_for_no_reading():
    kin = FakeKinect(depth_base_mm=400, depth_hole_columns=8)
    with AzureKinectCamera(depth=True, pyk4a_module=make_pyk4a([kin])) as cam:
        frame = cam.read(timeout=0.5)
    (_, config), *_ = kin.calls
    assert config.depth_mode == DepthMode.NFOV_UNBINNED
    # Each capture holds colour and depth of one moment.
    assert config.synchronized_images_only is True
    depth = frame.depth
    assert depth.shape == frame.rgb.shape[:2] == (720, 1280) and depth.dtype == np.float32
    assert np.isnan(depth[:, :8]).all()  # 0 mm: no reading
    assert depth[5, 300] == pytest.approx(0.405, abs=1e-6)  # 405 mm
    assert depth[719, 8] == pytest.approx(1.119, abs=1e-6)
    assert np.isfinite(depth[:, 8:]).all()


def test_depth_modes_are_checked():
    kin = FakeKinect()
    with AzureKinectCamera(depth=True, depth_mode="wfov_2x2binned",
                           pyk4a_module=make_pyk4a([kin])):
        pass
    assert kin.calls[0][1].depth_mode == DepthMode.WFOV_2X2BINNED
    with pytest.raises(ValueError, match="depth_mode"):
        AzureKinectCamera(depth=True, depth_mode="NFOV")
    with pytest.raises(ValueError, match="15 fps"):
        AzureKinectCamera(depth=True, depth_mode="WFOV_UNBINNED", fps=30)


def test_intrinsics_from_the_colour_calibration():
    kin = FakeKinect()
    with AzureKinectCamera(pyk4a_module=make_pyk4a([kin])) as cam:
        intr = cam.intrinsics()
    assert (intr.width, intr.height) == (1280, 720)
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (kin.fx, kin.fy, kin.cx, kin.cy)
    assert intr.distortion == pytest.approx(kin.distortion)


def test_stamp_is_the_exposure_time_on_the_wall_clock():
    kin = FakeKinect(frame_age=0.0)
    with AzureKinectCamera(pyk4a_module=make_pyk4a([kin])) as cam:
        first = cam.read()
        assert first.stamp == pytest.approx(time.time(), abs=0.03)
        time.sleep(0.2)
        kin.frame_age = 0.12  # this image waited 120 ms before we got it
        before = time.time()
        frame = cam.read()
    assert frame.stamp == pytest.approx(before - 0.12, abs=0.03)


def test_timeout_is_a_camera_error_and_uses_the_timeout():
    kin = FakeKinect(frames_available=False)
    with AzureKinectCamera(pyk4a_module=make_pyk4a([kin])) as cam:
        with pytest.raises(CameraError, match="No frame"):
            cam.read(timeout=0.25)
    (_, timeout_ms), = [c for c in kin.calls if c[0] == "get_capture"]
    assert 0 < timeout_ms <= 250


def test_device_that_cannot_open_says_what_to_check():
    with pytest.raises(CameraError, match="power supply"):
        AzureKinectCamera(pyk4a_module=make_pyk4a([FakeKinect(openable=False)])).start()
    with pytest.raises(CameraError, match="#1 is not connected"):
        AzureKinectCamera(device_id=1, pyk4a_module=make_pyk4a([FakeKinect()])).start()


def test_stop_is_safe_twice_and_read_after_stop_fails():
    kin = FakeKinect()
    cam = AzureKinectCamera(pyk4a_module=make_pyk4a([kin]))
    cam.start()
    cam.stop()
    cam.stop()
    assert [c for c in kin.calls if c[0] == "stop"] == [("stop",)]
    with pytest.raises(CameraError, match="not started"):
        cam.read()


def test_invalid_modes_are_rejected():
    with pytest.raises(ValueError, match="color_resolution"):
        AzureKinectCamera(color_resolution="4K")
    with pytest.raises(ValueError, match="fps"):
        AzureKinectCamera(fps=60)
    with pytest.raises(ValueError, match="15 fps"):
        AzureKinectCamera(color_resolution="3072P", fps=30)


def test_missing_pyk4a_names_the_sdk_and_the_femto_bolt_wrapper(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyk4a", None)
    with pytest.raises(CameraError) as info:
        AzureKinectCamera().start()
    text = str(info.value)
    assert "Azure Kinect Sensor SDK" in text and "libk4a" in text
    assert "Femto Bolt" in text and "K4A wrapper" in text
