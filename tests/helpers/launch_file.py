"""`launch/bringup.launch.py` evaluated without a ROS installation.

`launch` and `launch_ros` exist only in a ROS installation (no PyPI wheels), so the launch file is
evaluated against a minimal stand-in of that API, which records the actions it creates.
"""

import importlib.util
import sys
import types

from fdvla.config import share_dir

LAUNCH_FILE = share_dir() / "launch" / "bringup.launch.py"


def _launch_api_stand_in():
    """Just enough of launch / launch_ros for a launch file's generate_launch_description()."""
    launch = types.ModuleType("launch")
    actions = types.ModuleType("launch.actions")
    substitutions = types.ModuleType("launch.substitutions")
    launch_ros = types.ModuleType("launch_ros")
    ros_actions = types.ModuleType("launch_ros.actions")

    class LaunchDescription(list):
        pass

    class DeclareLaunchArgument:
        def __init__(self, name, default_value=None, description=""):
            self.name, self.default_value = name, default_value

    class OpaqueFunction:
        def __init__(self, function):
            self.function = function

    class LaunchConfiguration:
        def __init__(self, name):
            self.name = name

        def perform(self, context):
            return context.launch_configurations[self.name]

    class Node:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    launch.LaunchDescription = LaunchDescription
    actions.DeclareLaunchArgument = DeclareLaunchArgument
    actions.OpaqueFunction = OpaqueFunction
    substitutions.LaunchConfiguration = LaunchConfiguration
    ros_actions.Node = Node
    return {"launch": launch, "launch.actions": actions, "launch.substitutions": substitutions,
            "launch_ros": launch_ros, "launch_ros.actions": ros_actions}


def evaluate_launch(monkeypatch, **args):
    for name, mod in _launch_api_stand_in().items():
        monkeypatch.setitem(sys.modules, name, mod)
    spec = importlib.util.spec_from_file_location("bringup_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    desc = module.generate_launch_description()
    declared = {a.name: a.default_value for a in desc if hasattr(a, "default_value")}
    context = types.SimpleNamespace(launch_configurations={**declared, **args})
    opaque = [a for a in desc if hasattr(a, "function")]
    return [node for fn in opaque for node in fn.function(context)]
