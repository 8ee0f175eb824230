"""ViTaL mode ("Touch begins where vision ends", arXiv 2506.13762): localise, reach, hand over.

A runner the chunk pipeline drives like the global policy's (`infer(obs, guide)` -> a chunk in
`base`), in three phases per episode:

- `localise`: the localiser finds the task's target in the scene camera's image (its pose in
  `base`: position and, for targets with a visible yaw, the yaw);
- `reach`: straight-line chunks from the arm to a pre-contact pose `approach_height` above the
  target, at `reach_speed`, through the controller like any chunk (the safety layer applies);
- `local`: once the arm is within `handover_distance` of that pose, the local policy (a
  checkpoint trained in the target's frame, fdvla_model.dataset.target_frame) does the contact
  from the wrist camera, its state relative to the target and the force; its chunks go back to
  `base` through the same frame.

`reset()` (a new episode) goes back to `localise`. `status()` is what /diagnostics shows.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from fdvla_model.action_space import TargetFrame, action_to_pose, pose_to_vector
from fdvla_drivers import quat
from fdvla_msgs.camera_geometry import lift_pixel
from fdvla_msgs.types import (ActionChunk, CameraIntrinsics, Pose, equivalent_yaw,
                              interpolate_poses, tool_yaw)
from .observation import Observation
from .runner import Guide, Inference

PHASES = ("localise", "reach", "local")
SCENE_CAMERA = "kinect"


@dataclass
class VitalSettings:
    #: m above the localised target where the reach ends and the local policy takes over (the
    #: local policy's demonstrations start around it: NearTarget in the sim).
    approach_height: float = 0.05
    #: m from the pre-contact pose at which the reach hands over.
    handover_distance: float = 0.01
    reach_speed: float = 0.08  # m/s
    reach_angular_speed: float = 0.5  # rad/s
    #: The camera the localiser looks through (the scene camera).
    scene_camera: str = SCENE_CAMERA
    #: Inferences in a row that the arm holds while the localiser has no answer yet (an oracle
    #: waiting for the task state of the new placement) before the agent gives up with an error.
    localise_patience: int = 50

    def __post_init__(self):
        for name in ("approach_height", "handover_distance", "reach_speed", "reach_angular_speed",
                     "localise_patience"):
            if not getattr(self, name) > 0:
                raise ValueError(f"vital.{name} must be positive, got {getattr(self, name)}")


@dataclass
class SceneView:
    """What the localiser is given: the scene camera's colour image and, where the camera gives
    them (a pointing localiser needs them), its aligned depth and its calibration."""

    rgb: np.ndarray  # uint8 (H, W, 3)
    depth: Optional[np.ndarray] = None  # float32 (H, W) metres, NaN: no reading
    intrinsics: Optional[CameraIntrinsics] = None
    pose_in_base: Optional[np.ndarray] = None  # 4x4 of the optical frame


#: A localiser: the scene view -> (target position (3,) in base, yaw or None), or None when it
#: has no answer (yet): the arm holds and it is asked again, `localise_patience` times. One may
#: say why in a `waiting_for` attribute (shown in /diagnostics and in the error).
Localise = Callable[[SceneView], Optional[tuple]]


class PointAndLift:
    """ViTaL's pointer as a localiser: the scene localiser points at the target's pixel, which
    is lifted into `base` through the aligned depth and the camera's calibration
    (fdvla_msgs.camera_geometry.lift_pixel). Without depth or calibration yet, or when the pixel
    has no depth reading, it has no answer (the arm holds) and says why in `waiting_for`."""

    needs_depth = True

    def __init__(self, pointer):
        if not pointer.config.points:
            raise ValueError("PointAndLift needs a pointing localiser (output 'pixel')")
        self.pointer = pointer
        self.waiting_for = ""
        self.last_pixel: Optional[tuple] = None

    def __call__(self, view: SceneView) -> Optional[tuple]:
        if view.depth is None:
            self.waiting_for = "depth"
            return None
        if view.intrinsics is None or view.pose_in_base is None:
            self.waiting_for = "calibration"
            return None
        (u, v), yaw = self.pointer.point(view.rgb)
        self.last_pixel = (float(u), float(v))
        try:
            position = lift_pixel(float(u), float(v), view.depth, view.intrinsics,
                                  view.pose_in_base)
        except ValueError as e:
            self.waiting_for = f"lift: {e}"
            return None
        self.waiting_for = ""
        return position, yaw


class VitalAgent:
    def __init__(self, local_runner, localise: Localise, settings: VitalSettings | None = None):
        self.local = local_runner
        self.localise = localise
        self.settings = settings or VitalSettings()
        cfg = local_runner.policy.config
        if cfg.action_frame != "target":
            raise ValueError("the ViTaL local policy must be trained in the target frame "
                             "(`fdvla dataset target-frame`), this one is in "
                             f"{cfg.action_frame!r}")
        self.yaw_symmetry = int(cfg.target_yaw_symmetry)
        #: Cameras whose depth and calibration the observations must carry (a pointer's).
        self.depth_cameras = ((self.settings.scene_camera,)
                              if getattr(localise, "needs_depth", False) else ())
        # The node assembles observations of the local policy's cameras and the localiser's.
        cams = list(local_runner.info.camera_names)
        self.info = dataclasses.replace(local_runner.info, camera_names=cams + [
            self.settings.scene_camera] if self.settings.scene_camera not in cams else cams)
        self.device = local_runner.device
        self.autocast = local_runner.autocast
        self.policy = local_runner.policy
        self.stale_scene_waits = 0  # inferences that held for a scene frame after a reset
        self.localise_waits = 0  # inferences that held for the localiser's answer
        self._unanswered = 0  # of them, in a row
        self.reset()
        self._after_reset = False  # the first episode's frames are all its own

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        self.phase = "localise"
        self.frame: Optional[TargetFrame] = None
        self.localised: Optional[np.ndarray] = None  # [x, y, z, yaw]
        # After a reset (the arm moved: a new placement) the observation that showed it can
        # carry a scene frame rendered before it, of the old placement: localise only from a
        # frame stamped after that observation's robot state (the node's observations say
        # when each input was sampled; lock-step ones render in step and carry no stamps).
        self._after_reset = True
        self._fresh_after: Optional[float] = None

    def status(self) -> dict:
        d = {"phase": self.phase, "stale_scene_waits": self.stale_scene_waits,
             "localise_waits": self.localise_waits}
        waiting = getattr(self.localise, "waiting_for", "")
        if waiting:
            d["localiser_waiting_for"] = waiting
        pixel = getattr(self.localise, "last_pixel", None)
        if pixel is not None:  # a pointer: where in the scene image it pointed
            d["pointed_pixel"] = [round(v, 1) for v in pixel]
        if self.localised is not None:
            d["localised"] = [round(float(v), 4) for v in self.localised]
        return d

    def pre_contact(self, rotation) -> Pose:
        """The pose the reach ends at: above the target, the tool turned to its yaw."""
        p = self.frame.position + [0.0, 0.0, self.settings.approach_height]
        # The tool's yaw follows the target's (a local policy learnt its starts around it):
        # a turn about base z, so roll and pitch stay as they are (tool down). Both yaws in the
        # tool-down convention the demonstrations' starts use (fdvla_msgs.types.tool_down): the
        # tool's Euler yaw is a quarter turn off it, which only a target with a 4-fold (or no)
        # symmetry cannot tell.
        yaw = tool_yaw(rotation)
        half = 0.5 * (self._tool_yaw(yaw) - yaw)
        return Pose(p, quat.mul(np.array([0.0, 0.0, np.sin(half), np.cos(half)]),
                                rotation.as_quat()))

    def _tool_yaw(self, current: float) -> float:
        return equivalent_yaw(self.frame.yaw, self.yaw_symmetry, near=current)

    # ------------------------------------------------------------------ runner interface
    def warmup(self, example: Observation, iterations: int = 3) -> float:
        """The localiser once, then the local policy (in a frame below the example's arm)."""
        self.localise(self.scene_view(example))
        frame = TargetFrame(example.tcp_pose.position - [0.0, 0.0, self.settings.approach_height])
        last = 0.0
        for _ in range(iterations):
            last = self.local.infer(example, frame=frame).latency
        self.local.warm = True
        return last

    def infer(self, obs: Observation, guide: Optional[Guide] = None) -> Inference:
        started = time.time()
        if self.phase == "localise" and self._scene_is_stale(obs):
            self.stale_scene_waits += 1
            return self._reach(obs, obs.tcp_pose, started)  # hold where the arm is
        if self.phase == "localise":
            found = self.localise(self.scene_view(obs))
            if found is None:
                self._unanswered += 1
                if self._unanswered >= self.settings.localise_patience:
                    waiting = getattr(self.localise, "waiting_for", "")
                    raise RuntimeError(f"the localiser found no target in {self._unanswered} "
                                       "scene images in a row"
                                       + (f" (waiting for {waiting})" if waiting else ""))
                self.localise_waits += 1
                return self._reach(obs, obs.tcp_pose, started)  # hold where the arm is
            self._unanswered = 0
            position, yaw = found
            self.frame = TargetFrame(position, equivalent_yaw(0.0 if yaw is None else yaw,
                                                              self.yaw_symmetry))
            self.localised = np.array([*self.frame.position, self.frame.yaw])
            self.phase = "reach"
        if self.phase == "reach":
            goal = self.pre_contact(obs.tcp_pose.rotation)
            if obs.tcp_pose.distance_to(goal)[0] > self.settings.handover_distance:
                return self._reach(obs, goal, started)
            self.phase = "local"
        return self.local.infer(obs, guide, frame=self.frame)

    def scene_view(self, obs: Observation) -> SceneView:
        cam = self.settings.scene_camera
        intrinsics, pose = obs.calibrations.get(cam, (None, None))
        return SceneView(obs.images[cam], obs.depths.get(cam), intrinsics, pose)

    def _scene_is_stale(self, obs: Observation) -> bool:
        if not self._after_reset:
            return False
        scene = obs.stamps.get(f"camera:{self.settings.scene_camera}")
        state = obs.stamps.get("tcp_pose")
        if scene is None or state is None:
            self._after_reset = False
            return False
        if self._fresh_after is None:
            self._fresh_after = state
        if scene < self._fresh_after:
            return True
        self._after_reset = False
        return False

    def _reach(self, obs: Observation, goal: Pose, started: float) -> Inference:
        """A chunk along the straight line from the arm to `goal`, at the reach speeds, then
        holding it."""
        n, dt = self.info.chunk_size, self.info.action_dt
        dp, dr = obs.tcp_pose.distance_to(goal)
        duration = max(dp / self.settings.reach_speed, dr / self.settings.reach_angular_speed,
                       dt)
        s = np.clip(np.arange(n) * dt / duration, 0.0, 1.0)
        s = s * s * (3.0 - 2.0 * s)  # smoothstep: starts and ends at rest
        poses = [interpolate_poses(obs.tcp_pose, goal, float(x)) for x in s]
        actions = np.stack([pose_to_vector(p) for p in poses])
        chunk = ActionChunk(obs.stamp, np.arange(n) * dt, tuple(action_to_pose(a) for a in actions))
        return Inference(chunk, actions, None, None, started, time.time())
