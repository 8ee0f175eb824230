"""Task physics and success checks, driven through the backend's servo like a robot would."""

import numpy as np
import pytest

from fdvla_msgs.types import Pose
from fdvla_drivers.robot.sim_backend import SimRobotBackend
from fdvla_drivers.sim.tasks import make_task, tool_down
from fdvla_drivers.sim.tasks.base import contact_normal_force
from helpers.sim_servo import servo_to



def test_unknown_task_is_rejected():
    with pytest.raises(ValueError):
        make_task("juggle")


def test_button_latches_only_when_fully_pressed():
    b = SimRobotBackend("button", seed=7, realtime=False)
    task = b.task
    top = task.cap_top()
    rot = b.read_state().tcp_pose.quat_xyzw
    servo_to(b, Pose(top + [0, 0, 0.02], rot), 1.0)
    # Half-way: the spring pushes back, nothing latches.
    servo_to(b, Pose(top - [0, 0, 0.008], rot), 1.0)
    partial = task.depth(b.cell.data)
    assert 0.002 < partial < task.p.travel - task.p.latch_margin
    assert not task.success()
    servo_to(b, Pose(top + [0, 0, 0.02], rot), 0.8)
    assert task.depth(b.cell.data) < 0.0005  # the spring returned the cap
    # All the way: latched, and it stays down after the tool leaves.
    servo_to(b, Pose(top - [0, 0, 0.022], rot), 1.5)
    assert task.success()
    servo_to(b, Pose(top + [0, 0, 0.03], rot), 0.8)
    assert task.success()
    assert task.depth(b.cell.data) > task.p.travel - task.p.latch_margin


def test_plug_enters_only_when_aligned():
    b = SimRobotBackend("plug", seed=3, realtime=False)
    task = b.task
    top = task.hole_top()
    yaw = task.object_poses()["socket_hole_top"].rotation.as_euler("xyz")[2]
    rot = tool_down(yaw).as_quat()
    depth = task.p.hole_depth
    # 3 mm off the hole's axis the 20 mm prong lands on the socket's rim (1 mm clearance).
    off = top + [0.003, 0.0, 0.0]
    servo_to(b, Pose(off + [0, 0, 0.02], rot), 1.0)
    servo_to(b, Pose(off - [0, 0, depth], rot), 1.5)
    assert not task.success()
    assert b.read_state().tcp_pose.position[2] > top[2] - 0.002
    # On the axis it goes all the way in.
    servo_to(b, Pose(top + [0, 0, 0.02], rot), 1.0)
    servo_to(b, Pose(top - [0, 0, depth + 0.004], rot), 1.5)
    assert task.success()
    assert task.progress() > 0.9


def test_wipe_marks_vanish_only_under_force():
    b = SimRobotBackend("wipe", seed=2, realtime=False)
    task = b.task
    mark = task.marks_world()[0]
    yaw = task.object_poses()["board_surface"].rotation.as_euler("xyz")[2]
    rot = tool_down(yaw).as_quat()
    z = task.surface_z
    servo_to(b, Pose([mark[0], mark[1], z + 0.02], rot), 1.0)
    servo_to(b, Pose([mark[0], mark[1], z + 0.0005], rot), 1.0)  # touching, barely
    assert not task.erased[0]
    servo_to(b, Pose([mark[0], mark[1], z - 0.005], rot), 1.0)  # pressing ~20 N
    assert task.erased[0]
    # Erased marks leave the cameras' view.
    assert b.cell.data.mocap_pos[task._mark_mocap[0], 2] < 0


def test_wrench_reads_a_known_external_force_at_the_tcp():
    """Push on a point of the tool; the reading is that force and its moment about the TCP,
    in base axes (UR's getActualTCPForce convention)."""
    b = SimRobotBackend("plug", seed=0, realtime=False)
    cell = b.cell
    tool = cell.model.body("tool").id
    offset_in_tool = np.array([0.01, -0.02, 0.03])
    force = np.array([4.0, -3.0, 10.0])

    def push():
        # The servo is compliant, so the tool moves a little: re-aim at the same tool point.
        R = cell.data.xmat[tool].reshape(3, 3)
        point = b.read_state().tcp_pose.position + R @ offset_in_tool
        cell.data.xfrc_applied[tool, :3] = force
        cell.data.xfrc_applied[tool, 3:] = np.cross(point - cell.data.xipos[tool], force)
        return point

    for _ in range(20):
        point = push()
        b.step(0.1)
    point = push()
    b.step(0.002)
    state = b.read_state()
    assert np.allclose(state.wrench[:3], force, atol=0.05)
    expected_torque = np.cross(point - state.tcp_pose.position, force)
    assert np.allclose(state.wrench[3:], expected_torque, atol=0.01)


