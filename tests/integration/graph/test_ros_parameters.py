"""Every node declares its settings as read-only ROS parameters, from the setup YAML through the
graph's NodeSpec: what `ros2 param list/get/set` does is done here over DDS with the standard
parameter services, against a graph process started as the launch file starts it."""

import subprocess
import sys

import pytest
import rclpy
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import DescribeParameters, GetParameters, ListParameters, SetParameters
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter

from fdvla.config import load_setup
from fdvla.graph import build_graph
from fdvla_drivers.nodes.common import SettingOverrideError, declare_settings, ros_parameters
from helpers.probe import Probe

# No cameras: the robot process alone (physics, robot state, controller, sim episode).
OVERRIDES = ["cameras={}", "safety.max_torque=12.5", "robot.task=wipe"]


# ------------------------------------------------------------------ flattening and typing

class Backend:  # stands for an object handed to a node (a robot backend): not a setting
    pass


def test_settings_flatten_to_ros_names_and_types():
    got = ros_parameters({
        "rate": 500, "gain": 0.5, "on": True, "name": "kinect", "serial": None,
        "safety": {"max_force": 60.0, "workspace_min": [-0.8, 0, 0.1], "inner": {"deep": 1}},
        "axis_map": [0, 1, 2], "flags": [True, False], "names": ["a", "b"],
        "empty": [], "nothing": {}, "pairs": [["/t", "std_msgs/msg/String"]],
        "mixed": [1, "a"], "dicts": [{"a": 1}], "bad-key": 1, "a.b": 2, "": 3,
        "backend": Backend(), "objects": [Backend()],
    })
    assert got == {
        "rate": 500, "gain": 0.5, "on": True, "name": "kinect", "serial": None,
        "safety.max_force": 60.0,
        "safety.workspace_min": [-0.8, 0.0, 0.1],  # ints among floats become floats
        "safety.inner.deep": 1,
        "axis_map": [0, 1, 2], "flags": [True, False], "names": ["a", "b"],
        "empty": "[]", "nothing": "{}", "pairs": '[["/t", "std_msgs/msg/String"]]',
        "mixed": '[1, "a"]', "dicts": '[{"a": 1}]', "bad_key": 1, "a_b": 2, "_": 3,
    }
    assert all(isinstance(v, float) for v in got["safety.workspace_min"])
    assert isinstance(got["axis_map"][0], int)


def test_two_keys_that_sanitise_to_one_name_are_an_error():
    with pytest.raises(ValueError, match="'a_b'"):
        ros_parameters({"a-b": 1, "a_b": 2})
    with pytest.raises(ValueError, match="'x.y_z'"):  # a '.' in a key is no level
        ros_parameters({"x": {"y.z": 1, "y_z": 2}})


@pytest.fixture
def context():
    context = Context()
    rclpy.init(context=context)
    yield context
    rclpy.shutdown(context=context)


def test_declared_settings_have_ros_types_and_are_read_only(context):
    node = Node("settings_holder", context=context)
    try:
        declare_settings(node, {"safety": {"max_force": 60.0, "ws": [0.1, 0.2]}, "n": 3,
                                "on": False, "serial": None, "pairs": [[1, 2]],
                                "backend": Backend()})
        types = {p: node.get_parameter(p).type_ for p in
                 ("safety.max_force", "safety.ws", "n", "on", "serial", "pairs")}
        assert types == {"safety.max_force": Parameter.Type.DOUBLE,
                         "safety.ws": Parameter.Type.DOUBLE_ARRAY,
                         "n": Parameter.Type.INTEGER, "on": Parameter.Type.BOOL,
                         "serial": Parameter.Type.NOT_SET, "pairs": Parameter.Type.STRING}
        assert not node.has_parameter("backend")
        assert node.describe_parameter("n").read_only
        result = node.set_parameters([Parameter("safety.max_force", value=1.0)])[0]
        assert not result.successful and "read-only" in result.reason
        assert node.get_parameter("safety.max_force").value == 60.0
    finally:
        node.destroy_node()


def test_a_ros_override_that_would_not_apply_is_refused(context):
    # `--ros-args -p` reaches a node as parameter overrides; the node runs on the YAML's values,
    # so showing the override would misstate a (safety) setting.
    for override in (Parameter("max_force", value=10.0), Parameter("max_force", value=10)):
        node = Node("overridden", context=context, parameter_overrides=[override])
        try:
            with pytest.raises(SettingOverrideError, match="max_force.*--set"):
                declare_settings(node, {"max_force": 60.0})
        finally:
            node.destroy_node()
    node = Node("same_value", context=context,
                parameter_overrides=[Parameter("max_force", value=60.0)])
    try:
        declare_settings(node, {"max_force": 60.0})
        assert node.get_parameter("max_force").value == 60.0
    finally:
        node.destroy_node()


