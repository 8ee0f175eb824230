"""The simulated cell's state in shared memory, for camera renderers in other processes.

The physics process writes, after every physics step batch, what a renderer needs to draw the
cell as it is: the stamp (on the robot backend's clock), the simulation time, `qpos` and the
mocap poses (every randomised placement of the tasks, and the wipe marks' erasure, are mocap
poses or joints). Renderer processes read it at their frame rate. The segment also carries the
model's MJCF once, so a renderer builds exactly the physics process's model, whatever the task's
geometry.

Synchronisation is a seqlock: the writer makes the sequence counter odd, copies the state in,
makes it even again; it never waits for a reader. A reader copies the whole state block and
retries when the counter was odd or changed during the copy, so it never sees a torn state. One
writer per segment. (Plain loads and stores suffice on x86-64, whose memory model keeps stores
and loads in program order; that is the platform this runs on.)

Layout (little-endian, 8-byte words): [seq, magic, nq, nmocap, xml_len, reserved x3] then the
state block of float64 [stamp, sim_time, episode, qpos(nq), mocap_pos(nmocap*3),
mocap_quat(nmocap*4)]
then the MJCF text (utf-8). `magic` is written last at creation: a reader waits for it.
"""

from __future__ import annotations

import os
import re
import time
from multiprocessing import resource_tracker, shared_memory
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from fdvla_drivers.sim.cell import SimSnapshot

_MAGIC = 0x4644564C41534E50  # "FDVLASNP"
_HEADER_WORDS = 8
_NAME_RE = re.compile(r"^fdvla_sim_(\d+)_")
SHM_DIR = Path("/dev/shm")
_OWN_SEGMENTS: set = set()  # created by a writer in this process


class SnapshotError(RuntimeError):
    pass


def _layout(nq: int, nmocap: int) -> int:
    return 3 + nq + 7 * nmocap  # float64 words of the state block


class SnapshotWriter:
    """Owns (creates and unlinks) the segment; `write` is called by the physics thread."""

    def __init__(self, name: str, nq: int, nmocap: int, xml: str):
        xml_bytes = xml.encode()
        self.name = name
        self.nq, self.nmocap = int(nq), int(nmocap)
        words = _layout(self.nq, self.nmocap)
        size = 8 * (_HEADER_WORDS + words) + len(xml_bytes)
        unlink(name)  # a leftover of a crashed run under the same name
        self._shm = shared_memory.SharedMemory(name=name, create=True, size=size)
        _OWN_SEGMENTS.add(name)
        buf = self._shm.buf
        self._header = np.ndarray((_HEADER_WORDS,), np.uint64, buf, 0)
        self._block = np.ndarray((words,), np.float64, buf, 8 * _HEADER_WORDS)
        self._qpos = self._block[3:3 + self.nq]
        m0 = 3 + self.nq
        self._mpos = self._block[m0:m0 + 3 * self.nmocap].reshape(self.nmocap, 3)
        self._mquat = self._block[m0 + 3 * self.nmocap:].reshape(self.nmocap, 4)
        off = 8 * (_HEADER_WORDS + words)
        buf[off:off + len(xml_bytes)] = xml_bytes
        self._header[2:5] = (self.nq, self.nmocap, len(xml_bytes))
        self._header[0] = 0
        self._header[1] = _MAGIC
        self.writes = 0

    @classmethod
    def for_model(cls, name: str, model, xml: str) -> "SnapshotWriter":
        return cls(name, model.nq, model.nmocap, xml)

    def write(self, stamp: float, data, episode: int = 0) -> None:
        """Publish the state of `data` (an MjData) at `stamp`, in the episode of that seed (the
        cameras' appearance split follows it); never blocks."""
        h = self._header
        h[0] += 1  # odd: writing
        b = self._block
        b[0] = stamp
        b[1] = data.time
        b[2] = episode
        self._qpos[:] = data.qpos
        self._mpos[:] = data.mocap_pos
        self._mquat[:] = data.mocap_quat
        h[0] += 1  # even: consistent
        self.writes += 1

    def write_arrays(self, stamp: float, sim_time: float, qpos, mocap_pos, mocap_quat,
                     episode: int = 0) -> None:
        """Same as `write`, from plain arrays (tests, tools)."""
        h = self._header
        h[0] += 1
        b = self._block
        b[0] = stamp
        b[1] = sim_time
        b[2] = episode
        self._qpos[:] = qpos
        self._mpos[:] = mocap_pos
        self._mquat[:] = mocap_quat
        h[0] += 1
        self.writes += 1

    def close(self) -> None:
        if self._shm is None:
            return
        self._header = self._block = self._qpos = self._mpos = self._mquat = None
        self._shm.close()
        try:
            self._shm.unlink()
        except FileNotFoundError:
            pass
        _OWN_SEGMENTS.discard(self.name)
        self._shm = None


