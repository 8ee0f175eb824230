"""The sim episode node: /sim/reset (std_srvs/Trigger) and /sim/task_state (JSON String, 20 Hz).

Thin adapter over `fdvla_drivers.sim.episodes.SimEpisodes`; lives in the sim process, next to
the SimRobotBackend and the controller node it resets.
"""

from __future__ import annotations

import json

from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import Trigger

from fdvla_drivers.sim.episodes import SimEpisodes
from fdvla_msgs import qos, topics


class SimEpisodeNode(Node):
    def __init__(self, backend, controller_node=None, rate_hz: float = 20.0,
                 node_name: str = "sim_episode", **node_kwargs):
        super().__init__(node_name, **node_kwargs)
        ctrl = getattr(controller_node, "controller", None)
        loop = getattr(controller_node, "loop", None)
        self.episodes = SimEpisodes(backend, ctrl, loop)
        self.pub = self.create_publisher(String, topics.SIM_TASK_STATE, qos.SIM_TASK_STATE)
        self.create_service(Trigger, topics.SIM_RESET, self._on_reset)
        self.create_timer(1.0 / rate_hz, self.publish_state)

    def publish_state(self) -> None:
        self.pub.publish(String(data=json.dumps(self.episodes.task_state())))

    def _on_reset(self, request, response):
        try:
            info = self.episodes.reset()
        except Exception as e:  # the reason goes back to the caller, the node keeps serving
            response.success = False
            response.message = f"reset failed: {e}"
            self.get_logger().error(response.message)
            return response
        self.publish_state()
        response.success = True
        response.message = json.dumps(info)
        self.get_logger().info(f"episode {info['episode']} (seed {info['seed']})")
        return response
