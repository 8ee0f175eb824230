"""The teleop process of the node graph (ROS-free): SpaceMouse, teleop and recorder nodes,
added by `fdvla.graph.build_graph` when the setup asks for them.

Config (any setup YAML, or `--set`):
  teleop:   {enabled: bool, device: hid | spacenavd | none, spacenavd: {...}, mapping: {...}}
  recorder: {out: DIR, flush_period: s, topics: [...], facts: {instruction, task, ...}}
"""

from __future__ import annotations

from fdvla_teleop.topics import contract_topics


def teleop_node_specs(cfg: dict) -> list[tuple[str, str, dict]]:
    """[(kind, node name, params)] of the teleop process; empty when nothing is asked for."""
    teleop = dict(cfg.get("teleop") or {})
    recorder = dict(cfg.get("recorder") or {})
    out = []
    if teleop.get("enabled"):
        device = teleop.get("device", "hid")
        if device not in (None, "none", False):
            out.append(("spacemouse", "spacemouse",
                        {"backend": device, "rate_hz": float(teleop.get("rate_hz", 50.0)),
                         "backend_kwargs": dict(teleop.get(device) or {})
                         if isinstance(teleop.get(device), dict) else {}}))
        out.append(("teleop", "teleop", {"mapping": dict(teleop.get("mapping") or {}),
                                         "safety": dict(cfg.get("safety") or {})}))
    if recorder.get("out"):
        robot = cfg.get("robot") or {}
        facts = {"setup": cfg.get("name", ""), "task": robot.get("task", ""),
                 "instruction": cfg.get("instruction", ""), **dict(recorder.get("facts") or {})}
        out.append(("recorder", "recorder",
                    {"out": str(recorder["out"]), "topic_types": contract_topics(cfg),
                     "facts": facts, "flush_period": float(recorder.get("flush_period", 1.0))}))
    return out
