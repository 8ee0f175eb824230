"""URRtdeBackend against a fake of ur_rtde's API (the UR controller cannot exist here)."""

from __future__ import annotations

import datetime
import sys
import time

import numpy as np
import pytest

from fdvla_drivers.robot.base import RobotBackendError, RobotUnreachableError
from fdvla_drivers.robot.ur_rtde_backend import RobotFaultError, URRtdeBackend
from fdvla_msgs.types import Pose

from helpers.fakes.fake_rtde import FakeURController, fake_method_names, make_rtde_modules

HOST = "192.168.1.102"


@pytest.fixture
def robot():
    return FakeURController(tcp_pose=[0.3, -0.1, 0.4, 2.0, 0.5, 0.1])


def make_backend(robot, **kwargs) -> URRtdeBackend:
    kwargs.setdefault("watchdog_frequency", None)
    return URRtdeBackend(HOST, rtde_modules=make_rtde_modules(robot), **kwargs)


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def test_fake_matches_real_api():
    import dashboard_client
    import rtde_control
    import rtde_receive

    real = {"RTDEControlInterface": rtde_control.RTDEControlInterface,
            "RTDEReceiveInterface": rtde_receive.RTDEReceiveInterface,
            "DashboardClient": dashboard_client.DashboardClient}
    for cls_name, names in fake_method_names().items():
        missing = [n for n in names if not hasattr(real[cls_name], n)]
        assert not missing, f"the fake {cls_name} has methods ur_rtde lacks: {missing}"


def test_connect_configures_robot_in_order(robot):
    tcp = [0.0, 0.0, 0.15, 0.0, 0.0, 0.0]
    backend = make_backend(robot, tcp_offset=tcp, payload=(1.2, [0.0, 0.0, 0.05]),
                           watchdog_frequency=10.0)
    backend.connect()
    try:
        methods = robot.methods()
        assert methods.index("__init__") < methods.index("getRobotMode")  # receive first
        control_init = [c for c in robot.calls if c[0] == "control" and c[1] == "__init__"]
        assert control_init == [("control", "__init__", (HOST, 500.0, 1, 50002))]
        order = [m for m in robot.methods("control")
                 if m in ("__init__", "isProgramRunning", "setTcp", "setPayload", "setWatchdog")]
        assert order == ["__init__", "isProgramRunning", "setTcp", "setPayload", "setWatchdog"]
        assert robot.calls_to("setTcp") == [(tcp,)]
        assert robot.calls_to("setPayload") == [(1.2, [0.0, 0.0, 0.05])]
        assert robot.watchdog_frequency == 10.0
    finally:
        backend.close()


def test_flags_by_name_from_yaml(robot):
    backend = make_backend(robot, flags=["FLAG_UPLOAD_SCRIPT", "FLAG_VERBOSE"])
    backend.connect()
    backend.close()
    (_, _, flags, _), = [args for i, m, args in robot.calls if (i, m) == ("control", "__init__")]
    assert flags == 1 | 4
    with pytest.raises(ValueError, match="FLAG_NOPE"):
        make_backend(robot, flags="FLAG_NOPE").connect()


def test_tcp_offset_accepts_a_pose(robot):
    offset = Pose([0.0, 0.0, 0.2], [0.0, 0.0, np.sin(0.25), np.cos(0.25)])
    backend = make_backend(robot, tcp_offset=offset)
    backend.connect()
    backend.close()
    (sent,), = robot.calls_to("setTcp")
    np.testing.assert_allclose(sent, [0.0, 0.0, 0.2, 0.0, 0.0, 0.5], atol=1e-12)


def test_servo_cycle_is_init_servol_wait(robot):
    backend = make_backend(robot, servo_lookahead=0.05, servo_gain=500)
    backend.connect()
    targets = [Pose([0.3, -0.1, 0.4 + 0.001 * i], [1.0, 0.0, 0.0, 0.0]) for i in range(5)]
    for target in targets:
        t0 = backend.begin_cycle()
        assert isinstance(t0, float)
        backend.servo_tcp(target)
        backend.end_cycle(t0)
    backend.close()

    cycle = [m for m in robot.methods("control") if m in ("initPeriod", "servoL", "waitPeriod")]
    assert cycle == ["initPeriod", "servoL", "waitPeriod"] * len(targets)
    sent = robot.calls_to("servoL")
    for target, (pose, speed, accel, dt, lookahead, gain) in zip(targets, sent):
        np.testing.assert_allclose(pose, target.to_ur())
        assert dt == pytest.approx(0.002)
        assert (lookahead, gain) == (0.05, 500)
    # waitPeriod gets back the time point initPeriod produced, as a timedelta.
    assert all(isinstance(t, datetime.timedelta) for (t,) in robot.calls_to("waitPeriod"))


