"""Issue 6 item 3: limits and periods validated at load; one-line errors naming the key."""

import subprocess
import sys

import pytest

from fdvla.bringup import Bringup
from fdvla.config import ConfigError, load_setup, share_dir

BAD = [
    ("controller.servo_period=0.02", "controller.servo_period"),
    ("controller.servo_period=0", "controller.servo_period"),
    ("controller.servo_period=0.002", "controller.servo_period"),  # not a setting at any value
    ("robot.sensorless=true", "robot.has_wrench"),  # the retired key names its replacement
    ("robot.has_wrench=maybe", "robot.has_wrench"),
    ("safety.max_linear_speed=.inf", "safety.max_linear_speed"),
    ("safety.max_linear_speed=abc", "safety.max_linear_speed"),
    ("safety.max_linear_speed=0", "safety.max_linear_speed"),
    ("safety.max_linear_speed=5.0", "safety.max_linear_speed"),
    ("safety.max_force=1000", "safety.max_force"),
    ("safety.max_speed=0.1", "safety.max_speed"),
    ("controller.servo_perod=0.002", "controller.servo_perod"),
    ("safety.workspace_min=[0,0]", "safety.workspace_min"),
    ("safety.twist_timeout=nan", "safety.twist_timeout"),
]


@pytest.mark.parametrize("override,key", BAD)
def test_bad_value_is_a_config_error_naming_the_key(override, key):
    with pytest.raises(ConfigError) as e:
        load_setup("sim", ["cameras={}", override])
    assert key in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_good_setups_load():
    for setup in ("sim", "sim_sensorless", "ur5e", "ur5e_sensorless"):
        load_setup(setup)


@pytest.mark.parametrize("text,key,new", [
    ("robot:\n  sensorless: true\n", "robot.sensorless", "robot.has_wrench"),
    ("controller:\n  servo_period: 0.002\n", "controller.servo_period", "backend"),
])
def test_a_users_yaml_with_a_retired_key_fails_in_one_line(tmp_path, text, key, new):
    """Keys valid before issue 17 are refused, not silently ignored, naming what replaced them."""
    (tmp_path / "lab.yaml").write_text(f"extends: {share_dir() / 'config' / 'sim.yaml'}\n{text}")
    with pytest.raises(ConfigError) as e:
        load_setup(str(tmp_path / "lab.yaml"))
    msg = str(e.value)
    assert msg.startswith(key + ":") and new in msg and "\n" not in msg, msg


def test_the_servo_period_is_no_setting_anywhere():
    with pytest.raises(ConfigError) as e:  # a typo's error lists the settings there are
        load_setup("sim", ["controller.servo_perod=0.002"])
    assert "action_latency" in str(e.value) and "servo_period" not in str(e.value)
    for setup in ("sim", "sim_sensorless", "ur5e", "ur5e_sensorless"):
        assert "servo_period" not in load_setup(setup)["controller"]


@pytest.mark.slow
@pytest.mark.parametrize("override", ["controller.servo_period=0.02",
                                      "safety.max_linear_speed=abc", "safety.nope=1"])
def test_cli_prints_one_line_without_traceback(override):
    r = subprocess.run([sys.executable, "-m", "fdvla.cli", "bringup", "--robot", "sim",
                        "--duration", "1", "--set", "cameras={}", "--set", override],
                       capture_output=True, text=True, timeout=120)
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert len(err) == 1 and err[0].startswith("fdvla bringup: "), r.stderr
    assert override.split("=")[0] in err[0]


@pytest.mark.slow
def test_servo_period_is_the_backends_over_dds():
    """The controller servos at the backend's period (the sim's 2 ms): no setting decides it."""
    b = Bringup.from_setup("sim", ["cameras={}"]).start()
    try:
        node = b.node("controller")
        assert node.controller.config.servo_period == b.robot.servo_period
    finally:
        b.stop()
