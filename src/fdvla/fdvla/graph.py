"""The node graph of a robot setup, computed in one place.

`fdvla bringup` (pip mode, one Python process) and `launch/bringup.launch.py` (native ROS 2, one
OS process per ProcessSpec) both build exactly this list; neither adds nodes of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fdvla_msgs import topics


@dataclass(frozen=True)
class NodeSpec:
    kind: str  # robot_state | controller | camera | instruction | sim_episode
    name: str  # the ROS node name
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ProcessSpec:
    """Nodes that share one OS process (and the robot backend, where `robot` is set)."""

    name: str
    nodes: tuple
    robot: dict | None = None  # robot backend settings, when this process owns the robot


def build_graph(cfg: dict) -> list[ProcessSpec]:
    robot = dict(cfg.get("robot") or {})
    if "backend" not in robot:
        raise ValueError("robot setup has no robot.backend")
    state_rate = float(robot.pop("state_rate", 500.0))
    controller = dict(cfg.get("controller") or {})
    target_pose_rate = float(controller.pop("target_pose_rate", 50.0))
    driver_nodes = [
        NodeSpec("robot_state", "robot_state", {"rate_hz": state_rate}),
        NodeSpec("controller", "controller", {"config": controller,
                                              "limits": dict(cfg.get("safety") or {}),
                                              "target_pose_rate": target_pose_rate}),
    ]
    camera_nodes = []
    for cam_name, cam_cfg in (cfg.get("cameras") or {}).items():
        if cam_name not in topics.CAMERAS:
            raise ValueError(f"camera {cam_name!r} is not in the topic contract {topics.CAMERAS}")
        camera_nodes.append(NodeSpec("camera", f"{cam_name}_camera",
                                     {"name": cam_name, **dict(cam_cfg)}))
    instruction = cfg.get("instruction")
    extra = [NodeSpec("instruction", "instruction", {"text": instruction})] if instruction else []

    if robot["backend"] == "sim":
        # The simulated cameras render the simulated robot's world: one process owns them all.
        return [ProcessSpec("sim_cell", tuple(driver_nodes + _sim_episode_nodes() + camera_nodes
                                              + extra), robot)]
    procs = [ProcessSpec("robot_driver", tuple(driver_nodes + extra), robot)]
    procs += [ProcessSpec(n.name, (n,)) for n in camera_nodes]
    return procs


def _sim_episode_nodes() -> list:
    """/sim/reset and /sim/task_state (the sim episode contract): sim setups only."""
    return [NodeSpec("sim_episode", "sim_episode", {"rate_hz": 20.0})]
