"""The simulated cell's state in shared memory: consistent under concurrent writes, and enough
for a renderer in another process to draw exactly what the physics process holds."""

import multiprocessing as mp
import time

import numpy as np
import pytest

from fdvla_drivers.camera.sim_camera import SimCamera
from fdvla_drivers.robot.sim_backend import SimRobotBackend
from fdvla_drivers.sim.shared_snapshot import (SharedCellView, SnapshotReader, SnapshotWriter,
                                               remove_stale_segments, segment_name, unlink)

# A large state makes each write and each read copy take tens of microseconds, so reads overlap
# writes often: without the seqlock, the reader would see states mixed from two writes.
NQ, NMOCAP = 60_000, 2_000


def _writer(name, ready, stop, counter):
    w = SnapshotWriter(name, NQ, NMOCAP, "<mujoco/>")
    qpos, mpos, mquat = np.empty(NQ), np.empty((NMOCAP, 3)), np.empty((NMOCAP, 4))
    ready.set()
    k = 0
    try:
        while not stop.is_set():
            k += 1
            qpos.fill(k)
            mpos.fill(k)
            mquat.fill(k)
            w.write_arrays(float(k), float(k), qpos, mpos, mquat, episode=k)
            # A pause as the servo loop's (it writes every 2 ms): back-to-back writes of this
            # size can starve a reader on a slow machine, which is not what this test is about.
            time.sleep(0.0005)
        counter.value = k
    finally:
        stop.wait()
        w.close()


def test_reader_never_sees_a_torn_state_under_concurrent_writes():
    name = segment_name(mp.current_process().pid, "tornt")
    ctx = mp.get_context("spawn")
    ready, stop, counter = ctx.Event(), ctx.Event(), ctx.Value("q", 0)
    writer = ctx.Process(target=_writer, args=(name, ready, stop, counter), daemon=True)
    writer.start()
    try:
        assert ready.wait(30)
        reader = SnapshotReader(name, timeout=10)
        seen = set()
        t_end = time.monotonic() + 3.0
        while time.monotonic() < t_end:
            block = reader.read_block()
            k = block[0]
            # Every value of one state carries the same write number.
            assert block.min() == k and block.max() == k, f"torn state around write {k}"
            seen.add(k)
        stop.set()
        writer.join(10)
        # The test had teeth: the writer wrote throughout, the reader saw many states, and
        # reads did run into writes in progress (and were retried).
        assert counter.value > 100 and len(seen) > 20
        assert reader.retries > 0
        reader.close()
    finally:
        stop.set()
        writer.join(5)
        if writer.is_alive():
            writer.kill()
        unlink(name)


def test_renderer_in_another_process_draws_what_the_physics_holds():
    """A camera on a SharedCellView renders pixel for pixel what a camera on the backend does,
    after randomised placements (mocap) and motion (qpos)."""
    name = segment_name(mp.current_process().pid, "view")
    backend = SimRobotBackend(task="wipe", seed=3, realtime=False)
    backend.publish_snapshots(name)
    view = SharedCellView(name, timeout=5)
    try:
        backend.reset(seed=7)
        backend.servo_tcp(backend.read_state().tcp_pose)
        backend.step(0.05)
        stamp, snap = view.snapshot()
        ref_stamp, ref = backend.snapshot()
        assert stamp == ref_stamp and snap.sim_time == pytest.approx(backend.sim_time)
        np.testing.assert_array_equal(snap.qpos, ref.qpos)
        np.testing.assert_array_equal(snap.mocap_pos, ref.mocap_pos)
        assert snap.episode == ref.episode == 7  # the seed the cameras' split is drawn from
        for split in ("nominal", "lighting"):
            direct = SimCamera(backend, "scene", 96, 72, appearance=split)
            remote = SimCamera(view, "scene", 96, 72, appearance=split)
            try:
                a, b = direct.render(), remote.render()
            finally:
                direct._close_renderer()
                remote._close_renderer()
            assert a.stamp == b.stamp
            np.testing.assert_array_equal(a.rgb, b.rgb)
            assert a.rgb.std() > 1.0  # a real image, not a blank buffer
    finally:
        view.close()
        backend.close()
    assert not unlink(name)  # the writer removed its segment on close


def test_segments_of_dead_bringups_are_removed(tmp_path):
    dead_pid = 2 ** 22 + 12345  # above pid_max: no such process
    (tmp_path / f"fdvla_sim_{dead_pid}_d1").write_bytes(b"x")
    (tmp_path / f"fdvla_sim_{1}_d1").write_bytes(b"x")  # pid 1 lives
    (tmp_path / "fdvla_sim_d1").write_bytes(b"x")  # no owner pid: left alone
    assert remove_stale_segments(tmp_path) == [f"fdvla_sim_{dead_pid}_d1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fdvla_sim_1_d1", "fdvla_sim_d1"]
