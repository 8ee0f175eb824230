"""The recorder's episode logic, ROS-free: start/stop/discard, a writer thread, counts.

DDS callbacks hand `(topic, receive time, CDR bytes)` to `on_message`, which only counts and
queues (no deserialisation on the hot path). One writer thread owns the bag: it writes queued
messages, closes the pending MCAP chunk every `flush_period` seconds (SIGKILL safety), and
runs the start/stop/discard commands in queue order, so a message received while recording is
always either written or counted as dropped.
"""

from __future__ import annotations

import json
import queue
import re
import shutil
import threading
import time
from concurrent.futures import Future
from pathlib import Path

from fdvla_teleop.recorder.bag import FAILED_SUFFIX, BagWriteError, EpisodeBagWriter

EPISODE_RE = re.compile(r"^episode_(\d{4,})")


class RecorderRefusal(RuntimeError):
    """A request that makes no sense in the current state (start while recording, ...)."""


def software_version() -> str:
    try:
        from importlib.metadata import version

        return version("fdvla")
    except Exception:
        return "0.1.0"


class EpisodeRecorder:
    def __init__(self, out_dir, facts: dict | None = None, flush_period: float = 1.0,
                 min_free_bytes: int = 200 * 2**20):
        """`facts`: episode facts for every bag's custom_data (instruction, task, setup, ...)."""
        self.out_dir = Path(out_dir)
        self.facts = {"software_version": software_version(), **(facts or {})}
        self.flush_period = flush_period
        self.min_free_bytes = min_free_bytes
        self._types: dict[str, str] = {}
        self._latched: dict[str, bytes | None] = {}
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._recording = False
        self._bag: EpisodeBagWriter | None = None
        self._episode_start = 0.0
        self.episode_index: int | None = None
        self.received: dict[str, int] = {}
        self.written: dict[str, int] = {}
        self.total_received = 0
        self.total_written = 0
        self.error = ""
        self.last_bag: Path | None = None
        self.episodes_done = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recorder-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ topics
    def add_topic(self, topic: str, msgtype: str, latched: bool = False) -> None:
        """`msgtype` as in rosbag2, e.g. 'sensor_msgs/msg/Image'. The newest message of a
        `latched` topic (the instruction) opens every episode's bag, even if it was sent
        before the episode started."""
        self._types[topic] = msgtype
        if latched:
            self._latched[topic] = None

    # ------------------------------------------------------------------ hot path (any thread)
    def on_message(self, topic: str, data: bytes, t_ns: int | None = None) -> None:
        if topic in self._latched:
            self._latched[topic] = data
        if not self._recording:
            return
        t_ns = time.time_ns() if t_ns is None else t_ns
        with self._lock:
            if not self._recording:
                return
            self.received[topic] = self.received.get(topic, 0) + 1
            self._q.put((topic, t_ns, data))

    # ------------------------------------------------------------------ commands
    @property
    def recording(self) -> bool:
        return self._recording

    def start(self, **facts) -> Path:
        """Open the next episode's bag; returns its final path. RecorderRefusal/BagWriteError."""
        if self._recording:
            raise RecorderRefusal(f"already recording episode {self.episode_index} "
                                  f"({self._bag.final_path if self._bag else ''}); stop or "
                                  "discard it first")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.out_dir).free
        if free < self.min_free_bytes:
            raise BagWriteError(f"disk full: only {free / 2**20:.0f} MiB free in {self.out_dir} "
                                f"(need {self.min_free_bytes / 2**20:.0f} MiB)", True)
        index = self._next_index()
        bag = EpisodeBagWriter(self.out_dir / f"episode_{index:04d}",
                               {**self.facts, **facts, "episode": index,
                                "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        bag.open()
        fut = Future()
        with self._lock:
            self._q.put(("__start__", bag, fut))
            t_start = time.time_ns()
            for topic, data in self._latched.items():
                if data is not None:
                    self._q.put((topic, t_start, data))
            self.received = {t: 1 for t, d in self._latched.items() if d is not None}
            self.written = {}
            self.error = ""
            self._bag = bag
            self.episode_index = index
            self._episode_start = time.monotonic()
            self._recording = True
        fut.result(timeout=10)
        return bag.final_path

    def stop(self, success: bool = True, note: str = "", **facts) -> Path:
        """Finish the episode (kept). Returns the bag path; raises on refusal or failure."""
        return self._finish("stop", success=success, note=note, **facts)

    def discard(self, note: str = "") -> Path:
        """Finish the episode marked discarded (kept on disk, skipped by `dataset build`)."""
        return self._finish("discard", success=False, note=note)

    def _finish(self, how: str, success: bool, note: str = "", **facts) -> Path:
        with self._lock:
            if not self._recording:
                raise RecorderRefusal(f"not recording: nothing to {how}")
            self._recording = False
            fut = Future()
            self._q.put(("__finish__", how, success, note, facts, fut))
        return fut.result(timeout=60)

    def status(self) -> dict:
        bag = self._bag
        return {"state": "recording" if self._recording else "idle",
                "episode": self.episode_index, "episodes_done": self.episodes_done,
                "duration": (time.monotonic() - self._episode_start) if self._recording else 0.0,
                "bag_bytes": bag.bytes_written if bag is not None else 0,
                "received": dict(self.received), "written": dict(self.written),
                "dropped": sum(self.received.values()) - sum(self.written.values())
                if not self._recording else 0,
                "error": self.error, "last_bag": str(self.last_bag or "")}

    def close(self) -> None:
        """Stop the writer thread; an episode still open is finished as not successful."""
        if self._recording:
            try:
                self.stop(success=False, note="recorder shut down while recording")
            except Exception:
                pass
        self._stop.set()
        self._q.put(("__quit__",))
        self._thread.join(timeout=10)

    # ------------------------------------------------------------------ writer thread
    def _next_index(self) -> int:
        taken = [-1]
        for d in [*self.out_dir.iterdir(), *(self.out_dir / ".recording").glob("*")] \
                if self.out_dir.exists() else []:
            m = EPISODE_RE.match(d.name)
            if m:
                taken.append(int(m.group(1)))
        return max(taken) + 1

    def _run(self) -> None:
        next_flush = time.monotonic() + self.flush_period
        while True:
            try:
                item = self._q.get(timeout=0.05)
            except queue.Empty:
                item = None
            if item is not None:
                tag = item[0]
                if tag == "__quit__":
                    return
                if tag == "__start__":
                    item[2].set_result(True)
                    next_flush = time.monotonic() + self.flush_period
                elif tag == "__finish__":
                    self._do_finish(*item[1:])
                else:
                    self._do_write(*item)
            if self._bag is not None and not self.error and time.monotonic() >= next_flush:
                next_flush = time.monotonic() + self.flush_period
                try:
                    self._bag.flush()
                except BagWriteError as e:
                    self._fail(e)

    def _do_write(self, topic: str, t_ns: int, data: bytes) -> None:
        bag = self._bag
        if bag is None or self.error:
            return  # the episode failed: counted as received, not written
        try:
            bag.write(topic, self._types[topic], t_ns, data)
        except BagWriteError as e:
            self._fail(e)
            return
        self.written[topic] = self.written.get(topic, 0) + 1
        self.total_written += 1

    def _fail(self, e: BagWriteError) -> None:
        self.error = f"episode {self.episode_index} failed: {e}"
        where = self._bag.fail()
        self.error += f" (flushed part kept in {where})"

    def _do_finish(self, how, success, note, facts, fut: Future) -> None:
        bag, self._bag = self._bag, None
        self.total_received += sum(self.received.values())
        try:
            if self.error:
                raise BagWriteError(self.error, True)
            counts = {t: {"received": self.received.get(t, 0), "written": self.written.get(t, 0)}
                      for t in sorted(set(self.received) | set(self.written))}
            bag.set_custom_data(
                success=str(bool(success)).lower(),
                status="discarded" if how == "discard" else ("ok" if success else "failed"),
                operator_note=note, duration=f"{time.monotonic() - self._episode_start:.3f}",
                message_counts=json.dumps(counts), **facts)
            path = bag.close()
        except BagWriteError as e:
            if not self.error:
                self.error = f"episode {self.episode_index} failed: {e}"
                self.error += f" (flushed part kept in {bag.fail()})"
            fut.set_exception(BagWriteError(self.error, True))
            return
        except Exception as e:  # never leave the caller hanging
            self.error = f"episode {self.episode_index} failed: {type(e).__name__}: {e}"
            bag.fail()
            fut.set_exception(BagWriteError(self.error))
            return
        self.last_bag = path
        self.episodes_done += 1
        fut.set_result(path)


__all__ = ["EpisodeRecorder", "RecorderRefusal", "FAILED_SUFFIX"]
