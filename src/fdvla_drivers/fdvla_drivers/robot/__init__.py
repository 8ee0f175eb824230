"""Robot backends behind one interface (`RobotBackend`)."""

from fdvla_drivers.robot.base import RobotBackend, RobotBackendError, RobotUnreachableError

__all__ = ["RobotBackend", "RobotBackendError", "RobotUnreachableError", "has_wrench",
           "make_robot_backend"]


def has_wrench(settings: dict) -> bool:
    """Whether a setup's robot measures a wrench: its `robot.has_wrench` (read here only, so the
    graph, the recorder and the backend agree), by default the backends' own default."""
    return bool(settings.get("has_wrench", RobotBackend.has_wrench))


def make_robot_backend(kind: str, **kwargs) -> RobotBackend:
    """Build a backend by name: 'sim' or 'ur_rtde'. Vendor modules are imported lazily."""
    if kind == "sim":
        from fdvla_drivers.robot.sim_backend import SimRobotBackend

        return SimRobotBackend(**kwargs)
    if kind == "ur_rtde":
        from fdvla_drivers.robot.ur_rtde_backend import URRtdeBackend

        return URRtdeBackend(**kwargs)
    raise ValueError(f"unknown robot backend {kind!r}; expected 'sim' or 'ur_rtde'")