def test_close_stops_servo_then_script_then_disconnects_and_is_idempotent(robot):
    backend = make_backend(robot)
    backend.connect()
    backend.servo_tcp(Pose([0.3, -0.1, 0.4]))
    backend.close()
    tail = [(i, m) for i, m, _ in robot.calls
            if m in ("servoStop", "stopScript", "disconnect")]
    assert tail == [("control", "servoStop"), ("control", "stopScript"),
                    ("control", "disconnect"), ("receive", "disconnect")]
    n_calls = len(robot.calls)
    backend.close()
    assert len(robot.calls) == n_calls
    with pytest.raises(RobotBackendError, match="not connected"):
        backend.servo_tcp(Pose([0.3, -0.1, 0.4]))


def test_context_manager_releases_the_robot(robot):
    with make_backend(robot) as backend:
        backend.servo_tcp(Pose([0.3, -0.1, 0.4]))
    assert not robot.program_running
    assert ("control", "stopScript", ()) in robot.calls


def test_stop_is_servo_stop(robot):
    backend = make_backend(robot, stop_decel=4.0)
    backend.connect()
    backend.stop()
    assert robot.calls_to("servoStop") == [(4.0,)]
    backend.close()


def test_unreachable_robot_gives_network_hints(robot):
    robot.reachable = False
    backend = make_backend(robot)
    with pytest.raises(RobotUnreachableError) as info:
        backend.connect()
    text = str(info.value)
    assert HOST in text and f"ping {HOST}" in text and "verify the IP" in text
    assert "control" not in robot.methods() or ("control", "__init__") not in [
        (i, m) for i, m, _ in robot.calls]
    assert not backend.connected


def test_remote_control_disabled_says_how_to_enable_it(robot):
    robot.remote_control = False
    backend = make_backend(robot)
    with pytest.raises(RobotUnreachableError, match="Enable Remote Control on the teach pendant"):
        backend.connect()
    assert ("receive", "disconnect", ()) in robot.calls  # nothing left open


def test_registers_in_use_names_the_other_client(robot):
    robot.registers_in_use = True
    with pytest.raises(RobotUnreachableError, match="External Control URCap"):
        make_backend(robot).connect()


def test_control_script_not_running_is_refused_and_released(robot):
    robot.program_running_after_upload = False
    backend = make_backend(robot)
    with pytest.raises(RobotUnreachableError, match="control script is not running"):
        backend.connect()
    assert robot.methods("control")[-2:] == ["stopScript", "disconnect"]
    assert robot.methods("receive")[-1] == "disconnect"
    assert not backend.connected


def test_powered_off_arm_is_reported_before_taking_control(robot):
    robot.robot_mode = 3
    with pytest.raises(RobotUnreachableError, match="POWER_OFF.*brakes"):
        make_backend(robot).connect()
    assert "__init__" not in robot.methods("control")


def test_protective_stop_at_connect_is_reported(robot):
    robot.safety_mode = 3
    with pytest.raises(RobotUnreachableError, match="protective stop"):
        make_backend(robot).connect()


def test_protective_stop_refuses_servo_and_shows_in_state(robot):
    backend = make_backend(robot)
    backend.connect()
    backend.servo_tcp(Pose([0.3, -0.1, 0.4]))
    assert not backend.read_state().faulted
    robot.protective_stop()
    with pytest.raises(RobotFaultError, match="PROTECTIVE_STOP"):
        backend.servo_tcp(Pose([0.3, -0.1, 0.41]))
    assert len(robot.calls_to("servoL")) == 1
    state = backend.read_state()
    assert state.protective_stop and not state.emergency_stop
    assert not state.program_running and state.faulted
    assert backend.modes()["safety_mode"] == "PROTECTIVE_STOP"
    backend.close()


def test_clear_fault_unlocks_over_the_dashboard_and_restarts_the_script(robot):
    backend = make_backend(robot)
    backend.connect()
    robot.protective_stop()
    assert "PROTECTIVE_STOP" in backend.fault_reason
    robot.unlock_refused = True  # within the UR's 5 s, or the cause is still there
    with pytest.raises(RobotBackendError, match="still protective-stopped"):
        backend.clear_fault()
    robot.unlock_refused = False
    assert "unlocked" in backend.clear_fault()
    assert robot.methods("dashboard")[-3:] == ["closeSafetyPopup", "unlockProtectiveStop",
                                               "disconnect"]
    assert "reuploadScript" in robot.methods("control")
    state = backend.read_state()
    assert not state.faulted and backend.fault_reason == ""
    backend.servo_tcp(Pose([0.3, -0.1, 0.4]))  # moves again
    backend.close()


def test_clear_fault_refuses_an_emergency_stop(robot):
    backend = make_backend(robot)
    backend.connect()
    robot.safety_mode = 7
    with pytest.raises(RobotBackendError, match="emergency"):
        backend.clear_fault()
    assert "unlockProtectiveStop" not in robot.methods("dashboard")
    backend.close()


def test_sensorless_contact_estimate_from_tracking_error(robot):
    backend = make_backend(robot, has_wrench=False, contact_stiffness=20000.0)
    backend.connect()
    assert backend.contact_estimate() == 0.0
    robot.target_tcp_pose = list(robot.tcp_pose)
    robot.target_tcp_pose[2] -= 0.003  # the servo aims 3 mm into a surface it cannot pass
    assert backend.contact_estimate() == pytest.approx(60.0)
    assert make_backend(robot, has_wrench=False).contact_estimate() is None
    backend.close()


