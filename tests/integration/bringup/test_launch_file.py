"""launch/bringup.launch.py builds the same graph as `fdvla bringup`, and what it starts runs.

`launch` and `launch_ros` exist only in a ROS installation (no PyPI wheels), so the launch file
is evaluated against a minimal stand-in of that API, which records the actions it creates. The
processes it would start are then started for real (`fdvla_process`) and watched over DDS.
"""

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import JointState

from fdvla.config import load_setup
from fdvla.graph import build_graph
from fdvla_msgs import topics
from helpers.launch_file import evaluate_launch


@pytest.mark.parametrize("robot", ["sim", "sim_sensorless", "ur5e", "ur5e_sensorless"])
def test_launch_file_starts_one_process_per_graph_process(monkeypatch, robot):
    nodes = evaluate_launch(monkeypatch, robot=robot)
    graph = build_graph(load_setup(robot))
    assert len(nodes) == len(graph)
    for node, proc in zip(nodes, graph):
        kw = node.kwargs
        assert (kw["package"], kw["executable"]) == ("fdvla", "fdvla_process")
        assert "name" not in kw  # would rename every node of a multi-node process
        args = kw["arguments"]
        assert args[args.index("--process") + 1] == proc.name
        assert args[args.index("--robot") + 1] == robot
    # Every process names the same shared-memory state of the simulated cell.
    snapshots = {a for n in nodes for a in n.kwargs["arguments"] if a.startswith("sim_snapshot=")}
    assert len(snapshots) == 1


def test_launch_file_runs_the_sim_cameras_in_processes_of_their_own(monkeypatch):
    nodes = evaluate_launch(monkeypatch, robot="sim")
    names = [n.kwargs["arguments"][n.kwargs["arguments"].index("--process") + 1] for n in nodes]
    assert names == ["sim_cell", "kinect_camera", "wrist_camera"]


def test_launch_file_adds_rviz_on_request(monkeypatch):
    nodes = evaluate_launch(monkeypatch, robot="sim", rviz="true")
    rviz = [n for n in nodes if n.kwargs["package"] == "rviz2"]
    assert len(rviz) == 1
    assert Path(rviz[0].kwargs["arguments"][1]).is_file()


@pytest.mark.slow
def test_processes_the_launch_file_starts_run_the_sim_cell(monkeypatch):
    from helpers.probe import Probe

    nodes = evaluate_launch(monkeypatch, robot="sim", task="plug", overrides="cameras={}")
    exe = shutil.which("fdvla_process") or str(Path(sys.executable).parent / "fdvla_process")
    procs = [subprocess.Popen([exe, *n.kwargs["arguments"]], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for n in nodes]
    probe = Probe("launch_probe")
    try:
        probe.subscribe(topics.TCP_POSE, PoseStamped)
        probe.subscribe(topics.JOINT_STATES, JointState)
        probe.wait_for(lambda: probe.count(topics.TCP_POSE) > 100
                       and probe.count(topics.JOINT_STATES) > 100, 60,
                       "the launched sim cell's state topics")
        assert all(p.poll() is None for p in procs)
    finally:
        probe.close()
        outputs = []
        for p in procs:
            p.send_signal(signal.SIGINT)
            try:
                out, _ = p.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                out, _ = p.communicate()
            outputs.append(out)
    assert all(p.returncode == 0 for p in procs), outputs
