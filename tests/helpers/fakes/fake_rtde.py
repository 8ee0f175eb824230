"""A fake of ur_rtde's Python API (the `rtde_control` and `rtde_receive` modules).

It stands in for the UR controller at the far end of the network, which cannot exist here. Names,
argument order and return types follow the ur_rtde 1.6.5 wheel; test_fake_matches_real_api checks
the names against the installed wheel so the fake cannot drift from it.

`FakeURController` is the robot: its attributes are what the pendant/controller would show, and
`calls` records every API call in order as (interface, method, args).
"""

from __future__ import annotations

import datetime
import threading
import time
import types
from dataclasses import dataclass, field
from typing import Optional

@dataclass
class FakeURController:
    reachable: bool = True
    remote_control: bool = True
    registers_in_use: bool = False
    robot_mode: int = 7  # RUNNING
    safety_mode: int = 1  # NORMAL
    program_running_after_upload: bool = True
    q: list = field(default_factory=lambda: [0.0, -1.57, 1.57, -1.57, -1.57, 0.0])
    qd: list = field(default_factory=lambda: [0.0] * 6)
    tcp_pose: list = field(default_factory=lambda: [0.3, -0.1, 0.4, 3.1416, 0.0, 0.0])
    #: Where the controller's servo aims (getTargetTCPPose); None: the actual pose.
    target_tcp_pose: Optional[list] = None
    #: Seconds the controller refuses an unlock after a protective stop (UR: 5 s).
    unlock_refused: bool = False
    tcp_force: list = field(default_factory=lambda: [1.0, -2.0, 3.0, 0.1, -0.2, 0.3])
    #: The controller's clock: seconds since it booted = host time - boot_time.
    boot_time: float = field(default_factory=lambda: time.time() - 1234.5)
    #: How old the newest RTDE sample is when it is read (seconds).
    sample_age: float = 0.0

    def __post_init__(self):
        self.calls: list = []
        self.lock = threading.Lock()
        self.program_running = False
        self.watchdog_frequency: Optional[float] = None

    def record(self, interface: str, method: str, *args) -> None:
        with self.lock:
            self.calls.append((interface, method, args))

    def methods(self, interface: Optional[str] = None) -> list:
        with self.lock:
            return [m for i, m, _ in self.calls if interface is None or i == interface]

    def calls_to(self, method: str) -> list:
        with self.lock:
            return [args for _, m, args in self.calls if m == method]

    @property
    def protective_stopped(self) -> bool:
        return self.safety_mode == 3

    @property
    def emergency_stopped(self) -> bool:
        return self.safety_mode in (6, 7)

    def protective_stop(self) -> None:
        """What a collision does: safety stop, and the control script ends."""
        self.safety_mode = 3
        self.program_running = False


_UNREACHABLE = "Error: Could not connect to: {} at 30004, verify the IP"  # ur_rtde 1.6.5's text


class _Flags:
    FLAG_UPLOAD_SCRIPT = 1
    FLAG_USE_EXT_UR_CAP = 2
    FLAG_VERBOSE = 4


