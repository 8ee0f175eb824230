"""ViTaL's residual correction at run time (issue 19, item 5; docs/vital.md "Residual"): the
agent's local chunks, shifted by the residual's offset.

During the local phase each chunk of the frozen local policy gets one offset (3,), at most
`max_offset` per axis in the localised target's frame, added to all its positions; the reach and
the rotations are untouched. The corrected chunk goes through the chunk pipeline and the
controller's safety layer like any other. The RTC guide the local policy continues from is the
committed chunk without its offset, so offsets do not pile up across chunks.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import numpy as np

from fdvla_model.action_space import action_to_pose, pose_to_vector
from fdvla_msgs.types import ActionChunk
from .observation import Observation
from .runner import Guide, Inference


def residual_features(obs: Observation, frame, actions: np.ndarray, local_time: float,
                      config) -> np.ndarray:
    """The residual's input (fdvla_model.residual.FEATURES), in the target's frame."""
    tcp = frame.poses_in(pose_to_vector(obs.tcp_pose))[:3]
    step = frame.poses_in(np.asarray(actions[0]))[:3] - tcp
    return np.concatenate([tcp / config.position_scale, step / config.position_scale,
                           [local_time / config.time_scale]]).astype(np.float32)


class ResidualAgent:
    """A VitalAgent whose local chunks get the residual actor's offset. `explore`: sample the
    offset (training) instead of taking its mean; `on_decision(features, action)` sees each
    local-phase decision, the action in [-1, 1]^3 (the trainer's hook)."""

    def __init__(self, agent, actor, explore: bool = False,
                 on_decision: Optional[Callable[[np.ndarray, np.ndarray], None]] = None):
        self.agent, self.actor = agent, actor
        self.explore, self.on_decision = explore, on_decision
        self.info, self.device, self.autocast = agent.info, agent.device, agent.autocast
        self.policy, self.settings = agent.policy, agent.settings
        self.depth_cameras = agent.depth_cameras
        self.reset()

    # The localiser is the agent's (lock-step evaluation swaps in the oracle).
    @property
    def localise(self):
        return self.agent.localise

    @localise.setter
    def localise(self, fn) -> None:
        self.agent.localise = fn

    def reset(self) -> None:
        self.agent.reset()
        self._local_since: Optional[float] = None
        self._offset_base = np.zeros(3)  # of the last chunk sent, in base
        self.last_offset: Optional[np.ndarray] = None  # in the target's frame

    def status(self) -> dict:
        d = self.agent.status()
        if self.last_offset is not None:
            d["residual_offset_mm"] = [round(float(v) * 1e3, 2) for v in self.last_offset]
        return d

    def warmup(self, example: Observation, iterations: int = 3) -> float:
        return self.agent.warmup(example, iterations)

    def infer(self, obs: Observation, guide: Optional[Guide] = None) -> Inference:
        if guide is not None and self._offset_base.any():
            actions = np.array(guide.actions, dtype=np.float64)
            actions[:, :3] -= self._offset_base
            guide = Guide(actions, guide.weights)
        inf = self.agent.infer(obs, guide)
        if self.agent.phase != "local":
            self._offset_base = np.zeros(3)
            return inf
        if self._local_since is None:
            self._local_since = obs.stamp
        frame = self.agent.frame
        features = residual_features(obs, frame, inf.actions, obs.stamp - self._local_since,
                                     self.actor.config)
        offset = self.actor.offset(features, explore=self.explore)  # target frame, m
        if self.on_decision is not None:
            self.on_decision(features, offset / self.actor.config.max_offset)
        self.last_offset = offset
        c, s = np.cos(frame.yaw), np.sin(frame.yaw)  # the frame turns about base z
        self._offset_base = np.array([c * offset[0] - s * offset[1],
                                      s * offset[0] + c * offset[1], offset[2]])
        actions = np.array(inf.actions, dtype=np.float64)
        actions[:, :3] += self._offset_base
        chunk = ActionChunk(inf.chunk.stamp, inf.chunk.times,
                            tuple(action_to_pose(a) for a in actions))
        return dataclasses.replace(inf, chunk=chunk, actions=actions)