# ------------------------------------------------------------------ a graph process over DDS

def process_cmd(*extra):
    cmd = [sys.executable, "-m", "fdvla.process", "--robot", "sim", "--process", "sim_cell"]
    for o in OVERRIDES:
        cmd += ["--set", o]
    return cmd + list(extra)


@pytest.fixture(scope="module")
def sim_cell(tmp_path_factory):
    log_path = tmp_path_factory.mktemp("params") / "sim_cell.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(process_cmd(), stdout=log, stderr=subprocess.STDOUT)
    probe = Probe("param_probe")
    try:
        # The parameter services exist from the node's creation; the settings are declared
        # right after it, so wait for one of the last to appear.
        probe.wait_for(lambda: proc.poll() is not None
                       or listed(probe, "/controller", "safety.max_torque"), 120,
                       f"the controller's parameters (see {log_path})")
        assert proc.poll() is None, log_path.read_text()[-3000:]
        yield probe
    finally:
        probe.close()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
        print(log_path.read_text()[-3000:])


def list_names(probe: Probe, node: str) -> list[str]:
    return list(probe.call(ListParameters, f"{node}/list_parameters",
                           ListParameters.Request()).result.names)


def listed(probe: Probe, node: str, name: str) -> bool:
    try:
        return name in list_names(probe, node)
    except AssertionError:  # the node is not up yet
        return False


def get_values(probe: Probe, node: str, names: list[str]) -> list[ParameterValue]:
    return list(probe.call(GetParameters, f"{node}/get_parameters",
                           GetParameters.Request(names=names)).values)


def test_every_node_lists_its_graph_settings(sim_cell):
    probe = sim_cell
    cfg = load_setup("sim", OVERRIDES)
    specs = {n.name: n for p in build_graph(cfg) for n in p.nodes}
    assert set(specs) == {"robot_state", "controller", "sim_episode"}
    for name, spec in specs.items():
        expected = set(ros_parameters(spec.params))
        if name == "robot_state":
            expected |= {f"robot.{k}" for k in cfg["robot"] if k != "state_rate"}
        assert expected, name
        assert expected <= set(list_names(probe, f"/{name}")), name


def test_controller_parameters_are_the_yaml_values_and_overrides(sim_cell):
    probe = sim_cell
    yaml_cfg = load_setup("sim")
    force, torque, ws_min, rate = get_values(probe, "/controller", [
        "safety.max_force", "safety.max_torque", "safety.workspace_min",
        "controller.target_pose_rate"])
    assert force.type == ParameterType.PARAMETER_DOUBLE
    assert force.double_value == yaml_cfg["safety"]["max_force"]
    # --set safety.max_torque=12.5 shows, not the YAML's value.
    assert yaml_cfg["safety"]["max_torque"] != 12.5
    assert torque.double_value == 12.5
    assert ws_min.type == ParameterType.PARAMETER_DOUBLE_ARRAY
    assert list(ws_min.double_array_value) == pytest.approx(yaml_cfg["safety"]["workspace_min"])
    assert rate.integer_value == yaml_cfg["controller"]["target_pose_rate"]
    backend, task, state_rate = get_values(probe, "/robot_state",
                                           ["robot.backend", "robot.task", "rate_hz"])
    assert (backend.string_value, task.string_value) == ("sim", "wipe")
    assert state_rate.double_value == yaml_cfg["robot"]["state_rate"]


def test_setting_a_parameter_is_refused(sim_cell):
    probe = sim_cell
    described = probe.call(DescribeParameters, "/controller/describe_parameters",
                           DescribeParameters.Request(names=["safety.max_force"])).descriptors
    assert described[0].read_only and "restart" in described[0].description
    request = SetParameters.Request(parameters=[ParameterMsg(
        name="safety.max_force",
        value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=1.0))])
    result = probe.call(SetParameters, "/controller/set_parameters", request).results[0]
    assert not result.successful and "read-only" in result.reason
    force, = get_values(probe, "/controller", ["safety.max_force"])
    assert force.double_value == load_setup("sim")["safety"]["max_force"]


def test_a_process_refuses_a_ros_parameter_override(own_domain):
    # `-p rate_hz:=...` names the robot state node's setting (the first node built): the
    # process stops with one line instead of running on a value it does not show.
    out = subprocess.run(process_cmd("--ros-args", "-p", "rate_hz:=100.0"),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "rate_hz" in out.stderr and "--set" in out.stderr
