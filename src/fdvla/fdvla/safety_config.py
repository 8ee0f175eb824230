"""The `controller` and `safety` sections of a robot setup: validated at load, one-line errors.

Every limit and period must be a finite number inside what a UR5e can physically do, unknown
keys are errors, and the servo period is always the robot backend's: a different
`controller.servo_period` in a setup is an error (it would scale every speed).
"""

from __future__ import annotations

import math

from fdvla.config import ConfigError


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


def controller_settings(controller: dict | None, safety: dict | None, servo_period: float):
    """(ControllerConfig, SafetyLimits) for a backend that servos at `servo_period`."""
    from fdvla_drivers.control import ControllerConfig, SafetyLimits
    from fdvla_drivers.control.safety import LimitError

    d = dict(controller or {})
    d.pop("target_pose_rate", None)
    given = d.pop("servo_period", None)
    try:
        if given is not None:
            ControllerConfig.from_dict({"servo_period": given})  # finite, positive
            if abs(float(given) - servo_period) > 1e-9:
                raise LimitError(
                    f"controller.servo_period: {given:g} s differs from the robot backend's "
                    f"{servo_period:g} s; the servo period is always the backend's (remove the "
                    "key or set it to that value)")
        config = ControllerConfig.from_dict({**d, "servo_period": servo_period})
        limits = SafetyLimits.from_dict(safety)
    except (LimitError, TypeError) as e:
        raise ConfigError(str(e).splitlines()[0]) from None
    return config, limits


def validate_setup(cfg: dict) -> None:
    """Check the controller and safety sections of a merged setup (ConfigError naming the key)."""
    for section in ("controller", "safety"):
        if cfg.get(section) is not None and not isinstance(cfg.get(section), dict):
            raise ConfigError(f"{section}: must be a mapping, got {cfg.get(section)!r}")
    robot = cfg.get("robot") or {}
    period = backend_servo_period(robot) if isinstance(robot, dict) else None
    controller = _controller_dict(cfg.get("controller"))
    if period is None:  # unknown backend: its own error comes later; check the values alone
        period = controller.get("servo_period") or 0.002
    controller_settings(controller, cfg.get("safety"), period)


def controller_node(cls, robot, config, limits, **kw):
    """Build the controller node; a second controller on the domain is a one-line error."""
    from fdvla_drivers.nodes.common import DomainConflictError

    try:
        return cls(robot, config, limits, **kw)
    except DomainConflictError as e:
        raise ConfigError(str(e)) from None

