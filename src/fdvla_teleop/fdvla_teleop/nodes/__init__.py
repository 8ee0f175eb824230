"""Thin ROS nodes over the ROS-free cores of this package."""


def make_node(kind: str, name: str, params: dict, **kw):
    """The node of a NodeSpec kind this package owns (fdvla.runtime delegates here)."""
    if kind == "spacemouse":
        from fdvla_teleop.nodes.spacemouse_node import SpaceMouseNode

        return SpaceMouseNode(node_name=name, **params, **kw)
    if kind == "teleop":
        from fdvla_teleop.nodes.teleop_node import TeleopNode

        return TeleopNode(node_name=name, **params, **kw)
    if kind == "recorder":
        from fdvla_teleop.nodes.recorder_node import RecorderNode

        return RecorderNode(node_name=name, **params, **kw)
    if kind == "sim_expert":
        from fdvla_teleop.nodes.expert_node import ExpertNode

        return ExpertNode(node_name=name, **params, **kw)
    raise ValueError(f"unknown node kind {kind!r}")


KINDS = ("spacemouse", "teleop", "recorder", "sim_expert")
