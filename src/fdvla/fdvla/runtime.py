"""Instantiates a ProcessSpec: backends, cameras and node objects, and tears them down safely."""

from __future__ import annotations

from typing import Optional

from rclpy.context import Context
from rclpy.node import Node
from std_msgs.msg import String

from fdvla.graph import NodeSpec, ProcessSpec
from fdvla_drivers.camera import make_camera_backend
from fdvla.config import ConfigError, controller_settings
from fdvla_drivers.robot import make_robot_backend
from fdvla_msgs import qos, topics


class InstructionNode(Node):
    """Latches the task instruction on /fdvla/instruction (transient local)."""

    def __init__(self, text: str, node_name: str = "instruction", **kw):
        super().__init__(node_name, **kw)
        self.pub = self.create_publisher(String, topics.INSTRUCTION, qos.LATCHED)
        self.pub.publish(String(data=text))


class ProcessRuntime:
    def __init__(self, spec: ProcessSpec, context: Optional[Context] = None):
        self.spec = spec
        self.context = context
        self.robot = None
        self.cameras = []
        self.views = []  # shared-memory views of a simulated cell in another process
        self.nodes: list[Node] = []

    def start(self) -> "ProcessRuntime":
        try:
            if self.spec.robot is not None:
                kw = {k: v for k, v in self.spec.robot.items()
                      if k not in ("backend", "zero_ft_on_start", "snapshot")}
                self.robot = make_robot_backend(self.spec.robot["backend"], **kw)
                if self.spec.robot.get("snapshot"):
                    self.robot.publish_snapshots(self.spec.robot["snapshot"])
                self.robot.connect()
                if self.spec.robot.get("zero_ft_on_start") and self.robot.has_wrench:
                    # The arm is still at bringup: zero the sensor so the tool's weight and
                    # sensor drift do not read as contact force.
                    self.robot.zero_ft_sensor()
            for node_spec in self.spec.nodes:
                self.nodes.append(self._make_node(node_spec))
                self._declare_settings(self.nodes[-1], node_spec)
            # Threads start only once every node exists (camera and GL start-up would otherwise
            # starve a running servo loop), and the servo loop starts last.
            for node in sorted(self.nodes, key=lambda n: 1 if hasattr(n, "controller") else 0):
                if hasattr(node, "start"):
                    node.start()
        except BaseException:
            self.shutdown()
            raise
        return self

    def _make_node(self, spec: NodeSpec) -> Node:
        kw = {"context": self.context}
        if spec.kind == "robot_state":
            from fdvla_drivers.nodes.robot_state_node import RobotStateNode

            return RobotStateNode(self._need_robot(spec), node_name=spec.name, **spec.params,
                                  **kw)
        if spec.kind == "controller":
            from fdvla_drivers.nodes.controller_node import ControllerNode

            p = dict(spec.params)
            robot = self._need_robot(spec)
            section = dict(p.pop("controller", None) or {})
            if "target_pose_rate" in section:
                p["target_pose_rate"] = float(section.pop("target_pose_rate"))
            config, limits = controller_settings(section, p.pop("safety", None),
                                                 robot.servo_period)
            return controller_node(ControllerNode, robot, config, limits, node_name=spec.name,
                                   **p, **kw)
        if spec.kind == "camera":
            from fdvla_drivers.nodes.camera_node import CameraNode

            p = dict(spec.params)
            name, backend = p.pop("name"), p.pop("backend")
            if backend == "sim" and p.get("snapshot"):
                from fdvla_drivers.sim.shared_snapshot import SharedCellView

                self.views.append(SharedCellView(p.pop("snapshot")))
                p["backend"] = self.views[-1]
            elif backend == "sim":
                p.pop("snapshot", None)
                p["backend"] = self._need_robot(spec)
            calibration = p.pop("pose_in_base", None)  # the node's, not the backend's
            camera = make_camera_backend(backend, **p)
            camera.start()
            self.cameras.append(camera)
            return CameraNode(camera, name, fps=float(p.get("fps", 30.0)), node_name=spec.name,
                              depth=bool(p.get("depth", False)), pose_in_base=calibration, **kw)
        if spec.kind == "sim_episode":
            from fdvla_drivers.nodes.sim_episode_node import SimEpisodeNode

            ctrl = next((n for n in self.nodes if hasattr(n, "controller")), None)
            return SimEpisodeNode(self._need_robot(spec), ctrl, node_name=spec.name,
                                  **spec.params, **kw)
        if spec.kind in ("spacemouse", "teleop", "recorder", "sim_expert"):
            from fdvla_teleop.nodes import make_node

            return make_node(spec.kind, spec.name, spec.params, **kw)
        if spec.kind == "policy":
            from fdvla_policy_node.policy_node import make_policy_node

            return make_policy_node(spec.params, node_name=spec.name, **kw)
        if spec.kind == "foxglove_bridge":
            from fdvla_policy_node.view.foxglove_node import FoxgloveBridgeNode

            return FoxgloveBridgeNode(node_name=spec.name, **spec.params, **kw)
        if spec.kind == "instruction":
            return InstructionNode(spec.params["text"], node_name=spec.name, **kw)
        raise ValueError(f"unknown node kind {spec.kind!r}")

    def _declare_settings(self, node: Node, spec: NodeSpec) -> None:
        """The node's settings as read-only ROS parameters (`ros2 param list /controller`), for
        every node of the graph and only here: the NodeSpec's params, the values the node was
        built from. The robot state node, the robot driver, also shows the backend's settings
        (`robot.*`), as the UR driver shows its launch arguments."""
        from fdvla_drivers.nodes.common import SettingOverrideError, declare_settings

        settings = dict(spec.params)
        if spec.kind == "robot_state" and self.spec.robot is not None:
            settings["robot"] = dict(self.spec.robot)
        try:
            declare_settings(node, settings)
        except SettingOverrideError as e:
            raise ConfigError(str(e)) from None

    def _need_robot(self, spec: NodeSpec):
        if self.robot is None:
            raise ValueError(f"node {spec.name!r} needs the robot backend, which process "
                             f"{self.spec.name!r} does not own")
        return self.robot

    def shutdown(self) -> None:
        """Controller first (stops the servo loop and the robot), then the rest."""
        order = sorted(self.nodes, key=lambda n: 0 if hasattr(n, "controller") else 1)
        for node in order:
            try:
                node.destroy_node()
            except Exception:
                pass
        self.nodes = []
        for cam in self.cameras:
            try:
                cam.stop()
            except Exception:
                pass
        self.cameras = []
        for view in self.views:
            view.close()
        self.views = []
        if self.robot is not None:
            try:
                self.robot.close()
            finally:
                self.robot = None


def controller_node(cls, robot, config, limits, **kw):
    """Build the controller node; a second controller on the domain is a one-line error."""
    from fdvla_drivers.nodes.common import DomainConflictError

    try:
        return cls(robot, config, limits, **kw)
    except DomainConflictError as e:
        raise ConfigError(str(e)) from None

