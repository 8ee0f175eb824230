"""ros2 launch fdvla bringup.launch.py robot:=sim|sim_sensorless|ur5e|ur5e_sensorless [rviz:=true]
    [teleop:=true] [record:=DIR] [policy:=CKPT|default] [instruction:=TEXT] [view:=true]

Starts one `fdvla_process` per process of the node graph that `fdvla.graph.build_graph` computes
for the robot setup: the very list `fdvla bringup` runs in pip mode (the robot driver and
controller in one process, each camera in its own; a simulated cell's cameras render from its
state in shared memory, named once per launch).
"""

import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from fdvla.config import load_setup, share_dir
from fdvla.graph import build_graph
from fdvla_drivers.sim.shared_snapshot import segment_name
from fdvla_drivers.sim.tasks import TASK_NAMES


def _graph_actions(context):
    robot = LaunchConfiguration("robot").perform(context)
    task = LaunchConfiguration("task").perform(context)
    overrides = [f"robot.task={task}"] if task else []
    extra = LaunchConfiguration("overrides").perform(context).split()
    overrides += extra
    # SpaceMouse + teleop and the episode recorder: the same graph nodes `fdvla record` adds.
    if LaunchConfiguration("teleop").perform(context).lower() in ("true", "1", "yes"):
        overrides.append("teleop.enabled=true")
    record = LaunchConfiguration("record").perform(context)
    if record:
        overrides.append(f"recorder.out={record}")
    # The simulated cell's shared-memory state: one name per launch, the same in every process.
    overrides.append(f"sim_snapshot={segment_name(os.getpid())}")
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
                              description=f"simulated task: {', '.join(TASK_NAMES)}"),
        DeclareLaunchArgument("rviz", default_value="false", description="start rviz2"),
        DeclareLaunchArgument("teleop", default_value="false",
                              description="add the SpaceMouse and teleop nodes"),
        DeclareLaunchArgument("record", default_value="",
                              description="add the episode recorder, bags into this folder"),
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
