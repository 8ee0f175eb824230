"""ros2 launch fdvla bringup.launch.py robot:=sim|sim_sensorless|ur5e|ur5e_sensorless [rviz:=true]
    [policy:=CKPT|default] [instruction:="press the emergency button"] [view:=true]

Starts one `fdvla_process` per process of the node graph that `fdvla.graph.build_graph` computes
for the robot setup: the very list `fdvla bringup` runs in pip mode.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from fdvla.config import load_setup, share_dir
from fdvla.graph import build_graph


def _graph_actions(context):
    robot = LaunchConfiguration("robot").perform(context)
    task = LaunchConfiguration("task").perform(context)
    overrides = [f"robot.task={task}"] if task else []
    extra = LaunchConfiguration("overrides").perform(context).split()
    overrides += extra
    overrides += _policy_overrides(context)
    cfg = load_setup(robot, overrides)
    actions = []
    for proc in build_graph(cfg):
        args = ["--robot", robot, "--process", proc.name]
        for o in overrides:
            args += ["--set", o]
        # No `name=`: it would rename every node of a multi-node process.
        actions.append(Node(package="fdvla", executable="fdvla_process", arguments=args,
                            output="screen", emulate_tty=True))
    if LaunchConfiguration("rviz").perform(context).lower() in ("true", "1", "yes"):
        actions.append(Node(package="rviz2", executable="rviz2", name="rviz2",
                            arguments=["-d", str(share_dir() / "config" / "fdvla.rviz")]))
    return actions


def _policy_overrides(context) -> list:
    """policy:=CKPT, instruction:=TEXT and view:=true as config overrides (same as the CLI's)."""
    out = []
    policy = LaunchConfiguration("policy").perform(context)
    if policy:
        out.append(f"policy.checkpoint={policy}")
    instruction = LaunchConfiguration("instruction").perform(context)
    if instruction:
        out.append(f"instruction={instruction}")
    if LaunchConfiguration("view").perform(context).lower() in ("true", "1", "yes"):
        out.append("view.enabled=true")
    return out


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("robot", default_value="sim",
                              description="robot setup: sim, sim_sensorless, ur5e, "
                                          "ur5e_sensorless, or a YAML path"),
        DeclareLaunchArgument("task", default_value="",
                              description="simulated task: button, plug or wipe"),
        DeclareLaunchArgument("rviz", default_value="false", description="start rviz2"),
        DeclareLaunchArgument("policy", default_value="",
                              description="FD-VLA checkpoint folder or 'default': adds the policy node"),
        DeclareLaunchArgument("instruction", default_value="",
                              description="task instruction latched on /fdvla/instruction"),
        DeclareLaunchArgument("view", default_value="false",
                              description="serve the topics to Foxglove (ws://localhost:8765)"),
        DeclareLaunchArgument("overrides", default_value="",
                              description="space-separated key=value config overrides"),
        OpaqueFunction(function=_graph_actions),
    ])