def test_wrench_matches_contact_forces_when_pressing():
    b = SimRobotBackend("wipe", seed=6, realtime=False)
    task = b.task
    centre = task.object_poses()["board_surface"].position
    rot = b.read_state().tcp_pose.quat_xyzw
    servo_to(b, Pose([centre[0], centre[1], task.surface_z + 0.01], rot), 1.0)
    servo_to(b, Pose([centre[0], centre[1], task.surface_z - 0.008], rot), 1.0)
    contact = contact_normal_force(b.model, b.cell.data, task._pad, task._board)
    w = b.read_state().wrench
    assert contact > 20.0
    assert w[2] == pytest.approx(contact, rel=0.05)


@pytest.mark.parametrize("task,name", [("button", "button_cap_top"),
                                       ("plug", "socket_hole_top"), ("wipe", "board_surface")])
def test_the_target_a_localiser_learns_is_the_placed_object(task, name):
    b = SimRobotBackend(task, seed=3, realtime=False)
    b.connect()
    try:
        seen = []
        for seed in (3, 4):
            b.reset(seed=seed)
            target = b.task.target()
            pose = b.task.object_poses()[name]
            assert target["name"] == name and len(target["pose"]) == 7
            assert target["yaw_symmetry"] == {"button": 0, "plug": 4, "wipe": 2}[task]
            np.testing.assert_allclose(target["pose"][:3], pose.position)
            np.testing.assert_allclose(target["pose"][3:], pose.quat_xyzw)
            seen.append(target["pose"][:2])
        assert np.linalg.norm(np.subtract(*seen)) > 1e-3  # a new placement, a new label
    finally:
        b.close()


@pytest.mark.parametrize("task", ["button", "plug", "wipe"])
def test_near_target_starts_surround_a_pre_contact_pose_above_the_placed_target(task):
    near = SimRobotBackend(task, seed=3, realtime=False, task_start="near_target")
    globl = SimRobotBackend(task, seed=3, realtime=False)
    near.connect()
    globl.connect()
    try:
        offsets = []
        for seed in range(5, 11):
            near.reset(seed=seed)
            globl.reset(seed=seed)
            target = near.task.object_poses()[near.task.target_name]
            # The same seed places the objects as the global start does.
            np.testing.assert_allclose(target.position, globl.task.object_poses()[
                near.task.target_name].position)
            tcp = near.read_state().tcp_pose
            off = tcp.position - target.position
            assert np.all(np.abs(off[:2]) <= 0.03 + 1e-3) and 0.035 - 1e-3 <= off[2] <= 0.065 + 1e-3
            assert np.linalg.norm(tcp.position - globl.read_state().tcp_pose.position) > 0.05
            # The tool points down, its yaw near the target's (modulo the target's symmetry).
            down = tcp.rotation.apply([0, 0, 1])
            assert down[2] < -0.99
            k = near.task.target_yaw_symmetry
            if k:
                rel = (tcp.rotation * tool_down(0.0).inv()).as_euler("xyz")[2] - \
                    target.rotation.as_euler("xyz")[2]
                period = 2 * np.pi / k
                assert abs((rel + period / 2) % period - period / 2) <= 0.25 + 1e-3
            offsets.append(off)
        assert np.std(np.array(offsets)[:, :2]) > 0.005  # the starts really vary
    finally:
        near.close()
        globl.close()
    with pytest.raises(ValueError, match="unknown start"):
        make_task(task, start_region="above")


@pytest.mark.parametrize("task", ["button", "plug", "wipe"])
def test_wide_placements_move_the_same_draws_out_from_the_work_centre(task):
    from fdvla_drivers.sim.tasks.base import WORK_CENTRE

    offsets = {}
    for placement in ("nominal", "wide"):
        b = SimRobotBackend(task, seed=3, realtime=False, task_placement=placement)
        b.connect()
        try:
            offsets[placement] = []
            for seed in range(5, 11):
                b.reset(seed=seed)
                offsets[placement].append(np.subtract(b.task.target()["pose"][:2],
                                                      WORK_CENTRE[:2]))
        finally:
            b.close()
    nominal, wide = np.array(offsets["nominal"]), np.array(offsets["wide"])
    assert np.abs(nominal).max() > 0.01  # the placements vary
    np.testing.assert_allclose(wide, 1.5 * nominal, atol=1e-9)
    with pytest.raises(ValueError, match="unknown placement"):
        make_task(task, placement="far")
