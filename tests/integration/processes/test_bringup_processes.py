"""`fdvla bringup` runs one OS process per process of the graph and supervises them.

Checked from outside: the process list (/proc) and what a probe on its own DDS participant sees.
"""

import os
import re
from pathlib import Path
import signal
import time

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image, JointState

from fdvla.config import load_setup
from fdvla.graph import build_graph
from fdvla_drivers.sim.shared_snapshot import SHM_DIR
from fdvla_msgs import conversions as conv
from fdvla_msgs import qos, topics
from helpers.probe import Probe
from helpers.procs import (graph_processes, in_groups, marked, start_bringup, stat,
                             wait_until)

pytestmark = pytest.mark.slow


def _snapshot_marker(pid: int) -> str:
    return f"fdvla_sim_{pid}_"


def _statuses(probe, name_part):
    return [st for m in probe.all(topics.DIAGNOSTICS) for st in m.status if name_part in st.name]


def _servo_cycles(probe) -> int:
    sts = _statuses(probe, ": controller")
    return int(conv.diagnostic_values(sts[-1])["servo_cycles"]) if sts else -1


def _armed(probe) -> bool:
    """The sim controller arms itself after 0.5 s of healthy state; a loaded machine delays it."""
    sts = _statuses(probe, ": controller")
    return bool(sts) and conv.diagnostic_values(sts[-1]).get("armed") == "True"


def _finish(proc, log_path):
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)
    print(log_path.read_text()[-4000:])


def fifo_threads(pid: int) -> list:
    """Names of the threads of `pid` that run SCHED_FIFO."""
    names = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if os.sched_getscheduler(int(task.name)) == os.SCHED_FIFO:
                names.append((task / "comm").read_text().strip())
        except (OSError, ValueError):
            continue
    return names


def test_sim_bringup_runs_the_graph_processes_and_survives_a_camera(tmp_path):
    """Processes as the graph says; a killed camera leaves the servo loop running and is
    reported on /diagnostics; killing the robot's process stops every other one cleanly."""
    expected = {p.name: p for p in build_graph(load_setup("sim"))}
    assert set(expected) == {"sim_cell", "kinect_camera", "wrist_camera"}
    log = tmp_path / "bringup.log"
    proc = start_bringup(log, "--robot", "sim", "--duration", "120",
                         env={"FDVLA_RT_PRIORITY": "10"})
    probe = Probe("procs_probe")
    try:
        probe.subscribe(topics.JOINT_STATES, JointState)
        probe.subscribe(topics.camera_image_topic("wrist"), Image)
        probe.subscribe(topics.DIAGNOSTICS, DiagnosticArray, profile=qos.DIAGNOSTICS)
        procs = wait_until(lambda: (lambda g: g if set(g) == set(expected) else None)(
            graph_processes(proc.pid)), 30, "the graph's processes")
        # Every child in a process group of its own (Ctrl-C reaches the supervisor only).
        assert all(stat(pid)["pgrp"] == pid for pid in procs.values())
        # The robot's process asked for real-time scheduling: it has it, or says why not once.
        wait_until(lambda: "sim_cell: up" in log.read_text(), 60, "the sim cell process")
        refused = "sim_cell: running without real-time priority" in log.read_text()
        # Only its servo thread: the state publisher, the physics and the executor threads of
        # that process stay at normal priority (they would take a whole core from the rest).
        wait_until(lambda: refused or fifo_threads(procs["sim_cell"]), 30, "the servo thread")
        assert refused or len(fifo_threads(procs["sim_cell"])) == 1
        assert os.sched_getscheduler(procs["sim_cell"]) == os.SCHED_OTHER
        assert log.read_text().count("running without real-time priority") == int(refused)
        assert os.sched_getscheduler(procs["wrist_camera"]) == os.SCHED_OTHER
        probe.wait_for(lambda: probe.count(topics.JOINT_STATES) > 50
                       and probe.count(topics.camera_image_topic("wrist")) > 3, 90,
                       "joint states and wrist frames")
        # DDS: each process's nodes, and the supervisor's status node.
        want = {n.name for p in expected.values() for n in p.nodes} | {"fdvla_status"}
        probe.wait_for(lambda: want <= set(probe.node.get_node_names()), 20, f"nodes {want}")

        os.kill(procs["kinect_camera"], signal.SIGKILL)
        probe.wait_for(lambda: any(st.level == st.ERROR and "gone" in st.message for st in
                                   _statuses(probe, "process kinect_camera")), 15,
                       "/diagnostics reporting the camera process gone")
        cycles, n_joints = _servo_cycles(probe), probe.count(topics.JOINT_STATES)
        time.sleep(3.0)
        assert _servo_cycles(probe) > cycles + 500, "the servo loop stopped with the camera"
        assert probe.count(topics.JOINT_STATES) > n_joints + 300
        assert probe.count(topics.camera_image_topic("wrist")) > 0
        alive = graph_processes(proc.pid)
        assert set(alive) == {"sim_cell", "wrist_camera"} and proc.poll() is None

        os.kill(procs["sim_cell"], signal.SIGKILL)
        assert proc.wait(timeout=20) == 1  # the robot's process died: the bringup fails
        assert not marked(_snapshot_marker(proc.pid)), "a graph process outlived the bringup"
        assert not in_groups(procs.values()), "something the children started is still there"
        assert not list(SHM_DIR.glob(f"{_snapshot_marker(proc.pid)}*"))
        text = log.read_text()
        assert "process sim_cell" in text and "wrist_camera: up" in text
        assert "robot told to hold (/controller/stop)" in text  # after the camera went
        # The others were stopped, not killed: they shut down and exited with status 0.
        assert re.search(r"process wrist_camera \(pid \d+\) exited with status 0", text), text
    finally:
        probe.close()
        _finish(proc, log)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_no_process_outlives_the_bringup(tmp_path, how):
    """SIGTERM: the supervisor stops everything and exits 0. SIGKILL: the kernel's parent-death
    signal stops the children all the same."""
    log = tmp_path / "bringup.log"
    proc = start_bringup(log, "--robot", "sim", "--duration", "120",
                         "--set", "cameras.kinect.fps=5", "--set", "cameras.wrist.fps=5")
    try:
        wait_until(lambda: "sim_cell: up" in log.read_text(), 60, "the sim cell process")
        procs = graph_processes(proc.pid)
        assert len(procs) == 3
        proc.send_signal(how)
        rc = proc.wait(timeout=15)
        assert rc == (0 if how == signal.SIGTERM else -signal.SIGKILL)
        wait_until(lambda: not marked(_snapshot_marker(proc.pid))
                   and not in_groups(procs.values()), 10, "every child process to exit")
        if how == signal.SIGTERM:
            assert not list(SHM_DIR.glob(f"{_snapshot_marker(proc.pid)}*"))
    finally:
        _finish(proc, log)


