"""Cameras of the simulated cell, rendered offscreen (mujoco.Renderer; MUJOCO_GL=egl).

Each camera renders from its own MjData, filled from a snapshot of the cell (joint positions
and mocap poses), so rendering never holds the physics up. Frames carry the time of the snapshot
on the robot backend's clock. `backend` is either the `SimRobotBackend` itself (same process:
the snapshot is taken under its lock) or a `SharedCellView` (another process: the snapshot comes
from shared memory, see `fdvla_drivers.sim.shared_snapshot`); both offer `model`, `realtime` and
`snapshot()`.

- realtime backend: a capture thread renders at `fps` on the wall clock; `read` returns the next
  new frame.
- lockstep backend: `read` renders the current state on the calling thread (the caller's loop
  sets the pace in simulation time).

With `depth=True` every frame also carries the depth image of the same state (`CameraFrame.depth`,
a second render of the same scene); off, the colour path renders once, as before.

The OpenGL context belongs to the thread that made it, so the renderer is created on the thread
that renders.
"""

from __future__ import annotations

import threading
import time

import mujoco
import numpy as np

from fdvla_msgs.types import CameraFrame, CameraIntrinsics
from fdvla_drivers.camera.base import CameraBackend, CameraError
from fdvla_drivers.sim import ur5e_model as mdl
from fdvla_drivers.sim.appearance import Appearance, check_split

#: Modest defaults: both cameras render at 30 Hz on two CPU cores with Mesa llvmpipe.
DEFAULT_RESOLUTION = {"scene": (320, 240), "wrist": (320, 240)}
_CAMERA_NAMES = {"scene": mdl.SCENE_CAMERA, "wrist": mdl.WRIST_CAMERA}


#: MuJoCo cameras look along their -z with y up; the optical frame looks along +z with y down:
#: the same x, y and z flipped.
_MUJOCO_TO_OPTICAL = np.diag([1.0, -1.0, -1.0])


def optical_pose_from_mujoco(cam_xpos, cam_xmat) -> np.ndarray:
    """4x4 pose in the world (the sim's `base`) of the optical frame of a MuJoCo camera, from its
    `MjData.cam_xpos` (3,) and `cam_xmat` (9,) or (3, 3)."""
    T = np.eye(4)
    T[:3, :3] = np.asarray(cam_xmat, dtype=float).reshape(3, 3) @ _MUJOCO_TO_OPTICAL
    T[:3, 3] = np.asarray(cam_xpos, dtype=float).reshape(3)
    return T


