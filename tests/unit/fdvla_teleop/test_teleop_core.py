"""ROS-free parts of teleop: the axis mapping, buttons, the SpaceMouse backends against a real
spacenavd-protocol socket and a fake of pyspacemouse's API, and the scripted expert rebuilt
from /sim/task_state."""

import time

import numpy as np
import pytest

from fdvla_teleop.spacemouse import SpaceMouseError, make_spacemouse
from fdvla_teleop.spacemouse.spacenavd import to_spacenav_frame
from fdvla_teleop.teleop import ButtonEdges, TeleopConfig, TeleopMapper, apply_deadband
from helpers.fakes.fake_pyspacemouse import FakePySpaceMouse, FakeState
from helpers.fakes.spacenavd_server import SpacenavdServer


def test_deadband_is_continuous_and_zero_inside():
    out = apply_deadband(np.array([0.05, -0.1, 0.1001, 0.55, -1.0, 1.2]), 0.1)
    assert out[0] == 0 and out[1] == 0
    assert 0 < out[2] < 1e-3
    assert out[3] == pytest.approx(0.5)
    assert out[4] == -1.0 and out[5] == 1.0


def test_mapping_scales_signs_modes_and_speed_limits():
    cfg = TeleopConfig(deadband=0.0, linear_scale=0.1, angular_scale=0.5,
                       axis_map=(1, 0, 2, 3, 4, 5), axis_sign=(-1, 1, 1, 1, 1, -1),
                       max_linear_speed=0.12, max_angular_speed=1.0)
    m = TeleopMapper(cfg)
    lin, ang = m.twist([0.5, 0.2, 0.0, 0.0, 0.0, 0.4])
    np.testing.assert_allclose(lin, [-0.02, 0.05, 0.0])  # base x <- -spacenav y
    np.testing.assert_allclose(ang, [0.0, 0.0, -0.2])
    lin, ang = m.twist([1, 1, 1, 1, 1, 1], mode="translation")
    assert np.linalg.norm(lin) == pytest.approx(0.12) and not np.any(ang)
    lin, ang = m.twist([1, 1, 1, 1, 1, 1], mode="rotation")
    assert not np.any(lin) and np.linalg.norm(ang) == pytest.approx(0.5 * np.sqrt(3))


def test_default_mapping_pushing_away_moves_the_tool_away_from_the_operator():
    lin, _ = TeleopMapper(TeleopConfig()).twist([0.8, 0, 0, 0, 0, 0])
    assert lin[0] > 0 and lin[1] == 0 and lin[2] == 0  # +x of base: away from the operator


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="teleop.axis_map"):
        TeleopConfig.from_dict({"axis_map": [0, 0, 1, 2, 3, 4]})
    with pytest.raises(ValueError, match="unknown key"):
        TeleopConfig.from_dict({"dedband": 0.1})
    assert TeleopConfig.from_dict({}, {"max_linear_speed": 0.07}).max_linear_speed == 0.07


def test_buttons_fire_on_press_edges_only():
    edges = ButtonEdges(TeleopConfig(start_stop_button=0, discard_button=1))
    assert edges.update([1, 0]) == ["toggle"]
    assert edges.update([1, 0]) == []
    assert edges.update([0, 1]) == ["discard"]
    assert edges.update([1, 1]) == ["toggle"]


def test_spacenavd_backend_reads_motion_and_buttons_from_a_real_socket(tmp_path):
    server = SpacenavdServer(tmp_path / "spnav.sock")
    dev = make_spacemouse("spacenavd", socket_path=str(tmp_path / "spnav.sock"),
                          static_timeout=0.2)
    try:
        dev.open()
        server.wait_client()
        server.motion(x=35, y=-70, z=175, rx=0, ry=350, rz=-350)
        server.button(1, True)
        s = None
        for _ in range(50):
            s = dev.poll(0.05)
            if s.buttons[1]:
                break
        # spacenav frame: x = z, y = -x, z = y (device units / 350)
        np.testing.assert_allclose(s.axes, [0.5, -0.1, -0.2, -1.0, 0.0, 1.0], atol=1e-9)
        assert s.buttons == (0, 1)
        server.button(1, False)
        time.sleep(0.3)  # no motion events: the cap rests
        s = dev.poll(0.05)
        assert s.buttons == (0, 0) and not np.any(s.axes)
    finally:
        dev.close()
        server.close()


def test_spacenavd_absent_gives_the_fix_not_a_traceback(tmp_path):
    dev = make_spacemouse("spacenavd", socket_path=str(tmp_path / "none.sock"))
    with pytest.raises(SpaceMouseError, match="spacenavd is not running.*docs/hardware.md"):
        dev.open()


def test_frame_conversion_clips():
    np.testing.assert_allclose(to_spacenav_frame(np.array([0, 0, 700, 0, 0, 0]), 350),
                               [1, 0, 0, 0, 0, 0])


def test_hid_backend_maps_pyspacemouse_axes_and_buttons():
    fake = FakePySpaceMouse([FakeState(x=0.5, y=0.25, z=-0.1, roll=0.2, pitch=0.3, yaw=-0.4,
                                       buttons=[1, 0])])
    dev = make_spacemouse("hid", module=fake)
    dev.open()
    s = dev.poll(0.01)
    # pyspacemouse x right, y away -> spacenav x away, y left
    np.testing.assert_allclose(s.axes, [0.25, -0.5, -0.1, 0.2, -0.3, -0.4])
    assert s.buttons == (1, 0)
    dev.close()
    assert fake.opened[0].closed


@pytest.mark.parametrize("fake, match", [
    (FakePySpaceMouse(returns_none=True), "no SpaceMouse found.*udev"),
    (FakePySpaceMouse(error=PermissionError(13, "Permission denied")), "udev rule"),
    (FakePySpaceMouse(error=RuntimeError("Failed to open device")), "udev rule"),
])
def test_hid_backend_errors_name_the_fix(fake, match):
    with pytest.raises(SpaceMouseError, match=match):
        make_spacemouse("hid", module=fake).open()


@pytest.mark.parametrize("task", ["button", "plug", "wipe"])
def test_expert_rebuilt_from_task_state_plans_like_the_sim_task(task):
    from fdvla_drivers.robot.sim_backend import SimRobotBackend
    from fdvla_drivers.sim.episodes import SimEpisodes
    from fdvla_drivers.sim.experts import make_expert
    from fdvla_teleop.expert import expert_for_state

    backend = SimRobotBackend(task, seed=11, realtime=False)
    state = backend.read_state()
    own, rebuilt = make_expert(backend.task), expert_for_state(SimEpisodes(backend).task_state())
    own.act(state, 0.0)
    rebuilt.act(state, 0.0)
    np.testing.assert_allclose([p.position for p in rebuilt.path.poses],
                               [p.position for p in own.path.poses], atol=1e-9)
    np.testing.assert_allclose(rebuilt.path.times, own.path.times)
