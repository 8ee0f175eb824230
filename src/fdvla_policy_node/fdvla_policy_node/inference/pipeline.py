"""Observation -> chunk to publish -> its record: the one chunk pipeline.

The policy node and lock-step evaluation both run exactly this (scheduler, drop of a plan the arm
does not follow, RTC guidance, join and smoothing, chunk timing), so lock-step evaluates what
runs on the robot; they differ only in where the observation comes from and how the chunk
travels to the controller.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fdvla_msgs.types import ActionChunk
from fdvla_model.action_space import action_to_pose
from .chunking import ChunkScheduler, SchedulerConfig
from .observation import Observation
from .runner import Inference, PolicyRunner


@dataclass
class Prediction:
    obs: Observation
    chunk: ActionChunk  # header stamp = the observation's, as the topic contract says
    actions: np.ndarray  # the joined, smoothed actions the chunk holds (raw units)
    inference: Inference
    dropped_old: bool  # the old chunk was dropped: the arm was not following it


class ChunkPipeline:
    def __init__(self, runner: PolicyRunner, config: SchedulerConfig | None = None):
        self.runner = runner
        self.scheduler = ChunkScheduler(config or SchedulerConfig(), runner.info.action_dt)

    def should_infer(self, now: float, tcp_position=None) -> bool:
        return self.scheduler.should_infer(now, tcp_position)

    def contact_check_due(self, now: float) -> bool:
        """Whether the measured TCP could start an inference now (scheduler.should_infer): the
        current plan has run past its contact threshold."""
        s = self.scheduler
        return s.stamp is not None and s.executed_share(now) >= s.cfg.contact_threshold

    def predict(self, obs: Observation) -> Prediction:
        s, n, dt = self.scheduler, self.runner.info.chunk_size, self.runner.info.action_dt
        dropped = s.drop_if_not_followed(obs.stamp, obs.tcp_pose.position)
        if dropped:
            self.runner.reset()  # the arm is elsewhere (a reset, a stop): start over
        inf = self.runner.infer(obs, s.guide(obs.stamp, n))
        actions = s.join(obs.stamp, inf.actions)
        chunk = ActionChunk(obs.stamp, np.arange(n) * dt, tuple(action_to_pose(a) for a in actions))
        return Prediction(obs, chunk, actions, inf, dropped)

    def arm_moved(self, p: Prediction, at: float, tcp_position) -> bool:
        """Was the arm moved while the policy thought (a reset, a stop, teleop)? It should be
        where the executing plan has it at `at`, or, with no plan executing, where the
        observation saw it. Such a chunk would be refused as starting far from the arm, so it
        is not sent. (A chunk that starts far from an arm that stayed put is sent: the controller
        refuses and counts it, the evaluation reports it.)"""
        s = self.scheduler
        expected = np.asarray(p.obs.tcp_pose.position, dtype=np.float64)
        if s.stamp is not None and s.stamp + s.times[-1] > at:
            expected = np.array([np.interp(at - s.stamp, s.times, s.actions[:, j])
                                 for j in range(3)])
        moved = float(np.linalg.norm(np.asarray(tcp_position) - expected))
        return moved > s.cfg.follow_tolerance

    def delivered(self, p: Prediction, at: float) -> float:
        """The chunk reaches the controller at `at`: it becomes the current plan (retimed as the
        controller retimes it). Returns how long the arm had been without a chunk (s)."""
        self.scheduler.observe_latency(at - p.obs.stamp)
        return self.scheduler.accept(p.obs.stamp, p.actions, at)

    def reset(self) -> None:
        self.scheduler.reset()
        self.runner.reset()
