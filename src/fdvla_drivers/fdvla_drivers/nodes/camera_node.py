"""Publishes one camera's colour stream (Image rgb8 + CameraInfo) stamped with sampling time, and
with `depth` its registered depth (Image 32FC1, metres; the camera backend must give it). A camera
mounted in the cell also publishes its extrinsic calibration, latched: the setup's
`pose_in_base` (x y z qx qy qz qw of its optical frame in `base`), else what the backend knows
(a simulated camera's pose)."""

from __future__ import annotations

import threading

from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from fdvla_drivers.camera.base import CameraBackend
from fdvla_drivers.nodes.common import DiagnosticsMixin, RateMeter
from fdvla_msgs import conversions as conv
from fdvla_msgs import qos, topics
from fdvla_msgs.types import Pose


class CameraNode(DiagnosticsMixin, Node):
    def __init__(self, camera: CameraBackend, name: str, fps: float = 30.0,
                 node_name: str | None = None, depth: bool = False, pose_in_base=None,
                 **node_kwargs):
        super().__init__(node_name or f"{name}_camera", **node_kwargs)
        self.camera = camera
        self.name = name
        self.fps = float(fps)
        self.frame_id = topics.camera_frame(name)
        self.pub_image = self.create_publisher(Image, topics.camera_image_topic(name),
                                               qos.SENSOR_PUB)
        self.pub_info = self.create_publisher(CameraInfo, topics.camera_info_topic(name),
                                              qos.SENSOR_PUB)
        # Off by default: no topic, no conversion, no bytes on the wire.
        self.pub_depth = (self.create_publisher(Image, topics.camera_depth_topic(name),
                                                qos.SENSOR_PUB) if depth else None)
        self.pub_extrinsics = self.create_publisher(
            PoseStamped, topics.camera_extrinsics_topic(name), qos.LATCHED)
        self.calibrated_pose = None if pose_in_base is None else Pose(list(pose_in_base)[:3],
                                                                      list(pose_in_base)[3:])
        self.meter = RateMeter()
        self.errors = 0
        self.last_error = ""
        self._stop = threading.Event()
        self._info_template = None
        self.setup_diagnostics()
        self._thread = threading.Thread(target=self._run, name=f"camera-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                frame = self.camera.read(timeout=1.0)
            except Exception as e:
                self.errors += 1
                self.last_error = f"{type(e).__name__}: {e}"
                self._stop.wait(0.5)
                continue
            if self._info_template is None:
                self._info_template = self.camera.intrinsics()
                self._publish_extrinsics(frame.stamp)
            self.pub_image.publish(conv.image_to_msg(frame.rgb, frame.stamp, self.frame_id))
            if self.pub_depth is not None and frame.depth is not None:
                # Registered to the colour image: its frame and camera_info.
                self.pub_depth.publish(conv.depth_to_msg(frame.depth, frame.stamp,
                                                         self.frame_id))
            self.pub_info.publish(conv.camera_info_to_msg(self._info_template, frame.stamp,
                                                          self.frame_id))
            self.meter.tick()

    def _publish_extrinsics(self, stamp: float) -> None:
        pose = self.calibrated_pose
        if pose is None:
            mounted = self.camera.mounted_pose()
            pose = None if mounted is None else Pose.from_matrix(mounted)
        if pose is not None:
            self.pub_extrinsics.publish(conv.pose_to_msg(pose, stamp, topics.BASE_FRAME))

    def diagnostic_statuses(self):
        rate = self.meter.rate()
        level = "ok" if rate >= 0.8 * self.fps else "warn"
        msg = f"{rate:.1f} fps"
        if self.errors and rate == 0.0:
            level, msg = "error", f"no frames: {self.last_error}"
        return [conv.diagnostic_status(
            f"{self.get_name()}: camera {self.name}", level, msg,
            {"rate_hz": rate, "target_fps": self.fps, "frames": self.meter.count,
             "errors": self.errors, "last_error": self.last_error})]

    def destroy_node(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        return super().destroy_node()
