"""The node graph of a robot setup, computed in one place.

`fdvla bringup` (pip mode, one Python process) and `launch/bringup.launch.py` (native ROS 2, one
OS process per ProcessSpec) both build exactly this list; neither adds nodes of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fdvla_msgs import topics


@dataclass(frozen=True)
class NodeSpec:
    kind: str  # robot_state | controller | camera | instruction | sim_episode | policy | foxglove_bridge | teleop kinds
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
    # What the sim cameras render (an evaluation split): theirs, not the robot backend's.
    appearance = robot.pop("appearance", "nominal")
    # The controller's settings keep the YAML's section names: its ROS parameters then read
    # as the keys of the setup (`safety.max_force`, `controller.target_pose_rate`).
    driver_nodes = [
        NodeSpec("robot_state", "robot_state", {"rate_hz": state_rate}),
        NodeSpec("controller", "controller", {"controller": dict(cfg.get("controller") or {}),
                                              "safety": dict(cfg.get("safety") or {})}),
    ]
    camera_nodes = []
    depth_camera = _policy_depth_camera(cfg)
    for cam_name, cam_cfg in (cfg.get("cameras") or {}).items():
        if cam_name not in topics.CAMERAS:
            raise ValueError(f"camera {cam_name!r} is not in the topic contract {topics.CAMERAS}")
        params = {"name": cam_name, **dict(cam_cfg)}
        if cam_name == depth_camera:
            params["depth"] = True
        if params.get("backend") == "sim":
            params["appearance"] = appearance
        camera_nodes.append(NodeSpec("camera", f"{cam_name}_camera", params))
    instruction = cfg.get("instruction")
    extra = [NodeSpec("instruction", "instruction", {"text": instruction})] if instruction else []

    if robot["backend"] == "sim":
        return (_sim_processes(cfg, robot, driver_nodes + _sim_episode_nodes(), camera_nodes,
                               extra)
                + _policy_processes(cfg) + _view_processes(cfg) + _teleop_processes(cfg))
    procs = [ProcessSpec("robot_driver", tuple(driver_nodes + extra), robot)]
    procs += [ProcessSpec(n.name, (n,)) for n in camera_nodes]
    return procs + _policy_processes(cfg) + _view_processes(cfg) + _teleop_processes(cfg)


def _sim_episode_nodes() -> list:
    """/sim/reset and /sim/task_state (the sim episode contract): sim setups only."""
    return [NodeSpec("sim_episode", "sim_episode", {"rate_hz": 20.0})]


def _teleop_processes(cfg: dict) -> list:
    """SpaceMouse + teleop + recorder in one process, when `teleop.enabled` / `recorder.out`."""
    from fdvla_teleop.graph import teleop_node_specs

    nodes = tuple(NodeSpec(kind, name, params) for kind, name, params in teleop_node_specs(cfg))
    return [ProcessSpec("teleop", nodes)] if nodes else []


def sim_snapshot_name(cfg: dict) -> str:
    """Shared-memory name of the simulated cell's state: `sim_snapshot` as the runner set it
    (unique per bringup), else one per ROS domain."""
    from fdvla_drivers.sim.shared_snapshot import segment_name

    return str(cfg.get("sim_snapshot") or segment_name())


def _sim_processes(cfg, robot, driver_nodes, camera_nodes, extra) -> list[ProcessSpec]:
    """Physics + robot backend + servo loop + state publishing in one process; each camera
    renders in its own, from the cell's state in shared memory. In lock-step mode (no wall
    clock, data generation) the cameras render in the cell's process, on the caller's thread."""
    if not robot.get("realtime", True) or not camera_nodes:
        return [ProcessSpec("sim_cell", tuple(driver_nodes + camera_nodes + extra), robot)]
    name = sim_snapshot_name(cfg)
    procs = [ProcessSpec("sim_cell", tuple(driver_nodes + extra), {**robot, "snapshot": name})]
    procs += [ProcessSpec(n.name, (NodeSpec(n.kind, n.name, {**n.params, "snapshot": name}),))
              for n in camera_nodes]
    return procs


def _policy_processes(cfg: dict) -> list:
    """The policy node in its own process, when `policy.checkpoint` is set (--policy CKPT)."""
    policy = dict(cfg.get("policy") or {})
    if not policy.get("checkpoint"):
        return []
    params = {**policy, "instruction": cfg.get("instruction") or policy.get("instruction"),
              "wrench_available": _wrench_available(cfg),
              "setup": str(cfg.get("name", ""))}
    # Unknown keys and bad values fail here, before any process starts; defaults are
    # PolicySettings' own (one source).
    from fdvla_policy_node.inference.settings import PolicySettings

    from fdvla.config import ConfigError

    try:
        PolicySettings.from_dict(params)
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e)) from None
    backend = (cfg.get("robot") or {}).get("backend")
    if params.get("localiser") == "oracle" and backend != "sim":
        raise ConfigError("policy.localiser=oracle reads the simulation's true target; the "
                          f"{backend!r} backend has none (use the checkpoint's localiser)")
    return [ProcessSpec("policy", (NodeSpec("policy", "policy", params),))]


def _policy_depth_camera(cfg: dict):
    """The camera whose depth the policy's localiser needs (a ViTaL checkpoint that points:
    docs/vital.md "Pointer"), checked to give depth and a calibration; None if none does."""
    from fdvla.config import DEPTH_BACKENDS, ConfigError
    from fdvla_policy_node.inference.agents import depth_camera_needed
    from fdvla_policy_node.inference.loading import PolicyLoadError

    policy = dict(cfg.get("policy") or {})
    if not policy.get("checkpoint"):
        return None
    try:
        cam = depth_camera_needed(policy["checkpoint"], policy.get("localiser", "learned"))
    except PolicyLoadError as e:
        raise ConfigError(str(e)) from None
    if cam is None:
        return None
    spec = (cfg.get("cameras") or {}).get(cam)
    why = "the policy's localiser points at a pixel and lifts it with the depth"
    if not isinstance(spec, dict):
        raise ConfigError(f"cameras.{cam}: not in this setup, and {why} of that camera")
    if spec.get("backend") not in DEPTH_BACKENDS:
        raise ConfigError(f"cameras.{cam}: the {spec.get('backend')!r} backend gives no depth "
                          f"(only {', '.join(DEPTH_BACKENDS)} do), and {why}")
    if spec.get("backend") != "sim" and spec.get("pose_in_base") is None:
        raise ConfigError(f"cameras.{cam}.pose_in_base: {why} and the camera's extrinsic "
                          "calibration; give it (docs/vital.md, \"Pointer\")")
    return cam


def _wrench_available(cfg: dict) -> bool:
    from fdvla_drivers.robot import has_wrench

    return has_wrench(cfg.get("robot") or {})


def _view_processes(cfg: dict) -> list:
    """The Foxglove live view (--view): a WebSocket server fed by raw subscriptions."""
    view = dict(cfg.get("view") or {})
    if not view.pop("enabled", False):
        return []
    params = {"host": "127.0.0.1", "port": 8765, **view, "wrench_available": _wrench_available(cfg)}
    return [ProcessSpec("view", (NodeSpec("foxglove_bridge", "foxglove_bridge", params),))]
