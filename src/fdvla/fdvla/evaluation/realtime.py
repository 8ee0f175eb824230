"""Real-time evaluation: the graph `fdvla bringup --policy` runs (one OS process per process of
the graph, under the supervisor), episodes driven by the sim episode contract
(`SimEpisodeClient`: /sim/reset, /sim/task_state, the controller's counts on /diagnostics),
measured and predicted wrench recorded from their topics. Measured the way users run it."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Optional

import numpy as np
from geometry_msgs.msg import WrenchStamped
from rclpy.node import Node
from sensor_msgs.msg import Image
from trajectory_msgs.msg import MultiDOFJointTrajectory

from fdvla_msgs import conversions as conv
from fdvla_msgs import qos, topics
from .results import EpisodeRecord


class SeriesRecorder(Node):
    """What the plots need of an episode: wrench, predicted wrench, chunk count, video frames."""

    def __init__(self, video: bool = False, **kw):
        super().__init__("fdvla_eval_recorder", **kw)
        self._lock = threading.Lock()
        self.clear()
        self.create_subscription(WrenchStamped, topics.WRENCH, self._on_wrench, qos.SENSOR_SUB)
        self.create_subscription(WrenchStamped, topics.PREDICTED_WRENCH, self._on_pred,
                                 qos.SENSOR_SUB)
        self.create_subscription(MultiDOFJointTrajectory, topics.ACTION_CHUNK, self._on_chunk,
                                 qos.COMMAND)
        self._last_frame = 0.0
        if video:
            self.create_subscription(Image, topics.camera_image_topic("kinect"), self._on_image,
                                     qos.SENSOR_SUB)

    def _on_wrench(self, msg):
        t, w = conv.wrench_from_msg(msg)
        with self._lock:
            if not self.wrench or t - self.wrench[-1][0] >= 0.01:
                self.wrench.append((t, w.tolist()))

    def _on_pred(self, msg):
        t, w = conv.wrench_from_msg(msg)
        with self._lock:
            self.predicted.append((t, w.tolist()))

    def _on_chunk(self, _msg):
        with self._lock:
            self.chunks += 1

    def _on_image(self, msg):
        now = time.monotonic()
        if now - self._last_frame >= 1 / 15:
            self._last_frame = now
            with self._lock:
                self.frames.append(np.array(conv.image_from_msg(msg)))

    def clear(self, _info=None):
        with self._lock:
            self.wrench, self.predicted, self.frames, self.chunks = [], [], [], 0

    def snapshot(self):
        with self._lock:
            return list(self.wrench), list(self.predicted), list(self.frames), self.chunks


def evaluate_realtime(policy: str, task: str, episodes: int, *, robot: str = "sim", seed: int = 0,
                      timeout: float = 15.0, overrides: Optional[list] = None, video_dir=None,
                      success_hold: float = 0.3, progress=None, startup_timeout: float = 300.0,
                      log_path: Optional[Path] = None,
                      policy_figures: Optional[dict] = None) -> list[EpisodeRecord]:
    from fdvla.graph_run import GraphRun
    from fdvla.supervisor import LogFile, quote_override
    from fdvla_drivers.nodes.episode_client import SimEpisodeClient
    from fdvla_drivers.sim.tasks import make_task

    # Bringup itself is episode 0 (seed `seed`, while the policy warms up); the evaluated episodes
    # are 1..N, seeds seed+1..seed+N (the sim episode contract: seed = robot.seed + k).
    sets = [f"robot.task={task}", f"robot.seed={seed}", f"policy.checkpoint={policy}",
            quote_override("instruction", make_task(task).instruction), *(overrides or [])]
    log = LogFile(log_path) if log_path is not None else None
    emit = log if log is not None else (lambda name, line: None)
    run = GraphRun(robot, sets, emit)
    records = []
    try:
        run.start()
        client = run.add_node(SimEpisodeClient("fdvla_eval", context=run.context))
        series = run.add_node(SeriesRecorder(video=video_dir is not None, context=run.context))
        end = time.monotonic() + startup_timeout
        while not client.policy_ready:
            if not run.poll():
                raise RuntimeError(f"the robot's process exited during start-up (log: {log_path})")
            dead = [c.name for c in run.supervisor.children if c.returncode is not None]
            if dead:
                raise RuntimeError(f"process {dead[0]} exited during start-up (log: {log_path})")
            if client.policy_level == 2:
                raise RuntimeError(f"policy node failed: {client.policy_message}")
            if time.monotonic() > end:
                raise RuntimeError(f"policy node not ready after {startup_timeout:.0f} s "
                                   f"(log: {log_path})")
            time.sleep(0.1)
        for k in range(episodes):
            o = client.run_episode(timeout, success_hold, on_started=series.clear)
            if not run.poll():
                raise RuntimeError(f"the robot's process exited (log: {log_path})")
            wrench, pred, frames, chunks = series.snapshot()
            # Stamps relative to the episode's start on the sim clock (the task state's stamp).
            stamp0 = float(o.state.get("stamp", time.time())) - o.duration
            records.append(EpisodeRecord(
                task=task, episode=k, seed=o.seed, success=o.success, duration=o.duration,
                success_time=o.success_time, progress=o.progress, failure=o.failure,
                fault=o.fault, chunks=chunks, chunks_rejected=o.rejected,
                safety_stops=o.safety_stops, counters=o.counters,
                hidden=dict(o.state.get("hidden") or {}),
                force_quality=dict(o.state.get("force_quality") or {}),
                wrench_t=[t - stamp0 for t, _ in wrench], wrench=[w for _, w in wrench],
                predicted_t=[t - stamp0 for t, _ in pred], predicted=[w for _, w in pred]))
            if video_dir is not None and frames:
                from .video import write_mp4

                write_mp4(frames, video_dir / f"{task}_{k:03d}.mp4", fps=15)
            if progress is not None:
                progress(records[-1])
        if policy_figures is not None:  # the node's own figures, for the report
            policy_figures.update(client.policy)
    finally:
        run.stop()
        if log is not None:
            log.close()
    return records
