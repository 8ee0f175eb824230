"""Pinhole geometry of the contract's colour cameras: a point in `base` to a pixel, and a pixel
with a depth image back to a point in `base` (ROS-free; numpy only). Here, below the drivers and
the model, because both need it: the camera nodes publish the calibration it reads, the pointing
localiser is trained and lifted with it.

Conventions. The camera's pose `T_base_camera` (a 4x4 homogeneous matrix or a `Pose`) is the pose
of its *optical* frame in `base`: x right, y down, z forward along the optical axis (REP-103's
`*_optical_frame`, the frame the camera topics are stamped in). Pixel (u, v) is column u, row v,
with integer values at pixel centres, as `CameraIntrinsics` (cx = (W - 1) / 2 for a centred
simulated camera). Depth images are z-depth in metres aligned to the colour image, NaN where there
is no reading (`CameraFrame.depth`). Lens distortion, where the intrinsics have any (5 plumb_bob or
8 rational_polynomial coefficients, OpenCV's order), is applied on projection and removed on
lifting, so a pixel of the raw colour image lifts to the right ray.
"""

from __future__ import annotations

import numpy as np

from fdvla_msgs.types import CameraIntrinsics, Pose

def _matrix(T_base_camera) -> np.ndarray:
    T = T_base_camera.as_matrix() if isinstance(T_base_camera, Pose) else \
        np.asarray(T_base_camera, dtype=float)
    if T.shape != (4, 4):
        raise ValueError(f"T_base_camera must be a 4x4 matrix or a Pose, got shape {T.shape}")
    return T


def _coefficients(k: CameraIntrinsics) -> np.ndarray | None:
    """k1 k2 p1 p2 k3 k4 k5 k6 (zeros where the model has fewer), or None without distortion."""
    d = np.asarray(k.distortion, dtype=float).reshape(-1)
    if d.size not in (0, 4, 5, 8):
        raise ValueError(f"{d.size} distortion coefficients: expected 5 (plumb_bob) or 8 "
                         "(rational_polynomial)")
    if not d.any():
        return None
    return np.concatenate([d, np.zeros(8 - d.size)])


def _distortion_terms(x, y, c):
    """Radial factor and tangential offset of normalised coordinates (x, y) (OpenCV's model)."""
    k1, k2, p1, p2, k3, k4, k5, k6 = c
    r2 = x * x + y * y
    radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
    dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return radial, dx, dy


def project_point(p_base, intrinsics: CameraIntrinsics, T_base_camera) -> tuple[float, float]:
    """Pixel (u, v) at which the point `p_base` (3,) metres in `base` appears; it may lie outside
    the image (the caller decides). ValueError for a point not in front of the camera."""
    T = _matrix(T_base_camera)
    p = T[:3, :3].T @ (np.asarray(p_base, dtype=float).reshape(3) - T[:3, 3])
    if p[2] <= 0.0:
        raise ValueError(f"point {np.round(p_base, 4).tolist()} is not in front of the camera "
                         f"(z = {p[2]:.4f} m in its optical frame)")
    x, y = p[0] / p[2], p[1] / p[2]
    c = _coefficients(intrinsics)
    if c is not None:
        radial, dx, dy = _distortion_terms(x, y, c)
        x, y = x * radial + dx, y * radial + dy
    k = intrinsics
    return float(k.fx * x + k.cx), float(k.fy * y + k.cy)


def pixel_ray(u: float, v: float, intrinsics: CameraIntrinsics) -> np.ndarray:
    """(x, y, 1) in the optical frame: the direction through pixel (u, v) scaled to unit z, so
    z-depth times it is the point."""
    k = intrinsics
    xd, yd = (u - k.cx) / k.fx, (v - k.cy) / k.fy
    x, y = xd, yd
    c = _coefficients(k)
    if c is not None:
        # Fixed-point inversion of the distortion (OpenCV's undistortPoints does the same); it
        # converges within the image for lenses like the Azure Kinect's colour camera.
        for _ in range(50):
            radial, dx, dy = _distortion_terms(x, y, c)
            x_new, y_new = (xd - dx) / radial, (yd - dy) / radial
            done = abs(x_new - x) < 1e-12 and abs(y_new - y) < 1e-12
            x, y = x_new, y_new
            if done:
                break
    return np.array([x, y, 1.0])


def lift_pixel(u: float, v: float, depth_image: np.ndarray, intrinsics: CameraIntrinsics,
               T_base_camera, window: int = 5) -> np.ndarray:
    """The point (3,) in `base`, metres, seen at pixel (u, v) of a depth image aligned to the
    colour image (z-depth, metres, NaN or 0 where there is no reading).

    The depth is the median of the valid readings in a `window` x `window` neighbourhood of the
    pixel, so one missing or noisy reading does not decide it; at an object's edge the median
    takes the side with more of the window. ValueError for a pixel outside the image or a window
    without a valid reading."""
    k = intrinsics
    depth = np.asarray(depth_image)
    if depth.shape != (k.height, k.width):
        raise ValueError(f"depth image is {depth.shape}, the intrinsics' image "
                         f"{(k.height, k.width)}")
    col, row = int(round(float(u))), int(round(float(v)))
    if not (0 <= col < k.width and 0 <= row < k.height):
        raise ValueError(f"pixel ({u:.1f}, {v:.1f}) is outside the {k.width}x{k.height} image")
    half = max(int(window), 1) // 2
    patch = depth[max(row - half, 0):row + half + 1, max(col - half, 0):col + half + 1]
    valid = patch[np.isfinite(patch) & (patch > 0)]
    if valid.size == 0:
        raise ValueError(f"no valid depth within {half} px of pixel ({u:.1f}, {v:.1f})")
    z = float(np.median(valid))
    T = _matrix(T_base_camera)
    return T[:3, :3] @ (z * pixel_ray(u, v, k)) + T[:3, 3]


def calibration_to_dict(intrinsics: CameraIntrinsics, T_base_camera) -> dict:
    """A camera's calibration as datasets store it (episode.json `extra.calibration.<camera>`):
    {"intrinsics": {width, height, fx, fy, cx, cy, distortion}, "pose_in_base": [x, y, z, qx,
    qy, qz, qw]} of the optical frame."""
    k = intrinsics
    return {"intrinsics": {"width": int(k.width), "height": int(k.height), "fx": float(k.fx),
                           "fy": float(k.fy), "cx": float(k.cx), "cy": float(k.cy),
                           "distortion": [float(v) for v in k.distortion]},
            "pose_in_base": Pose.from_matrix(_matrix(T_base_camera)).as_vector().tolist()}


def calibration_from_dict(d: dict) -> tuple[CameraIntrinsics, np.ndarray]:
    """(intrinsics, 4x4 pose of the optical frame in base) from `calibration_to_dict`'s form;
    ValueError if malformed."""
    try:
        k = d["intrinsics"]
        intrinsics = CameraIntrinsics(int(k["width"]), int(k["height"]), float(k["fx"]),
                                      float(k["fy"]), float(k["cx"]), float(k["cy"]),
                                      tuple(float(v) for v in k.get("distortion") or ()))
        v = [float(x) for x in d["pose_in_base"]]
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"malformed camera calibration ({type(e).__name__}: {e})") from None
    if len(v) != 7:
        raise ValueError(f"pose_in_base has {len(v)} values, not 7")
    return intrinsics, Pose(v[:3], v[3:]).as_matrix()
