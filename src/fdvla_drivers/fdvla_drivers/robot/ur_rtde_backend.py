"""The UR e-Series backend over ur_rtde (RTDE receive + RTDE control, servoL at 500 Hz).

ur_rtde facts this module relies on (checked against the ur_rtde 1.6.5 wheel):
- `RTDEReceiveInterface(hostname, frequency)` and `RTDEControlInterface(hostname, frequency,
  flags, ur_cap_port)` raise RuntimeError when the controller cannot be reached or refuses
  (e.g. "Please enable remote control on the robot!").
- `initPeriod()` returns a steady-clock time point (a datetime.timedelta in Python) that
  `waitPeriod()` takes back; between the two one servo command is sent.
- `servoL(pose, speed, acceleration, time, lookahead_time, gain)` returns False when the control
  script is not running or the robot is protective/emergency stopped.
- The control script's watchdog (`setWatchdog(f)`) watches input_int_register_0, which every
  command (servoL included) updates, so `kickWatchdog()` is only needed while idle. A kick is a
  full command round trip, so kicking inside the 2 ms servo cycle would cost the cycle.
- Control-interface calls are not safe to interleave from several threads: they are serialised
  here by one lock. Receive-interface getters read a cache filled by ur_rtde's own thread.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from fdvla_msgs.types import Pose, RobotState

from ..device_clock import DeviceClockMapper
from .base import RobotBackend, RobotBackendError, RobotUnreachableError

log = logging.getLogger(__name__)

# Robot modes (RTDE robot_mode) and safety modes (RTDE safety_mode), UR e-Series.
ROBOT_MODES = {
    -1: "NO_CONTROLLER", 0: "DISCONNECTED", 1: "CONFIRM_SAFETY", 2: "BOOTING", 3: "POWER_OFF",
    4: "POWER_ON", 5: "IDLE", 6: "BACKDRIVE", 7: "RUNNING", 8: "UPDATING_FIRMWARE",
}
ROBOT_MODE_RUNNING = 7
SAFETY_MODES = {
    1: "NORMAL", 2: "REDUCED", 3: "PROTECTIVE_STOP", 4: "RECOVERY", 5: "SAFEGUARD_STOP",
    6: "SYSTEM_EMERGENCY_STOP", 7: "ROBOT_EMERGENCY_STOP", 8: "VIOLATION", 9: "FAULT",
    10: "VALIDATE_JOINT_ID", 11: "UNDEFINED_SAFETY_MODE", 12: "AUTOMATIC_MODE_SAFEGUARD_STOP",
    13: "SYSTEM_THREE_POSITION_ENABLING_STOP",
}
_SAFETY_MOTION_ALLOWED = {1, 2}
_SAFETY_EMERGENCY = {6, 7}
# robot_status bit 1: a program (our control script) is running.
_ROBOT_STATUS_PROGRAM_RUNNING = 1 << 1

_NETWORK_HINT = (
    "Check that the controller is powered on and booted, that `ping {host}` answers, that this "
    "PC is on the robot's subnet (the robot's IP is on the teach pendant under Settings > System "
    "> Network) and that no firewall blocks TCP ports 30001-30004."
)
_REMOTE_CONTROL_HINT = (
    "Enable Remote Control on the teach pendant (Settings > System > Remote Control > Enable), "
    "then switch the pendant from Local to Remote mode with the icon at its top right."
)
_OTHER_CLIENT_HINT = (
    "Another client holds the robot: stop the External Control URCap program on the pendant, "
    "any ROS ur_robot_driver or second fdvla process, and disable EtherNet/IP, PROFINET and "
    "MODBUS units (Installation > Fieldbus) that use the RTDE input registers."
)


class RobotFaultError(RobotBackendError):
    """The robot is in a protective/emergency stop or its control script stopped; motion refused."""


def _load_rtde_modules():
    try:
        import rtde_control
        import rtde_receive
    except ImportError as err:
        raise RobotBackendError(
            f"ur_rtde is not importable ({err}). Install it with "
            "`pip install -r requirements/hardware.txt` (ur_rtde==1.6.5).") from err
    return rtde_control, rtde_receive


def _as_ur_pose(value: Union[Pose, Sequence[float]]) -> list:
    if isinstance(value, Pose):
        return value.to_ur()
    vec = [float(v) for v in value]
    if len(vec) != 6:
        raise ValueError(f"a UR pose has 6 elements [x, y, z, rx, ry, rz], got {len(vec)}")
    return vec


class URRtdeBackend(RobotBackend):
    """A UR e-Series arm servoed with servoL over ur_rtde.

    tcp_offset: flange -> TCP (Pose or UR [x, y, z, rx, ry, rz]); None keeps the pendant's TCP.
    payload: (mass kg, centre of gravity [x, y, z] m from the flange); None keeps the pendant's.
    has_wrench: False on a sensorless setup (state.wrench is then None and zeroing is a no-op).
    servo_lookahead, servo_gain: servoL smoothing time [0.03, 0.2] s and gain [100, 2000].
    max_servo_speed, max_servo_accel: passed to servoL (ur_rtde 1.6 ignores them; kept so a
        later version that honours them is bounded).
    watchdog_frequency: the control script stops the arm if no command reaches it for
        1/watchdog_frequency s (our process died or hung); None disables it.
    flags: RTDEControlInterface flags: an int, a flag name or a list of names, e.g.
        ["FLAG_UPLOAD_SCRIPT", "FLAG_VERBOSE"] (None: FLAG_UPLOAD_SCRIPT, ur_rtde's default).
    rtde_modules: (rtde_control, rtde_receive[, dashboard_client]) modules; None imports
        ur_rtde's.
    contact_stiffness: N/m; sensorless setups estimate contact as this times the servo
        tracking error (measure it on the cell; None: no estimate).
    """

    def __init__(
        self,
        host: str,
        frequency: float = 500.0,
        tcp_offset: Union[Pose, Sequence[float], None] = None,
        payload: Optional[Tuple[float, Sequence[float]]] = None,
        has_wrench: bool = RobotBackend.has_wrench,
        servo_lookahead: float = 0.1,
        servo_gain: float = 300.0,
        max_servo_speed: float = 0.25,
        max_servo_accel: float = 1.2,
        stop_decel: float = 10.0,
        contact_stiffness: Optional[float] = None,
        watchdog_frequency: Optional[float] = 10.0,
        flags: Union[int, str, Sequence[str], None] = None,
        ur_cap_port: int = 50002,
        rtde_modules=None,
    ):
        if not 0.03 <= servo_lookahead <= 0.2:
            raise ValueError(f"servo_lookahead must be in [0.03, 0.2] s, got {servo_lookahead}")
        if not 100 <= servo_gain <= 2000:
            raise ValueError(f"servo_gain must be in [100, 2000], got {servo_gain}")
        if frequency <= 0:
            raise ValueError(f"frequency must be positive, got {frequency}")
        if watchdog_frequency is not None and watchdog_frequency <= 0:
            raise ValueError("watchdog_frequency must be positive (or None to disable it)")
        self.host = host
        self.frequency = float(frequency)
        self.servo_period = 1.0 / self.frequency
        self.tcp_offset = None if tcp_offset is None else _as_ur_pose(tcp_offset)
        self.payload = payload
        self.has_wrench = bool(has_wrench)
        self.servo_lookahead = float(servo_lookahead)
        self.servo_gain = float(servo_gain)
        self.max_servo_speed = float(max_servo_speed)
        self.max_servo_accel = float(max_servo_accel)
        self.stop_decel = float(stop_decel)
        if contact_stiffness is not None and not contact_stiffness > 0:
            raise ValueError(f"contact_stiffness must be positive, got {contact_stiffness}")
        self.contact_stiffness = None if contact_stiffness is None else float(contact_stiffness)
        self.watchdog_frequency = watchdog_frequency
        self.flags = flags
        self.ur_cap_port = int(ur_cap_port)
        self._modules = rtde_modules
        self._control = None
        self._receive = None
        self._control_lock = threading.Lock()
        self._clock = DeviceClockMapper()
        self._last_command = 0.0  # time.monotonic() of the last command the script received
        self._keepalive: Optional[threading.Thread] = None
        self._keepalive_stop = threading.Event()

    # ------------------------------------------------------------------ connection

    @property
    def connected(self) -> bool:
        return self._control is not None

    def connect(self) -> None:
        if self._control is not None:
            return
        control_mod, receive_mod = (self._modules or _load_rtde_modules())[:2]
        receive = self._open_receive(receive_mod)
        try:
            self._check_ready_to_control(receive)
            control = self._open_control(control_mod)
            try:
                if not control.isProgramRunning():
                    raise RobotUnreachableError(
                        f"Connected to the UR at {self.host}, but the ur_rtde control script is "
                        "not running on the controller. " + _REMOTE_CONTROL_HINT + " "
                        + _OTHER_CLIENT_HINT
                        + " The pendant's log tab says why the script stopped.")
                self._configure(control)
            except BaseException:
                self._release(control, receive=None, stop_motion=False)
                raise
        except BaseException:
            self._release(None, receive, stop_motion=False)
            raise
        self._receive, self._control = receive, control
        self._clock.reset()
        self._last_command = time.monotonic()
        if self.watchdog_frequency is not None:
            self._keepalive_stop.clear()
            self._keepalive = threading.Thread(
                target=self._keep_watchdog_alive, name="ur-watchdog-keepalive", daemon=True)
            self._keepalive.start()
        log.info("connected to UR at %s (%.0f Hz, watchdog %s)", self.host, self.frequency,
                 self.watchdog_frequency)

    def _open_receive(self, receive_mod):
        try:
            return receive_mod.RTDEReceiveInterface(self.host, self.frequency)
        except RuntimeError as err:
            raise RobotUnreachableError(
                f"Cannot reach the UR controller at {self.host} over RTDE (port 30004): {err}. "
                + _NETWORK_HINT.format(host=self.host)) from err

    def _check_ready_to_control(self, receive) -> None:
        mode = int(receive.getRobotMode())
        if mode != ROBOT_MODE_RUNNING:
            raise RobotUnreachableError(
                f"The UR at {self.host} is reachable but the arm is not running (robot mode "
                f"{ROBOT_MODES.get(mode, mode)}): power it on and release the brakes on the teach "
                "pendant (Initialize screen: ON, then START).")
        if receive.isEmergencyStopped():
            raise RobotUnreachableError(
                f"The UR at {self.host} is emergency stopped: release the emergency stop button, "
                "then reset the robot on the teach pendant before connecting.")
        if receive.isProtectiveStopped():
            raise RobotUnreachableError(
                f"The UR at {self.host} is in a protective stop: find the cause, then unlock the "
                "protective stop on the teach pendant before connecting.")

    def _open_control(self, control_mod):
        cls = control_mod.RTDEControlInterface
        flags = self._resolve_flags(cls)
        try:
            return cls(self.host, self.frequency, flags, self.ur_cap_port)
        except RuntimeError as err:
            text = str(err)
            if "remote control" in text.lower():
                hint = _REMOTE_CONTROL_HINT
            elif "register" in text.lower():
                hint = _OTHER_CLIENT_HINT
            elif "connect" in text.lower() or "timeout" in text.lower():
                hint = _NETWORK_HINT.format(host=self.host) + " " + _REMOTE_CONTROL_HINT
            else:
                hint = _REMOTE_CONTROL_HINT + " " + _OTHER_CLIENT_HINT
            raise RobotUnreachableError(
                f"Cannot take control of the UR at {self.host}: {text}. {hint}") from err

    def _resolve_flags(self, cls) -> int:
        """flags as an int, a flag name ("FLAG_USE_EXT_UR_CAP") or a list of names (YAML)."""
        if self.flags is None:
            return int(cls.FLAG_UPLOAD_SCRIPT)
        names = [self.flags] if isinstance(self.flags, (str, int)) else list(self.flags)
        value = 0
        for name in names:
            if isinstance(name, str):
                if not hasattr(cls, name):
                    raise ValueError(f"unknown RTDEControlInterface flag {name!r}")
                value |= int(getattr(cls, name))
            else:
                value |= int(name)
        return value

    def _configure(self, control) -> None:
        if self.tcp_offset is not None and not control.setTcp(self.tcp_offset):
            raise RobotBackendError(f"setTcp({self.tcp_offset}) was refused by the controller")
        if self.payload is not None:
            mass, cog = self.payload
            if not control.setPayload(float(mass), [float(c) for c in cog]):
                raise RobotBackendError(f"setPayload({mass}, {list(cog)}) was refused")
        if self.watchdog_frequency is not None and not control.setWatchdog(
                float(self.watchdog_frequency)):
            raise RobotBackendError("setWatchdog was refused by the ur_rtde control script")

    def close(self) -> None:
        if self._control is None and self._receive is None:
            return
        self._keepalive_stop.set()
        if self._keepalive is not None and self._keepalive is not threading.current_thread():
            self._keepalive.join(timeout=2.0)
        self._keepalive = None
        control, receive = self._control, self._receive
        self._control = self._receive = None
        self._release(control, receive, stop_motion=True)

    def _release(self, control, receive, stop_motion: bool) -> None:
        """servoStop, then stopScript, then disconnect; every step tried even if one fails."""
        if control is not None:
            with self._control_lock:
                steps = ((control.servoStop, (self.stop_decel,)),) if stop_motion else ()
                steps += ((control.stopScript, ()), (control.disconnect, ()))
                for step, args in steps:
                    try:
                        step(*args)
                    except Exception as err:  # keep releasing: a half-released robot is worse
                        log.warning("UR %s during release failed: %s", step.__name__, err)
        if receive is not None:
            try:
                receive.disconnect()
            except Exception as err:
                log.warning("UR receive disconnect failed: %s", err)

    # ------------------------------------------------------------------ watchdog

    def _keep_watchdog_alive(self) -> None:
        """Kick the watchdog only while the servo loop is idle (servoL itself feeds it)."""
        idle_after = 0.5 / float(self.watchdog_frequency)
        while not self._keepalive_stop.wait(idle_after / 2.0):
            control = self._control
            if control is None:
                return
            if time.monotonic() - self._last_command < idle_after:
                continue
            with self._control_lock:
                if self._control is None:
                    return
                try:
                    control.kickWatchdog()
                    self._last_command = time.monotonic()
                except Exception as err:
                    log.warning("UR kickWatchdog failed: %s", err)

    # ------------------------------------------------------------------ state

    def _require(self):
        if self._control is None or self._receive is None:
            raise RobotBackendError("the UR backend is not connected: call connect() first")
        return self._control, self._receive

    def read_state(self) -> RobotState:
        receive = self._receive
        if receive is None:
            raise RobotBackendError("the UR backend is not connected: call connect() first")
        # Read the controller timestamp first: the other fields come from the same or a newer
        # RTDE packet (2 ms apart at most), and the stamp must not be later than the sample.
        controller_time = float(receive.getTimestamp())
        stamp = self._clock.to_host(controller_time, self.now())
        q = np.asarray(receive.getActualQ(), dtype=np.float64)
        qd = np.asarray(receive.getActualQd(), dtype=np.float64)
        tcp = Pose.from_ur(receive.getActualTCPPose())
        wrench = (np.asarray(receive.getActualTCPForce(), dtype=np.float64)
                  if self.has_wrench else None)
        protective, emergency = self._stop_flags(receive)
        status = int(receive.getRobotStatus())
        return RobotState(
            stamp=stamp, q=q, qd=qd, tcp_pose=tcp, wrench=wrench,
            protective_stop=protective, emergency_stop=emergency,
            program_running=bool(status & _ROBOT_STATUS_PROGRAM_RUNNING),
        )

    @staticmethod
    def _stop_flags(receive) -> Tuple[bool, bool]:
        """(protective-type stop, emergency stop), from the flags and the safety mode."""
        safety = int(receive.getSafetyMode())
        emergency = bool(receive.isEmergencyStopped()) or safety in _SAFETY_EMERGENCY
        protective = bool(receive.isProtectiveStopped()) or (
            safety not in _SAFETY_MOTION_ALLOWED and safety not in _SAFETY_EMERGENCY)
        return protective, emergency

    def modes(self) -> dict:
        """Robot and safety mode names, for diagnostics."""
        _, receive = self._require()
        robot, safety = int(receive.getRobotMode()), int(receive.getSafetyMode())
        return {"robot_mode": ROBOT_MODES.get(robot, str(robot)),
                "safety_mode": SAFETY_MODES.get(safety, str(safety))}

    # ------------------------------------------------------------------ motion

    def begin_cycle(self) -> float:
        control, _ = self._require()
        return control.initPeriod().total_seconds()

    def end_cycle(self, t_start: float) -> None:
        control, _ = self._require()
        control.waitPeriod(datetime.timedelta(seconds=t_start))

    def servo_tcp(self, target: Pose) -> None:
        control, receive = self._require()
        if not target.is_finite():
            raise ValueError(f"refusing to servo to a non-finite pose {target}")
        self._refuse_if_faulted(receive)
        with self._control_lock:
            accepted = control.servoL(target.to_ur(), self.max_servo_speed, self.max_servo_accel,
                                      self.servo_period, self.servo_lookahead, self.servo_gain)
            self._last_command = time.monotonic()
        if not accepted:
            self._refuse_if_faulted(receive)
            raise RobotFaultError(
                f"servoL was refused by the UR at {self.host}: the control script is not running "
                "(it stops after a protective stop, when the pendant takes over, or when another "
                "client connects). Check the pendant, then reconnect.")

    def _refuse_if_faulted(self, receive) -> None:
        protective, emergency = self._stop_flags(receive)
        if emergency:
            raise RobotFaultError(
                f"the UR at {self.host} is emergency stopped; motion refused. Release the "
                "emergency stop, reset the robot on the pendant, then reconnect.")
        if protective:
            safety = int(receive.getSafetyMode())
            raise RobotFaultError(
                f"the UR at {self.host} is stopped by its safety system "
                f"({SAFETY_MODES.get(safety, safety)}); motion refused. Clear the cause, unlock "
                "the stop on the pendant, then reconnect.")

    def stop(self) -> None:
        control = self._control
        if control is None:
            return
        with self._control_lock:
            control.servoStop(self.stop_decel)
            self._last_command = time.monotonic()

    # ------------------------------------------------------------------ faults

    @property
    def fault_reason(self) -> str:
        receive = self._receive
        if receive is None:
            return ""
        protective, emergency = self._stop_flags(receive)
        if not (protective or emergency):
            return ""
        safety = int(receive.getSafetyMode())
        return f"UR safety mode {SAFETY_MODES.get(safety, safety)}"

    def clear_fault(self) -> str:
        """Unlock a protective stop over the dashboard server (port 29999), as the pendant's
        unlock does, then restart the control script (a protective stop ends it)."""
        control, receive = self._require()
        protective, emergency = self._stop_flags(receive)
        if emergency:
            raise RobotBackendError(f"the UR at {self.host} is emergency stopped: release the "
                                    "button and reset it on the pendant; it cannot be cleared "
                                    "remotely")
        if protective:
            dashboard = self._dashboard_module().DashboardClient(self.host)
            try:
                dashboard.connect()
                dashboard.closeSafetyPopup()
                reply = dashboard.unlockProtectiveStop()
            except RuntimeError as err:
                raise RobotBackendError(f"cannot reach the UR dashboard server at {self.host}:"
                                        f"29999: {err}") from err
            finally:
                try:
                    dashboard.disconnect()
                except Exception:
                    pass
            if self._stop_flags(receive)[0]:
                raise RobotBackendError(
                    f"the UR at {self.host} is still protective-stopped ({reply}): a stop can be "
                    "unlocked only 5 s after it happened and once its cause is gone")
        if not control.isProgramRunning():
            with self._control_lock:
                if not control.reuploadScript():
                    raise RobotBackendError(f"the UR at {self.host} refused to restart the "
                                            "ur_rtde control script; check the pendant")
                self._last_command = time.monotonic()
        return "protective stop unlocked" if protective else "no protective stop to clear"

    def _dashboard_module(self):
        if self._modules is not None and len(self._modules) > 2:
            return self._modules[2]
        try:
            import dashboard_client
        except ImportError as err:
            raise RobotBackendError(f"ur_rtde's dashboard_client is not importable ({err})") \
                from err
        return dashboard_client

    def contact_estimate(self) -> Optional[float]:
        """Sensorless: contact_stiffness (N/m, measured on the cell) times the servo tracking
        error |target TCP - actual TCP|; None when no stiffness is configured."""
        receive = self._receive
        if self.contact_stiffness is None or receive is None:
            return None
        target = np.asarray(receive.getTargetTCPPose()[:3], dtype=np.float64)
        actual = np.asarray(receive.getActualTCPPose()[:3], dtype=np.float64)
        return float(self.contact_stiffness * np.linalg.norm(target - actual))

    def zero_ft_sensor(self) -> None:
        if not self.has_wrench:
            return
        control, _ = self._require()
        with self._control_lock:
            ok = control.zeroFtSensor()
            self._last_command = time.monotonic()
        if not ok:
            raise RobotBackendError(
                f"zeroFtSensor was refused by the UR at {self.host} (control script not running?)")
