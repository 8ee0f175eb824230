"""Pinhole geometry (fdvla_msgs.camera_geometry) on synthetic numbers: projection and lifting
are inverses, lifting tolerates missing and stray depth readings, and says why it cannot lift."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from fdvla_msgs.camera_geometry import lift_pixel, pixel_ray, project_point
from fdvla_msgs.types import CameraIntrinsics, Pose

PINHOLE = CameraIntrinsics.from_fovy(64, 48, 60.0)
#: An Azure Kinect colour calibration (rational polynomial, 8 coefficients), at 1280x720.
KINECT = CameraIntrinsics(1280, 720, 612.6, 612.4, 638.1, 366.9,
                          (0.51, -2.61, 0.0007, -0.0002, 1.46, 0.39, -2.44, 1.39))
#: A camera 1 m up and 0.5 m back, looking down and forward at the table.
T_BASE_CAMERA = Pose([-0.5, 0.1, 1.0], Rotation.from_euler("xyz", [-2.3, 0.1, -1.5])
                     .as_quat()).as_matrix()


def _pixels(k: CameraIntrinsics, n: int, seed: int = 0) -> np.ndarray:
    """n random pixels of the image, and its four corners (where the lens distorts most)."""
    rng = np.random.default_rng(seed)
    uv = rng.uniform(0.0, 1.0, (n, 2)) * [k.width - 1, k.height - 1]
    return np.vstack([uv, [[0, 0], [k.width - 1, 0], [0, k.height - 1],
                           [k.width - 1, k.height - 1]]])


def _points_in_view(k: CameraIntrinsics, n: int, seed: int = 0):
    """(pixel, point in base) pairs: what the camera sees at each pixel at 0.4-2 m depth."""
    rng = np.random.default_rng(seed + 1)
    for (u, v), z in zip(_pixels(k, n, seed), rng.uniform(0.4, 2.0, n + 4)):
        yield (u, v), T_BASE_CAMERA[:3, :3] @ (z * pixel_ray(u, v, k)) + T_BASE_CAMERA[:3, 3]


def _z_depth(p_base) -> float:
    return float((T_BASE_CAMERA[:3, :3].T @ (p_base - T_BASE_CAMERA[:3, 3]))[2])


@pytest.mark.parametrize("k", [PINHOLE, KINECT], ids=["pinhole", "kinect_distortion"])
def test_project_then_lift_gives_the_point_back(k):
    for pixel, p in _points_in_view(k, 20):
        uv = project_point(p, k, T_BASE_CAMERA)
        assert uv == pytest.approx(pixel, abs=1e-6)
        # A depth image of the plane through p facing the camera: z-depth is p's everywhere.
        depth = np.full((k.height, k.width), _z_depth(p), dtype=np.float64)
        np.testing.assert_allclose(lift_pixel(*uv, depth, k, T_BASE_CAMERA), p, atol=1e-9)


def test_lens_distortion_is_applied():
    """The same point lands elsewhere with the Kinect's lens than through an ideal one, by the
    tens of pixels that a corner of its 90-degree image is distorted."""
    ideal = CameraIntrinsics(1280, 720, KINECT.fx, KINECT.fy, KINECT.cx, KINECT.cy)
    p = T_BASE_CAMERA[:3, :3] @ np.array([0.6, 0.3, 1.0]) + T_BASE_CAMERA[:3, 3]
    distorted, straight = (np.array(project_point(p, k, T_BASE_CAMERA)) for k in (KINECT, ideal))
    assert np.linalg.norm(distorted - straight) > 10


@pytest.mark.parametrize("coefficients, xy, expected", [
    ((0.1, 0, 0, 0, 0), (0.5, 0.0), (0.5 * (1 + 0.1 * 0.25), 0.0)),  # k1: x (1 + k1 r^2)
    ((0, 0, 0, 0, 0.1), (0.5, 0.5), (0.5 * (1 + 0.1 * 0.125), 0.5 * (1 + 0.1 * 0.125))),  # k3
    ((0, 0, 0, 0, 0, 0.2, 0, 0), (0.5, 0.0), (0.5 / (1 + 0.2 * 0.25), 0.0)),  # k4 divides
    # p1: x + 2 p1 x y, y + p1 (r^2 + 2 y^2); p2 the other way round
    ((0, 0, 0.01, 0, 0), (0.2, 0.4), (0.2 + 0.0016, 0.4 + 0.01 * (0.2 + 0.32))),
    ((0, 0, 0, 0.01, 0), (0.2, 0.4), (0.2 + 0.01 * (0.2 + 0.08), 0.4 + 0.0016)),
])
def test_distortion_coefficients_in_opencv_order(coefficients, xy, expected):
    k = CameraIntrinsics(640, 480, 500.0, 400.0, 320.0, 240.0, coefficients)
    T = np.eye(4)  # optical frame = base: the point (x, y, 1) has normalised coordinates (x, y)
    u, v = project_point([xy[0], xy[1], 1.0], k, T)
    assert (u, v) == pytest.approx((500.0 * expected[0] + 320.0, 400.0 * expected[1] + 240.0))
    np.testing.assert_allclose(pixel_ray(u, v, k), [xy[0], xy[1], 1.0], atol=1e-9)


def test_pose_accepted_as_a_pose_or_a_matrix():
    _, p = next(_points_in_view(PINHOLE, 1))
    assert project_point(p, PINHOLE, Pose.from_matrix(T_BASE_CAMERA)) == \
        pytest.approx(project_point(p, PINHOLE, T_BASE_CAMERA))


def test_lift_takes_the_median_of_the_window_past_holes_and_strays():
    k, u, v = PINHOLE, 30, 20
    depth = np.full((k.height, k.width), 1.0, dtype=np.float32)
    depth[v, u] = np.nan  # no reading at the pixel itself
    depth[v - 1, u] = 0.0  # a Kinect's "no reading"
    depth[v + 1, u + 1] = 7.5  # a stray reading
    expected = T_BASE_CAMERA[:3, :3] @ pixel_ray(u, v, k) + T_BASE_CAMERA[:3, 3]
    np.testing.assert_allclose(lift_pixel(u, v, depth, k, T_BASE_CAMERA), expected, atol=1e-9)


def test_lift_refuses_pixels_outside_the_image_and_windows_without_depth():
    k = PINHOLE
    depth = np.full((k.height, k.width), 1.0, dtype=np.float32)
    for u, v in ((-1, 10), (k.width, 10), (10, -0.6), (10, k.height - 0.4)):
        with pytest.raises(ValueError, match="outside"):
            lift_pixel(u, v, depth, k, T_BASE_CAMERA)
    depth[5:14, 5:14] = np.nan
    depth[9, 9] = 0.0
    with pytest.raises(ValueError, match="no valid depth"):
        lift_pixel(9, 9, depth, k, T_BASE_CAMERA)
    # A window at the image's edge is cut to the image, not refused.
    corner = lift_pixel(0, 0, depth, k, T_BASE_CAMERA)
    assert _z_depth(corner) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="depth image"):
        lift_pixel(3, 3, depth[:, :-1], k, T_BASE_CAMERA)


def test_project_refuses_a_point_behind_the_camera():
    behind = T_BASE_CAMERA[:3, :3] @ np.array([0.0, 0.0, -0.5]) + T_BASE_CAMERA[:3, 3]
    with pytest.raises(ValueError, match="not in front"):
        project_point(behind, PINHOLE, T_BASE_CAMERA)
