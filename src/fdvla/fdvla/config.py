"""Robot setups: YAML files in config/, with `extends:` inheritance and command-line overrides."""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import yaml

ROBOT_SETUPS = ("sim", "sim_sensorless", "ur5e", "ur5e_sensorless")


class ConfigError(ValueError):
    pass


def share_dir() -> Path:
    """Where launch/ and config/ live: $FDVLA_SHARE, the ROS package share, or this checkout."""
    candidates = []
    if os.environ.get("FDVLA_SHARE"):
        candidates.append(Path(os.environ["FDVLA_SHARE"]))
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory("fdvla")))
    except Exception:  # not in a sourced ROS workspace (pip mode)
        pass
    here = Path(__file__).resolve()
    candidates += [here.parents[1], here.parents[3], Path(sys.prefix) / "share" / "fdvla"]
    for c in candidates:
        if (c / "config" / "sim.yaml").is_file():
            return c
    raise ConfigError("cannot find the fdvla config/ folder; set FDVLA_SHARE to the folder "
                      "that holds config/ and launch/")


def config_path(robot: str) -> Path:
    p = Path(robot)
    if p.suffix in (".yaml", ".yml"):
        if not p.is_file():
            raise ConfigError(f"robot config {p} does not exist")
        return p
    path = share_dir() / "config" / f"{robot}.yaml"
    if not path.is_file():
        known = sorted(x.stem for x in (share_dir() / "config").glob("*.yaml"))
        raise ConfigError(f"unknown robot setup {robot!r}; choose one of {known} "
                          "or give a path to a YAML file")
    return path


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_setup(robot: str, overrides: list[str] | None = None) -> dict:
    """The merged configuration of a robot setup, with `a.b.c=value` overrides (YAML values)."""
    path = config_path(robot)
    cfg = _load_with_extends(path, seen=())
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key.sub=value")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ConfigError(f"override {item!r}: {raw!r} is not a YAML value") from None
        node = cfg
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
        node[parts[-1]] = value
    cfg["name"] = Path(robot).stem
    from fdvla.safety_config import validate_setup

    validate_setup(cfg)  # limits and periods: finite, in range, known keys
    return cfg


def _load_with_extends(path: Path, seen: tuple) -> dict:
    if path in seen:
        raise ConfigError(f"config {path} extends itself")
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} is not a mapping")
    parent = data.pop("extends", None)
    if parent:
        base = _load_with_extends(path.parent / parent, seen + (path,))
        data = deep_merge(base, data)
    return data