def test_emergency_stop_refuses_servo_and_shows_in_state(robot):
    backend = make_backend(robot)
    backend.connect()
    robot.safety_mode = 7
    with pytest.raises(RobotFaultError, match="emergency stop"):
        backend.servo_tcp(Pose([0.3, -0.1, 0.4]))
    assert robot.calls_to("servoL") == []
    state = backend.read_state()
    assert state.emergency_stop and state.faulted
    backend.close()


def test_servol_refused_when_script_stopped(robot):
    backend = make_backend(robot)
    backend.connect()
    robot.program_running = False  # e.g. the pendant started another program
    with pytest.raises(RobotFaultError, match="control script is not running"):
        backend.servo_tcp(Pose([0.3, -0.1, 0.4]))
    backend.close()


def test_non_finite_target_is_never_sent(robot):
    backend = make_backend(robot)
    backend.connect()
    with pytest.raises(ValueError):
        backend.servo_tcp(Pose([0.3, np.nan, 0.4]))
    assert robot.calls_to("servoL") == []
    backend.close()


def test_watchdog_is_kicked_while_idle_and_not_after_close(robot):
    backend = make_backend(robot, watchdog_frequency=20.0)
    backend.connect()
    assert robot.calls_to("setWatchdog") == [(20.0,)]
    assert wait_until(lambda: len(robot.calls_to("kickWatchdog")) >= 2)
    backend.close()
    kicks = len(robot.calls_to("kickWatchdog"))
    time.sleep(0.1)
    assert len(robot.calls_to("kickWatchdog")) == kicks


def test_watchdog_is_fed_by_servol_not_kicks_while_servoing(robot):
    # At 1 Hz the keepalive only kicks after 0.5 s without a command; the loop below sends a
    # command every 2 ms, so any kick here would be a kick during servoing.
    backend = make_backend(robot, watchdog_frequency=1.0)
    backend.connect()
    for i in range(50):
        t0 = backend.begin_cycle()
        backend.servo_tcp(Pose([0.3, -0.1, 0.4 + 1e-4 * i]))
        backend.end_cycle(t0)
    backend.close()
    assert robot.calls_to("kickWatchdog") == []
    assert len(robot.calls_to("servoL")) == 50


def test_no_watchdog_when_disabled(robot):
    backend = make_backend(robot, watchdog_frequency=None)
    backend.connect()
    backend.close()
    assert robot.calls_to("setWatchdog") == [] and robot.calls_to("kickWatchdog") == []


def test_state_fields_and_wrench(robot):
    backend = make_backend(robot)
    backend.connect()
    state = backend.read_state()
    np.testing.assert_allclose(state.q, robot.q)
    np.testing.assert_allclose(state.qd, robot.qd)
    np.testing.assert_allclose(state.tcp_pose.to_ur(), robot.tcp_pose, atol=1e-12)
    np.testing.assert_allclose(state.wrench, robot.tcp_force)
    assert state.program_running and not state.faulted
    backend.zero_ft_sensor()
    assert robot.calls_to("zeroFtSensor") == [()]
    backend.close()


def test_wrench_is_none_without_sensor(robot):
    backend = make_backend(robot, has_wrench=False)
    backend.connect()
    state = backend.read_state()
    assert state.wrench is None
    backend.zero_ft_sensor()
    backend.close()
    assert "getActualTCPForce" not in robot.methods()
    assert "zeroFtSensor" not in robot.methods()


def test_stamps_are_sampling_times_on_the_wall_clock(robot):
    backend = make_backend(robot)
    backend.connect()
    robot.sample_age = 0.0
    first = backend.read_state().stamp
    assert first == pytest.approx(time.time(), abs=0.05)  # wall clock, not controller uptime
    time.sleep(0.3)
    robot.sample_age = 0.25  # the newest RTDE sample is a quarter second old when read
    before = time.time()
    stamp = backend.read_state().stamp
    assert stamp == pytest.approx(before - 0.25, abs=0.05)
    backend.close()


def test_invalid_servo_parameters_are_rejected():
    with pytest.raises(ValueError, match="lookahead"):
        URRtdeBackend(HOST, servo_lookahead=0.5)
    with pytest.raises(ValueError, match="gain"):
        URRtdeBackend(HOST, servo_gain=50)


def test_missing_ur_rtde_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "rtde_control", None)  # makes `import rtde_control` fail
    with pytest.raises(RobotBackendError, match="pip install"):
        URRtdeBackend(HOST).connect()


def test_real_ur_rtde_unreachable_host_is_mapped():
    # The real ur_rtde against a port nobody listens on: the vendor's own exception must come
    # out as RobotUnreachableError with the hints.
    backend = URRtdeBackend("127.0.0.1", watchdog_frequency=None)
    with pytest.raises(RobotUnreachableError, match="ping 127.0.0.1"):
        backend.connect()
    assert not backend.connected
