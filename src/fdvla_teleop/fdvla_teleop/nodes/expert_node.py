"""The scripted-expert node for `fdvla sim-demos`: /sim/task_state + /tcp_pose in, action
chunks on /fdvla/action_chunk out (the same topic and controller a policy drives).

The expert's path is timed; a simulation slowed down by a loaded CPU (or a controller that
rejected a chunk) leaves the arm behind that timing. The node therefore runs the path on a clock
of its own that advances with wall time only while the measured TCP is within `max_lag` of the
path, so every chunk starts where the arm is and the plan resumes instead of running away.
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from std_msgs.msg import String
from trajectory_msgs.msg import MultiDOFJointTrajectory

from fdvla_msgs import conversions as conv
from fdvla_msgs import qos, topics
from fdvla_msgs.types import ActionChunk, RobotState
from fdvla_teleop.expert import expert_for_state


class ExpertNode(Node):
    def __init__(self, replan_period: float = 0.1, max_lag: float = 0.03,
                 node_name: str = "sim_expert", **node_kwargs):
        super().__init__(node_name, **node_kwargs)
        self._lock = threading.Lock()
        self.task_state: dict | None = None
        self._pose = None
        self._expert = None
        self._episode = None
        self._tau = 0.0  # the path's own clock
        self._last_wall = 0.0
        self.max_lag = max_lag
        self.chunks_sent = 0
        self.pub = self.create_publisher(MultiDOFJointTrajectory, topics.ACTION_CHUNK,
                                         qos.COMMAND)
        self.create_subscription(String, topics.SIM_TASK_STATE, self._on_state,
                                 qos.SIM_TASK_STATE)
        self.create_subscription(PoseStamped, topics.TCP_POSE, self._on_pose, qos.SENSOR_SUB)
        self.create_timer(replan_period, self._tick)

    def _on_state(self, msg: String) -> None:
        self.task_state = json.loads(msg.data)

    def _on_pose(self, msg: PoseStamped) -> None:
        self._pose = conv.pose_from_msg(msg)

    def begin(self, episode: int) -> None:
        """Act on `episode` (as numbered in /sim/task_state) from its next state on."""
        with self._lock:
            self._episode = episode
            self._expert = None

    def end(self) -> None:
        with self._lock:
            self._episode = None
            self._expert = None

    def done(self) -> bool:
        """The expert's planned path is over (its last chunk ends in a hold)."""
        with self._lock:
            e = self._expert
            return e is not None and e.done(self._tau)

    def _tick(self) -> None:
        with self._lock:
            st, pose = self.task_state, self._pose
            if self._episode is None or st is None or pose is None \
                    or st.get("episode") != self._episode or pose[0] < st["stamp"]:
                return  # (a pose from before this episode's reset is no start to plan from)
            now = time.time()
            stamp, tcp = pose
            if self._expert is None:
                self._expert = expert_for_state(st)
                self._tau = now
            else:
                lag = np.linalg.norm(self._expert.path.sample(self._tau).position - tcp.position)
                if lag < self.max_lag:
                    self._tau += min(now - self._last_wall, 0.5)
            self._last_wall = now
            state = RobotState(stamp=stamp, q=np.zeros(6), qd=np.zeros(6), tcp_pose=tcp)
            planned = self._expert.act(state, self._tau)
            chunk = ActionChunk(now, planned.times, planned.poses)
        self.pub.publish(conv.chunk_to_msg(chunk))
        self.chunks_sent += 1