def make_rtde_modules(robot: FakeURController):
    """(rtde_control, rtde_receive, dashboard_client) module objects talking to `robot`."""

    class RTDEReceiveInterface:
        def __init__(self, hostname, frequency=-1.0, variables=(), verbose=False,
                     use_upper_range_registers=False, rt_priority=0):
            robot.record("receive", "__init__", hostname, frequency)
            if not robot.reachable:
                raise RuntimeError(_UNREACHABLE.format(hostname))
            self._connected = True

        def _r(self, name, *args):
            robot.record("receive", name, *args)

        def getTimestamp(self) -> float:
            self._r("getTimestamp")
            return time.time() - robot.sample_age - robot.boot_time

        def getActualQ(self):
            self._r("getActualQ")
            return list(robot.q)

        def getActualQd(self):
            self._r("getActualQd")
            return list(robot.qd)

        def getActualTCPPose(self):
            self._r("getActualTCPPose")
            return list(robot.tcp_pose)

        def getTargetTCPPose(self):
            self._r("getTargetTCPPose")
            return list(robot.target_tcp_pose if robot.target_tcp_pose is not None
                        else robot.tcp_pose)

        def getActualTCPForce(self):
            self._r("getActualTCPForce")
            return list(robot.tcp_force)

        def isProtectiveStopped(self) -> bool:
            self._r("isProtectiveStopped")
            return robot.protective_stopped

        def isEmergencyStopped(self) -> bool:
            self._r("isEmergencyStopped")
            return robot.emergency_stopped

        def getRobotMode(self) -> int:
            self._r("getRobotMode")
            return robot.robot_mode

        def getSafetyMode(self) -> int:
            self._r("getSafetyMode")
            return robot.safety_mode

        def getRobotStatus(self) -> int:
            self._r("getRobotStatus")
            return 1 | (2 if robot.program_running else 0)

        def isConnected(self) -> bool:
            return self._connected

        def disconnect(self) -> None:
            self._r("disconnect")
            self._connected = False

    class RTDEControlInterface(_Flags):
        def __init__(self, hostname, frequency=-1.0, flags=1, ur_cap_port=50002, rt_priority=0):
            robot.record("control", "__init__", hostname, frequency, flags, ur_cap_port)
            if not robot.reachable:
                raise RuntimeError(_UNREACHABLE.format(hostname))
            if not robot.remote_control:
                raise RuntimeError("ur_rtde: Please enable remote control on the robot!")
            if robot.registers_in_use:
                raise RuntimeError(
                    "One of the RTDE input registers are already in use! Currently you must "
                    "disable the EtherNet/IP adapter, PROFINET or any MODBUS unit configured on "
                    "the robot. This might change in the future.")
            robot.program_running = robot.program_running_after_upload
            self._connected = True
            self._period = datetime.timedelta(seconds=1.0 / frequency if frequency > 0 else 0.002)

        def _r(self, name, *args):
            robot.record("control", name, *args)

        def _command(self, name, *args) -> bool:
            self._r(name, *args)
            return robot.program_running and robot.safety_mode in (1, 2)

        def isProgramRunning(self) -> bool:
            self._r("isProgramRunning")
            return robot.program_running

        def reuploadScript(self) -> bool:
            self._r("reuploadScript")
            if robot.safety_mode in (1, 2):
                robot.program_running = True
            return robot.program_running

        def setTcp(self, tcp_offset) -> bool:
            return self._command("setTcp", list(tcp_offset))

        def setPayload(self, mass, cog) -> bool:
            return self._command("setPayload", mass, list(cog))

        def setWatchdog(self, min_frequency=10.0) -> bool:
            robot.watchdog_frequency = min_frequency
            return self._command("setWatchdog", min_frequency)

        def kickWatchdog(self) -> bool:
            return self._command("kickWatchdog")

        def initPeriod(self) -> datetime.timedelta:
            self._r("initPeriod")
            return datetime.timedelta(seconds=time.monotonic())

        def waitPeriod(self, t_cycle_start: datetime.timedelta) -> None:
            if not isinstance(t_cycle_start, datetime.timedelta):
                raise TypeError("waitPeriod(): incompatible function arguments")
            self._r("waitPeriod", t_cycle_start)
            remaining = (t_cycle_start + self._period).total_seconds() - time.monotonic()
            if remaining > 0:
                time.sleep(remaining)

        def servoL(self, pose, speed, acceleration, time_, lookahead_time, gain) -> bool:
            if len(pose) != 6:
                raise TypeError("servoL(): pose must have 6 elements")
            return self._command("servoL", list(pose), speed, acceleration, time_,
                                 lookahead_time, gain)

        def servoStop(self, a=10.0) -> bool:
            return self._command("servoStop", a)

        def zeroFtSensor(self) -> bool:
            return self._command("zeroFtSensor")

        def stopScript(self) -> None:
            self._r("stopScript")
            robot.program_running = False

        def isConnected(self) -> bool:
            return self._connected

        def disconnect(self) -> None:
            self._r("disconnect")
            self._connected = False

    class DashboardClient:
        def __init__(self, hostname, port=29999, verbose=False):
            robot.record("dashboard", "__init__", hostname, port)
            self._host = hostname
            self._connected = False

        def connect(self, timeout_ms=2000) -> None:
            robot.record("dashboard", "connect")
            if not robot.reachable:
                raise RuntimeError(f"Failed to connect to {self._host}:29999")
            self._connected = True

        def closeSafetyPopup(self) -> None:
            robot.record("dashboard", "closeSafetyPopup")

        def unlockProtectiveStop(self) -> None:
            robot.record("dashboard", "unlockProtectiveStop")
            if robot.protective_stopped and not robot.unlock_refused:
                robot.safety_mode = 1

        def disconnect(self) -> None:
            robot.record("dashboard", "disconnect")
            self._connected = False

    control = types.ModuleType("rtde_control")
    control.RTDEControlInterface = RTDEControlInterface
    receive = types.ModuleType("rtde_receive")
    receive.RTDEReceiveInterface = RTDEReceiveInterface
    dashboard = types.ModuleType("dashboard_client")
    dashboard.DashboardClient = DashboardClient
    return control, receive, dashboard


def fake_method_names() -> dict:
    """Public method names the fake implements, per class, for the API drift check."""
    control, receive, dashboard = make_rtde_modules(FakeURController())
    names = {}
    for cls in (control.RTDEControlInterface, receive.RTDEReceiveInterface,
                dashboard.DashboardClient):
        names[cls.__name__] = sorted(n for n, v in vars(cls).items()
                                     if callable(v) and not n.startswith("_"))
    names["RTDEControlInterface"] += [n for n in vars(_Flags) if n.startswith("FLAG_")]
    return names
