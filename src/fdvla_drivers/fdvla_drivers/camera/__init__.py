"""Camera backends behind one interface (`CameraBackend`)."""

from fdvla_drivers.camera.base import CameraBackend, CameraError

__all__ = ["CameraBackend", "CameraError", "make_camera_backend"]


def make_camera_backend(kind: str, **kwargs) -> CameraBackend:
    """Build a camera backend by name: 'sim', 'realsense' or 'k4a'. Vendor SDKs load lazily."""
    if kind == "sim":
        from fdvla_drivers.camera.sim_camera import SimCamera

        return SimCamera(**kwargs)
    if kind == "realsense":
        from fdvla_drivers.camera.realsense import RealSenseCamera

        return RealSenseCamera(**kwargs)
    if kind == "k4a":
        from fdvla_drivers.camera.k4a import AzureKinectCamera

        return AzureKinectCamera(**kwargs)
    raise ValueError(f"unknown camera backend {kind!r}; expected 'sim', 'realsense' or 'k4a'")
