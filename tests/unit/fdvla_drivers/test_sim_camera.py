"""Offscreen cameras of the simulated cell."""

import numpy as np
import pytest

from fdvla_msgs.types import Pose
from fdvla_drivers.camera import make_camera_backend
from fdvla_drivers.camera.base import CameraBackend
from fdvla_drivers.robot.sim_backend import SimRobotBackend


@pytest.fixture(scope="module")
def backend():
    b = SimRobotBackend("button", seed=1, realtime=False)
    b.connect()
    return b


def test_lockstep_frames_are_stamped_with_sim_time_and_track_the_robot(backend):
    cam = make_camera_backend("sim", backend=backend, camera="wrist", width=160, height=120)
    assert isinstance(cam, CameraBackend)
    with cam:
        first = cam.read()
        assert first.rgb.shape == (120, 160, 3) and first.rgb.dtype == np.uint8
        assert first.stamp == pytest.approx(backend.now())
        assert first.rgb.std() > 5  # an actual scene, not a blank buffer
        start = backend.read_state().tcp_pose
        target = Pose(start.position + [0.0, 0.0, -0.08], start.quat_xyzw)
        for _ in range(400):
            t = backend.begin_cycle()
            backend.servo_tcp(target)
            backend.end_cycle(t)
        second = cam.read()
    assert second.stamp == pytest.approx(first.stamp + 0.8)
    # The wrist camera moved 8 cm closer to the table: its image changed.
    assert np.abs(second.rgb.astype(int) - first.rgb.astype(int)).mean() > 5


def test_intrinsics_follow_the_model_fovy(backend):
    cam = make_camera_backend("sim", backend=backend, camera="scene", width=320, height=240)
    k = cam.intrinsics()
    fovy = backend.model.cam_fovy[backend.model.camera("scene").id]
    assert k.width == 320 and k.height == 240
    assert 2 * np.degrees(np.arctan(0.5 * 240 / k.fy)) == pytest.approx(fovy)


def test_unknown_camera_is_rejected(backend):
    with pytest.raises(ValueError):
        make_camera_backend("sim", backend=backend, camera="ceiling")


def test_realtime_camera_delivers_new_frames():
    b = SimRobotBackend("plug", realtime=True)
    b.connect()
    cam = make_camera_backend("sim", backend=b, camera="scene", width=160, height=120, fps=15)
    try:
        cam.start()
        f1 = cam.read(timeout=5.0)
        f2 = cam.read(timeout=5.0)
        assert f2.stamp > f1.stamp
        assert f1.rgb.shape == (120, 160, 3)
    finally:
        cam.stop()
        b.close()


def _lit_ring_pixels(rgb: np.ndarray) -> np.ndarray:
    """Mask of the button's lit status ring (bright blue; nothing else in the cell is)."""
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    return (b > 180) & (b - r > 80)


def test_latched_button_lights_its_ring_in_both_render_paths():
    """Seeded press: at the same pose above the button, the wrist image shows the lit status ring
    after the latch and not before, both from the cell itself and from the shared-memory snapshot
    the real-time camera processes render from."""
    import os

    from fdvla_drivers.sim.shared_snapshot import SharedCellView, segment_name, unlink
    from fdvla_drivers.camera.sim_camera import SimCamera
    from helpers.sim_servo import servo_to

    name = segment_name(os.getpid(), "lamp")
    b = SimRobotBackend("button", seed=11, realtime=False)
    b.publish_snapshots(name)
    view = SharedCellView(name, timeout=5)
    cams = {"direct": SimCamera(b, "wrist", 128, 96), "shared": SimCamera(view, "wrist", 128, 96)}
    try:
        top = b.task.cap_top()
        rot = b.read_state().tcp_pose.quat_xyzw
        above = Pose(top + [0, 0, 0.03], rot)
        servo_to(b, above, 1.0)
        before = {k: c.render().rgb for k, c in cams.items()}
        servo_to(b, Pose(top - [0, 0, 0.022], rot), 1.5)
        assert b.task.success()
        servo_to(b, above, 0.8)
        after = {k: c.render().rgb for k, c in cams.items()}
    finally:
        for c in cams.values():
            c._close_renderer()
        view.close()
        b.close()
    assert not unlink(name)
    for path in cams:
        assert not _lit_ring_pixels(before[path]).any()
        ring = _lit_ring_pixels(after[path])
        assert ring.mean() > 0.03  # a ring of a few hundred pixels at 128x96
        diff = np.abs(after[path].astype(int) - before[path].astype(int)).sum(-1)
        assert diff[ring].mean() > 150  # the indicator region changed colour
    np.testing.assert_array_equal(after["direct"], after["shared"])
    np.testing.assert_array_equal(before["direct"], before["shared"])
