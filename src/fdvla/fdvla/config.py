"""Robot setups: YAML files in config/, with `extends:` inheritance and command-line overrides."""

from __future__ import annotations

import copy
import math
import os
import sys
from pathlib import Path

import numpy as np
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


# ---------------------------------------------------------------- the controller and safety sections
# Validated at load with one-line errors: every limit and period a finite number inside what a
# UR5e can physically do, unknown keys are errors, and the servo period is always the robot
# backend's (a different one would scale every speed), so it is not a setting.

#: Keys that were settings once, with what a user's YAML should say now: an old file fails with
#: this line instead of being silently half-read.
RETIRED_KEYS = {
    ("robot", "sensorless"): "replaced by robot.has_wrench (sensorless: true is has_wrench: false)",
    ("controller", "servo_period"): "no longer a setting: the servo period is always the robot "
                                    "backend's (ur_rtde: 1/robot.frequency); remove the key",
}


def backend_servo_period(robot: dict) -> float | None:
    """The servo period the setup's robot backend runs at, from its settings."""
    kind = robot.get("backend")
    if kind == "sim":
        return 0.002
    if kind == "ur_rtde":
        f = robot.get("frequency", 500.0)
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not math.isfinite(f) \
                or f <= 0:
            raise ConfigError(f"robot.frequency: {f!r} is not a positive number")
        return 1.0 / float(f)
    return None


def _controller_dict(controller: dict | None) -> dict:
    d = dict(controller or {})
    rate = d.pop("target_pose_rate", 50.0)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 500 \
            or not math.isfinite(rate):
        raise ConfigError(f"controller.target_pose_rate: {rate!r} is not in (0, 500] Hz")
    return d


def controller_settings(controller: dict | None, safety: dict | None,
                        servo_period: float | None):
    """(ControllerConfig, SafetyLimits) for a backend that servos at `servo_period` (None: an
    unknown backend, whose own error comes later; the values are checked alone)."""
    from fdvla_drivers.control import ControllerConfig, SafetyLimits
    from fdvla_drivers.control.safety import LimitError

    d = dict(controller or {})
    d.pop("target_pose_rate", None)
    try:
        config = ControllerConfig.from_dict(d, servo_period=servo_period)
        limits = SafetyLimits.from_dict(safety)
    except (LimitError, TypeError) as e:
        raise ConfigError(str(e).splitlines()[0]) from None
    return config, limits


def validate_setup(cfg: dict) -> None:
    """Check a merged setup: retired keys, `robot.has_wrench`, `cameras.<name>.depth`, the
    controller and safety sections (ConfigError naming the key)."""
    for (section, key), why in RETIRED_KEYS.items():
        if isinstance(cfg.get(section), dict) and key in cfg[section]:
            raise ConfigError(f"{section}.{key}: {why}")
    for section in ("controller", "safety"):
        if cfg.get(section) is not None and not isinstance(cfg.get(section), dict):
            raise ConfigError(f"{section}: must be a mapping, got {cfg.get(section)!r}")
    robot = cfg.get("robot") or {}
    if isinstance(robot, dict) and "has_wrench" in robot \
            and not isinstance(robot["has_wrench"], bool):
        raise ConfigError(f"robot.has_wrench: {robot['has_wrench']!r} is not true or false")
    if isinstance(robot, dict) and "appearance" in robot:
        from fdvla_drivers.sim.appearance import check_split

        if robot.get("backend") != "sim":
            raise ConfigError("robot.appearance: an evaluation split of the simulated cameras; "
                              f"the {robot.get('backend')!r} backend has real ones")
        try:
            check_split(robot["appearance"])
        except ValueError as e:
            raise ConfigError(f"robot.appearance: {e}") from None
    _check_camera_depth(cfg.get("cameras"))
    _check_camera_calibration(cfg.get("cameras"))
    from fdvla_drivers.sim.tasks import PLACEMENTS, STARTS

    for key, names, why in (("task_start", STARTS, "where simulated episodes start; the {} "
                             "backend's arm is where it is"),
                            ("task_placement", PLACEMENTS, "where the simulated objects are "
                             "placed; the {} backend's are where they are")):
        if isinstance(robot, dict) and key in robot:
            if robot.get("backend") != "sim":
                raise ConfigError(f"robot.{key}: " + why.format(repr(robot.get("backend"))))
            if robot[key] not in names:
                raise ConfigError(f"robot.{key}: {robot[key]!r} is not one of "
                                  f"{', '.join(names)}")
    period = backend_servo_period(robot) if isinstance(robot, dict) else None
    controller_settings(_controller_dict(cfg.get("controller")), cfg.get("safety"), period)


#: Camera backends that can give depth registered to their colour image (`cameras.<name>.depth`).
DEPTH_BACKENDS = ("sim", "k4a")


def _check_camera_calibration(cameras) -> None:
    """`cameras.<name>.pose_in_base`: the extrinsic calibration, [x, y, z, qx, qy, qz, qw] of the
    camera's optical frame in `base` (m; a unit quaternion)."""
    if not isinstance(cameras, dict):
        return
    for name, cam in cameras.items():
        if not isinstance(cam, dict) or cam.get("pose_in_base") is None:
            continue
        v = cam["pose_in_base"]
        try:
            v = np.asarray(v, dtype=float)
        except (TypeError, ValueError):
            v = None
        if v is None or v.shape != (7,) or not np.all(np.isfinite(v)):
            raise ConfigError(f"cameras.{name}.pose_in_base: {cam['pose_in_base']!r} is not "
                              "[x, y, z, qx, qy, qz, qw] (7 numbers)")
        if abs(np.linalg.norm(v[3:]) - 1.0) > 1e-3:
            raise ConfigError(f"cameras.{name}.pose_in_base: the quaternion {v[3:].tolist()} "
                              "is not of unit length")


def _check_camera_depth(cameras) -> None:
    """`cameras.<name>.depth`: true or false, and only on a backend that has depth."""
    if not isinstance(cameras, dict):
        return
    for name, cam in cameras.items():
        if not isinstance(cam, dict) or "depth" not in cam:
            continue
        if not isinstance(cam["depth"], bool):
            raise ConfigError(f"cameras.{name}.depth: {cam['depth']!r} is not true or false")
        if cam["depth"] and cam.get("backend") not in DEPTH_BACKENDS:
            raise ConfigError(f"cameras.{name}.depth: the {cam.get('backend')!r} camera backend "
                              f"gives no depth (only {', '.join(DEPTH_BACKENDS)} do)")