class SimCamera(CameraBackend):
    def __init__(self, backend, camera: str = "scene", width: int | None = None,
                 height: int | None = None, fps: float = 30.0, shadows: bool = False,
                 appearance: str = "nominal", depth: bool = False):
        """`appearance`: an evaluation split of what the camera sees
        (`fdvla_drivers.sim.appearance`), drawn per episode from the snapshot's seed. `depth`:
        every frame also carries its depth image (z-depth in metres, NaN on the void), at the
        cost of a second render per frame."""
        if camera not in _CAMERA_NAMES:
            raise ValueError(f"unknown sim camera {camera!r}; expected 'scene' or 'wrist'")
        w, h = DEFAULT_RESOLUTION[camera]
        self.backend = backend
        self.camera = camera
        self.width, self.height = int(width or w), int(height or h)
        self.fps = float(fps)
        # Shadows and reflections cost about half the render time on a CPU (llvmpipe).
        self.shadows = bool(shadows)
        self.appearance = check_split(appearance)
        self.depth = bool(depth)
        model = backend.model
        if self.width > model.vis.global_.offwidth or self.height > model.vis.global_.offheight:
            raise CameraError(f"{self.width}x{self.height} is larger than the offscreen buffer "
                              f"({model.vis.global_.offwidth}x{model.vis.global_.offheight})")
        self._cam_id = model.camera(_CAMERA_NAMES[camera]).id
        self._posed = None  # the model pose_in_base reads (the split's)
        self._renderer = None
        self._data = None
        self._thread = None
        self._running = False
        self._cond = threading.Condition()
        self._latest: CameraFrame | None = None
        self._last_read_stamp = -np.inf
        self.frames_rendered = 0
        self._error: BaseException | None = None

    # ---------------------------------------------------------------------- interface
    def start(self) -> None:
        if self._running:
            return
        self._running = True
        if self.backend.realtime:
            self._thread = threading.Thread(target=self._capture_loop,
                                            name=f"sim-camera-{self.camera}", daemon=True)
            self._thread.start()

    def read(self, timeout: float = 1.0) -> CameraFrame:
        if not self._running:
            raise CameraError("camera not started: call start() first")
        if not self.backend.realtime:
            frame = self.render()
            self._last_read_stamp = frame.stamp
            return frame
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._latest is None or self._latest.stamp <= self._last_read_stamp:
                if self._error is not None:
                    raise CameraError(f"sim camera {self.camera} failed: {self._error}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CameraError(f"no frame from sim camera {self.camera} in {timeout} s")
                self._cond.wait(left)
            frame = self._latest
        self._last_read_stamp = frame.stamp
        return frame

    @property
    def camera_id(self) -> int:
        """The MuJoCo camera this renders through (its pose is the model's `cam_pos` /
        `cam_quat`)."""
        return self._cam_id

    def intrinsics(self) -> CameraIntrinsics:
        fovy = float(self.backend.model.cam_fovy[self._cam_id])
        return CameraIntrinsics.from_fovy(self.width, self.height, fovy)

    def pose_in_base(self) -> np.ndarray:
        """4x4 pose in `base` of the camera's optical frame (x right, y down, z forward) at the
        backend's current state (the wrist camera moves with the arm), for
        `fdvla_msgs.camera_geometry`. The cell's world frame is `base`."""
        _, snap = self.backend.snapshot()
        if self._posed is None:  # the split's model (camera_moved moves the scene camera)
            self._posed = Appearance(self.backend.model, self.appearance).model
        model = self._posed
        d = mujoco.MjData(model)  # not the renderer's: a capture thread may be filling that one
        d.qpos[:] = snap.qpos
        d.mocap_pos[:] = snap.mocap_pos
        d.mocap_quat[:] = snap.mocap_quat
        mujoco.mj_kinematics(model, d)
        mujoco.mj_camlight(model, d)
        return optical_pose_from_mujoco(d.cam_xpos[self._cam_id], d.cam_xmat[self._cam_id])

    def mounted_pose(self):
        """The scene camera's pose (fixed in the cell, as the split places it); None for the
        wrist camera, which moves with the arm."""
        if self.backend.model.cam_bodyid[self._cam_id] != 0:
            return None
        return self.pose_in_base()

    def stop(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._renderer is not None and not self.backend.realtime:
            self._close_renderer()

    # ---------------------------------------------------------------------- rendering
    def render(self, mask: bool = False) -> CameraFrame:
        """Render the backend's current state now, on the calling thread; `mask`: also the
        foreground mask of the same state (a second, segmentation render), for semantic
        augmentation of training images."""
        stamp, snap = self.backend.snapshot()
        return self._render(stamp, snap, mask)

    def _render(self, stamp, snap, mask: bool = False) -> CameraFrame:
        if self._renderer is None:
            self._look = Appearance(self.backend.model, self.appearance)
            model = self._look.for_episode(snap.episode)
            self._data = mujoco.MjData(model)
            self._renderer = mujoco.Renderer(model, self.height, self.width)
            flags = self._renderer.scene.flags
            flags[mujoco.mjtRndFlag.mjRND_SHADOW] = self.shadows
            flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = self.shadows
        d = self._data
        model = self._look.for_episode(snap.episode)
        d.qpos[:] = snap.qpos
        d.mocap_pos[:] = snap.mocap_pos
        d.mocap_quat[:] = snap.mocap_quat
        mujoco.mj_kinematics(model, d)
        mujoco.mj_camlight(model, d)
        self._renderer.update_scene(d, camera=self._cam_id)
        self._look.decorate(self._renderer.scene, d)
        rgb = self._renderer.render()
        self.frames_rendered += 1
        fg = self._foreground(model) if mask else None
        depth = self._depth(model) if self.depth else None
        return CameraFrame(stamp=stamp, rgb=np.ascontiguousarray(rgb, dtype=np.uint8), mask=fg,
                           depth=depth)

    def _depth(self, model) -> np.ndarray:
        """The scene just rendered, as depth: mujoco.Renderer turns the depth buffer into metres
        along the optical axis. Pixels on the far clipping plane saw nothing (the void): NaN, as
        a real depth camera's missing readings."""
        self._renderer.enable_depth_rendering()
        try:
            z = self._renderer.render()
        finally:
            self._renderer.disable_depth_rendering()
        far = model.vis.map.zfar * model.stat.extent
        z[z >= 0.999 * far] = np.nan
        return z

    def _foreground(self, model) -> np.ndarray:
        """The scene just rendered, as segmentation: True where a geom of a body other than the
        world (the table) shows, i.e. the robot, the tool and the task's objects. The
        distractors of the `distractors` split are decoration, not objects: background."""
        self._renderer.enable_segmentation_rendering()
        try:
            seg = self._renderer.render()
        finally:
            self._renderer.disable_segmentation_rendering()
        ids, types = seg[..., 0], seg[..., 1]
        is_geom = (types == int(mujoco.mjtObj.mjOBJ_GEOM)) & (ids >= 0)
        body = np.zeros(ids.shape, dtype=np.int64)
        body[is_geom] = model.geom_bodyid[ids[is_geom]]
        return is_geom & (body != 0)

    def _capture_loop(self) -> None:
        period = 1.0 / self.fps
        next_due = time.perf_counter()
        last_stamp = None
        try:
            while self._running:
                stamp, snap = self.backend.snapshot()
                if stamp != last_stamp:  # a stopped cell gives no new frames
                    last_stamp = stamp
                    frame = self._render(stamp, snap)
                    with self._cond:
                        self._latest = frame
                        self._cond.notify_all()
                next_due += period
                delay = next_due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                else:
                    next_due = time.perf_counter()  # fell behind: drop frames, keep pace
        except BaseException as e:  # reported to the reader, which raises CameraError
            with self._cond:
                self._error = e
                self._cond.notify_all()
        finally:
            self._close_renderer()

    def _close_renderer(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
