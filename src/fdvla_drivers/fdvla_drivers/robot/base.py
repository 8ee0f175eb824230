"""The robot backend interface. The controller and state nodes only ever talk to this."""

from __future__ import annotations

import abc

from fdvla_msgs.types import Pose, RobotState


class RobotBackendError(RuntimeError):
    """The backend cannot do what was asked; the message says what the operator should do."""


class RobotUnreachableError(RobotBackendError):
    """The robot (or its control script) cannot be reached."""


class RobotBackend(abc.ABC):
    """A 6-DoF arm with a TCP, servoed in Cartesian space.

    Threading: `read_state` may be called from any thread; `servo_tcp`, `begin_cycle` and
    `end_cycle` are called only from the controller's servo loop thread.
    """

    #: True if the backend measures a wrench (False on sensorless setups: `read_state().wrench`
    #: is then always None).
    has_wrench: bool = True
    #: The period the servo loop runs at, seconds (500 Hz on a UR e-Series).
    servo_period: float = 0.002

    @abc.abstractmethod
    def connect(self) -> None:
        """Open the connection; raise RobotUnreachableError with an actionable message."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop servoing and release the robot. Safe to call twice."""

    @abc.abstractmethod
    def read_state(self) -> RobotState:
        """The newest sample: q, qd, TCP pose, wrench (or None), fault flags, sampling time."""

    def begin_cycle(self) -> float:
        """Start one servo period; returns the cycle's start time. ur_rtde: initPeriod."""
        return 0.0

    def end_cycle(self, t_start: float) -> None:
        """Finish one servo period, sleeping until it is over. ur_rtde: waitPeriod."""

    @abc.abstractmethod
    def servo_tcp(self, target: Pose) -> None:
        """Command one servo step towards `target` (TCP in base). Called once per period."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop motion and hold the current pose (servoStop on a UR)."""

    #: Why the robot stopped by itself (protective stop cause), where the backend knows it.
    fault_reason: str = ""

    def contact_estimate(self) -> float | None:
        """Sensorless setups: estimated contact force at the TCP (N) from what the robot
        reports (servo tracking error, joint currents); None where the backend has none."""
        return None

    def clear_fault(self) -> str:
        """Clear a protective stop once its cause is gone (UR dashboard: unlockProtectiveStop).
        Returns what was done; raises RobotBackendError saying why it cannot."""
        raise RobotBackendError(f"{type(self).__name__} cannot clear faults remotely: use the "
                                "robot's own interface")

    @abc.abstractmethod
    def zero_ft_sensor(self) -> None:
        """Zero the force/torque sensor (no-op where there is none)."""

    def now(self) -> float:
        """The clock the backend stamps samples with (wall clock unless the sim says otherwise)."""
        import time

        return time.time()

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()