class SnapshotReader:
    """Attaches to a writer's segment; `read` returns a consistent copy of the latest state."""

    def __init__(self, name: str, timeout: float = 30.0, poll: float = 0.05):
        self.name = name
        deadline = time.monotonic() + timeout
        while True:
            try:
                shm = shared_memory.SharedMemory(name=name, create=False)
            except FileNotFoundError:
                shm = None
            if shm is not None:
                # Python < 3.13 registers attached segments with the resource tracker, which
                # would unlink the writer's segment when this process exits.
                if name not in _OWN_SEGMENTS:
                    resource_tracker.unregister(shm._name, "shared_memory")  # noqa: SLF001
                if shm.size >= 8 * _HEADER_WORDS:
                    header = np.ndarray((_HEADER_WORDS,), np.uint64, shm.buf, 0)
                    if int(header[1]) == _MAGIC:
                        break
                    del header
                shm.close()
            if time.monotonic() >= deadline:
                raise SnapshotError(f"no simulated cell publishes its state as {name!r} "
                                    f"(waited {timeout:.0f} s): is the sim_cell process running?")
            time.sleep(poll)
        self._shm = shm
        self._header = np.ndarray((_HEADER_WORDS,), np.uint64, shm.buf, 0)
        self.nq, self.nmocap, xml_len = (int(x) for x in self._header[2:5])
        words = _layout(self.nq, self.nmocap)
        self._block = np.ndarray((words,), np.float64, shm.buf, 8 * _HEADER_WORDS)
        off = 8 * (_HEADER_WORDS + words)
        self.xml = bytes(shm.buf[off:off + xml_len]).decode()
        self._copy = np.empty(words, np.float64)
        self.retries = 0
        self.reads = 0

    def read_block(self, max_wait: float = 2.0) -> np.ndarray:
        """A consistent copy of the state block (valid until the next call)."""
        h, copy = self._header, self._copy
        deadline = None
        while True:
            s1 = int(h[0])
            if not s1 & 1:
                np.copyto(copy, self._block)
                if int(h[0]) == s1:
                    self.reads += 1
                    return copy
            self.retries += 1
            # The writer holds the odd count for microseconds, unless it is preempted mid-write
            # (a loaded machine) or died there.
            now = time.monotonic()
            if deadline is None:
                deadline = now + max_wait
            elif now > deadline:
                raise SnapshotError(f"state in {self.name!r} stayed inconsistent for "
                                    f"{max_wait:.0f} s: did its writer die mid-write?")
            time.sleep(0 if self.retries % 16 else 0.0005)

    @property
    def sequence(self) -> int:
        return int(self._header[0])

    def read(self) -> tuple[float, SimSnapshot]:
        # Imported here: the cell loads MuJoCo, which the segment's names and bytes do not need
        # (the graph names segments in processes that never simulate, the launch file's).
        from fdvla_drivers.sim.cell import SimSnapshot

        b = self.read_block()
        nq, nm = self.nq, self.nmocap
        m0 = 3 + nq
        snap = SimSnapshot(float(b[1]), b[3:m0].copy(),
                           b[m0:m0 + 3 * nm].reshape(nm, 3).copy(),
                           b[m0 + 3 * nm:].reshape(nm, 4).copy(), int(b[2]))
        return float(b[0]), snap

    def close(self) -> None:
        if self._shm is None:
            return
        self._header = self._block = None
        self._shm.close()
        self._shm = None


class SharedCellView:
    """What `SimCamera` needs of a robot backend (`model`, `realtime`, `snapshot()`), served
    from a `SnapshotWriter` in another process."""

    realtime = True

    def __init__(self, name: str, timeout: float = 30.0):
        import mujoco

        self.reader = SnapshotReader(name, timeout)
        self.model = mujoco.MjModel.from_xml_string(self.reader.xml)
        if (self.model.nq, self.model.nmocap) != (self.reader.nq, self.reader.nmocap):
            raise SnapshotError(f"{name!r}: MJCF and state layout disagree")

    def snapshot(self) -> tuple[float, SimSnapshot]:
        return self.reader.read()

    def close(self) -> None:
        self.reader.close()


# ------------------------------------------------------------------------------ names
def segment_name(owner_pid: int | None = None, tag: str | None = None) -> str:
    """The shared-memory name of a simulated cell's state (every runner builds it here).

    With the owning process id (supervisor, launch, test harness): unique to one bringup, and
    removed by `remove_stale_segments` once that process is gone; `tag` tells apart several of
    one owner and defaults to the ROS domain. Without an owner: one name per ROS domain, which
    processes started on their own agree on without being told.
    """
    if tag is None:
        tag = f"d{os.environ.get('ROS_DOMAIN_ID', '0')}"
    tag = re.sub(r"[^A-Za-z0-9]", "", str(tag)) or "x"
    return f"fdvla_sim_{tag}" if owner_pid is None else f"fdvla_sim_{int(owner_pid)}_{tag}"


def unlink(name: str) -> bool:
    """Remove a segment by name if it exists (after its processes are gone)."""
    try:
        (SHM_DIR / name).unlink()
    except FileNotFoundError:
        return False
    return True


def remove_stale_segments(shm_dir: Path = SHM_DIR) -> list[str]:
    """Unlink segments left by crashed bringups: those whose owner process no longer exists."""
    removed = []
    if not shm_dir.is_dir():
        return removed
    for path in shm_dir.glob("fdvla_sim_*"):
        m = _NAME_RE.match(path.name)
        if m is None:
            continue
        if not Path(f"/proc/{m.group(1)}").exists():
            try:
                path.unlink()
                removed.append(path.name)
            except OSError:
                pass
    return removed
