"""Real-time evaluation over the real node graph: `fdvla bringup`'s graph (sim cell, cameras,
controller, policy node) on DDS, episodes driven through the sim episode contract
(/sim/reset, /sim/task_state), measured and predicted wrench recorded from their topics."""

from __future__ import annotations

import json
import threading
import time
from typing import Optional

import numpy as np
from geometry_msgs.msg import WrenchStamped
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import MultiDOFJointTrajectory
from diagnostic_msgs.msg import DiagnosticArray

from fdvla_msgs import conversions as conv
from fdvla_msgs import qos, topics
from .results import EpisodeRecord


class EvalClient(Node):
    def __init__(self, video: bool = False, **kw):
        super().__init__("fdvla_eval", **kw)
        self._lock = threading.Lock()
        self.state: dict = {}
        self.policy_ready = False
        self.policy_error = ""
        self.wrench: list = []
        self.predicted: list = []
        self.chunks = 0
        self.frames: list = []
        self._video = video
        self._last_frame = 0.0
        self.create_subscription(String, topics.SIM_TASK_STATE, self._on_state, qos.SIM_TASK_STATE)
        self.create_subscription(WrenchStamped, topics.WRENCH, self._on_wrench, qos.SENSOR_SUB)
        self.create_subscription(WrenchStamped, topics.PREDICTED_WRENCH, self._on_pred, qos.SENSOR_SUB)
        self.create_subscription(MultiDOFJointTrajectory, topics.ACTION_CHUNK, self._on_chunk, qos.COMMAND)
        self.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diag, qos.DIAGNOSTICS)
        if video:
            self.create_subscription(Image, topics.camera_image_topic("kinect"), self._on_image,
                                     qos.SENSOR_SUB)
        self.reset_client = self.create_client(Trigger, topics.SIM_RESET)

    def _on_state(self, msg):
        with self._lock:
            self.state = json.loads(msg.data)

    def _on_wrench(self, msg):
        t, w = conv.wrench_from_msg(msg)
        with self._lock:
            if not self.wrench or t - self.wrench[-1][0] >= 0.01:
                self.wrench.append((t, w.tolist()))

    def _on_pred(self, msg):
        t, w = conv.wrench_from_msg(msg)
        with self._lock:
            self.predicted.append((t, w.tolist()))

    def _on_chunk(self, msg):
        with self._lock:
            self.chunks += 1

    def _on_image(self, msg):
        now = time.monotonic()
        if now - self._last_frame >= 1 / 15:
            self._last_frame = now
            with self._lock:
                self.frames.append(np.array(conv.image_from_msg(msg)))

    def _on_diag(self, msg):
        for st in msg.status:
            if st.name.endswith(": policy"):
                v = conv.diagnostic_values(st)
                self.policy_ready = v.get("ready") == "True"
                if st.level == 2:
                    self.policy_error = st.message

    def clear(self):
        with self._lock:
            self.wrench, self.predicted, self.frames, self.chunks = [], [], [], 0

    def snapshot(self):
        with self._lock:
            return dict(self.state), list(self.wrench), list(self.predicted), list(self.frames), self.chunks


def _wait(pred, timeout: float, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def evaluate_realtime(policy: str, task: str, episodes: int, *, robot: str = "sim", seed: int = 0,
                      timeout: float = 15.0, overrides: Optional[list] = None, video_dir=None,
                      success_hold: float = 0.3, progress=None, startup_timeout: float = 120.0
                      ) -> list[EpisodeRecord]:
    from fdvla.bringup import Bringup
    from fdvla.config import load_setup
    from fdvla_drivers.sim.tasks import make_task

    instruction = make_task(task).instruction
    # Bringup itself is episode 0 (seed `seed`, while the policy warms up); the evaluated episodes
    # are 1..N, seeds seed+1..seed+N (the sim episode contract: seed = robot.seed + k).
    cfg = load_setup(robot, [f"robot.task={task}", f"robot.seed={seed}",
                             f"policy.checkpoint={policy}", *(overrides or [])])
    cfg["instruction"] = instruction
    bringup = Bringup(cfg)
    client = None
    records = []
    try:
        bringup.start()
        client = EvalClient(video=video_dir is not None, context=bringup.context)
        bringup.executor.add_node(client)
        if not _wait(lambda: client.policy_ready or client.policy_error, startup_timeout):
            raise RuntimeError(f"policy node not ready after {startup_timeout:.0f} s")
        if client.policy_error and not client.policy_ready:
            raise RuntimeError(f"policy node failed: {client.policy_error}")
        if not client.reset_client.wait_for_service(timeout_sec=10.0):
            raise RuntimeError(f"no {topics.SIM_RESET} service: the sim episode node is missing")
        for k in range(episodes):
            fut = client.reset_client.call_async(Trigger.Request())
            if not _wait(fut.done, 10.0) or not fut.result().success:
                raise RuntimeError(f"{topics.SIM_RESET} failed: "
                                   f"{fut.result().message if fut.done() else 'timeout'}")
            info = json.loads(fut.result().message)
            client.clear()
            t0 = time.time()
            ep = info["episode"]
            _wait(lambda: client.snapshot()[0].get("episode") == ep, 2.0)
            success_since, success_time = None, None
            while time.time() - t0 < timeout:
                st = client.snapshot()[0]
                if st.get("episode") == ep and st.get("success"):
                    success_since = success_since or time.time()
                    success_time = success_time or (time.time() - t0)
                    if time.time() - success_since >= success_hold:
                        break
                else:
                    success_since = None
                time.sleep(0.05)
            st, wrench, pred, frames, chunks = client.snapshot()
            ok = bool(st.get("success")) and st.get("episode") == ep
            stamp0 = st.get("stamp", t0) - (time.time() - t0)
            records.append(EpisodeRecord(
                task=task, episode=k, seed=int(info["seed"]), success=ok,
                duration=time.time() - t0, success_time=success_time if ok else None,
                progress=float(st.get("progress", 0.0)), failure="" if ok else st.get("failure", ""),
                fault=st.get("fault", ""), chunks=chunks,
                wrench_t=[t - stamp0 for t, _ in wrench], wrench=[w for _, w in wrench],
                predicted_t=[t - stamp0 for t, _ in pred], predicted=[w for _, w in pred]))
            if video_dir is not None and frames:
                from .video import write_mp4

                write_mp4(frames, video_dir / f"{task}_{k:03d}.mp4", fps=15)
            if progress is not None:
                progress(records[-1])
    finally:
        if client is not None:
            try:
                bringup.executor.remove_node(client)
                client.destroy_node()
            except Exception:  # noqa: BLE001
                pass
        bringup.stop()
    return records