def test_the_robot_process_follows_chunks_on_its_events_executor(tmp_path):
    """The robot's process runs rclpy's C++ EventsExecutor (config/sim.yaml `executors`): the
    controller's chunk callback, which needs the message info, works there over real DDS."""
    import numpy as np
    from geometry_msgs.msg import PoseStamped
    from trajectory_msgs.msg import MultiDOFJointTrajectory

    from fdvla_msgs.types import ActionChunk

    assert load_setup("sim")["executors"]["robot_driver"] == "events"
    log = tmp_path / "bringup.log"
    proc = start_bringup(log, "--robot", "sim", "--set", "cameras={}", "--duration", "90")
    probe = Probe("events_probe")
    try:
        probe.subscribe(topics.TCP_POSE, PoseStamped)
        probe.subscribe(topics.DIAGNOSTICS, DiagnosticArray, profile=qos.DIAGNOSTICS)
        pub = probe.publisher(topics.ACTION_CHUNK, MultiDOFJointTrajectory)
        probe.wait_for(lambda: probe.count(topics.TCP_POSE) > 20 and _servo_cycles(probe) > 0
                       and _armed(probe), 90, "the sim cell's state and an armed controller")
        probe.wait_for_subscriber(pub)
        start = conv.pose_from_msg(probe.latest(topics.TCP_POSE))[1]
        goal = start.position + np.array([0.0, 0.03, 0.0])
        for _ in range(5):  # several chunks: each one replaces the last
            now = time.time()
            t = np.linspace(0.05, 1.0, 20)
            pos = start.position + np.outer(t, goal - start.position)
            pub.publish(conv.chunk_to_msg(ActionChunk.from_arrays(
                now, t, pos, np.tile(start.quat_xyzw, (20, 1)))))
            time.sleep(0.1)
        probe.wait_for(lambda: np.linalg.norm(conv.pose_from_msg(probe.latest(
            topics.TCP_POSE))[1].position - goal) < 0.005, 15, "the TCP at the chunk's end")
        values = conv.diagnostic_values(_statuses(probe, ": controller")[-1])
        assert int(values.get("chunk_dropped", 0)) == 0
        assert proc.poll() is None and "Traceback" not in log.read_text()
    finally:
        probe.close()
        _finish(proc, log)
