"""One episode's rosbag2 bag (MCAP storage) written with the `rosbags` library.

The bag is written into `OUT/.recording/<name>/` and renamed to `OUT/<name>/` only once
`metadata.yaml` is complete, so a bag folder in OUT is always a finished bag (and keeps
`<name>.mcap` as its file name). rosbags' MCAP writer keeps
the current chunk in memory until it reaches 1 MiB; `flush()` closes the chunk early and pushes
it to the OS, so a recorder killed with SIGKILL leaves an MCAP file whose chunks up to the last
flush are readable (`fdvla_teleop.bags.recover_partial` reads them back).
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

RECORDING_DIR = ".recording"
FAILED_SUFFIX = ".failed"
_TYPESTORE = None

#: errno values that mean "the disk (or the quota / file size limit) is full".
DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def typestore():
    """The ROS 2 Jazzy message definitions (what rosbags needs for schemas and hashes)."""
    global _TYPESTORE
    if _TYPESTORE is None:
        _TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
    return _TYPESTORE


class BagWriteError(RuntimeError):
    def __init__(self, message: str, disk_full: bool = False):
        super().__init__(message)
        self.disk_full = disk_full


def _explain(e: OSError, path: Path) -> BagWriteError:
    if e.errno in DISK_FULL:
        return BagWriteError(f"disk full writing {path} ({os.strerror(e.errno)})", True)
    return BagWriteError(f"cannot write {path}: {e}")


class EpisodeBagWriter:
    def __init__(self, final_path: Path, custom_data: dict | None = None):
        self.final_path = Path(final_path)
        self.path = self.final_path.parent / RECORDING_DIR / self.final_path.name
        self.custom_data = {k: str(v) for k, v in (custom_data or {}).items()}
        self._writer: Writer | None = None
        self._connections: dict[str, object] = {}
        self.counts: dict[str, int] = {}
        self.bytes_written = 0

    def open(self) -> "EpisodeBagWriter":
        if self.final_path.exists():
            raise BagWriteError(f"{self.final_path} exists already")
        if self.path.exists():
            raise BagWriteError(f"{self.path} exists already (an unfinished episode)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        try:
            self._writer.open()
        except OSError as e:
            self._writer = None
            raise _explain(e, self.path) from None
        return self

    def write(self, topic: str, msgtype: str, t_ns: int, data: bytes) -> None:
        conn = self._connections.get(topic)
        try:
            if conn is None:
                conn = self._writer.add_connection(topic, msgtype, typestore=typestore())
                self._connections[topic] = conn
                self.counts[topic] = 0
            self._writer.write(conn, t_ns, data)
        except OSError as e:
            raise _explain(e, self.path) from None
        self.counts[topic] += 1
        self.bytes_written += len(data)

    def flush(self) -> None:
        """Close the pending MCAP chunk and hand it to the OS (survives SIGKILL)."""
        storage = getattr(self._writer, "storage", None)
        if storage is None:
            return
        try:
            chunk = getattr(storage, "chunk", None)
            if chunk is not None and chunk.msgs and hasattr(storage, "close_chunk"):
                storage.close_chunk()
            bio = getattr(storage, "bio", None)
            if bio is not None:
                bio.flush()
        except OSError as e:
            raise _explain(e, self.path) from None

    def set_custom_data(self, **facts) -> None:
        self.custom_data.update({k: str(v) for k, v in facts.items()})

    def close(self) -> Path:
        """Write the MCAP summary and metadata.yaml, then rename into place."""
        w = self._writer
        for k, v in self.custom_data.items():
            w.set_custom_data(k, v)
        try:
            w.close()
        except OSError as e:
            raise _explain(e, self.path) from None
        finally:
            self._writer = None
        os.replace(self.path, self.final_path)
        return self.final_path

    def fail(self) -> Path:
        """Give up (disk full, write error): keep what was flushed as `OUT/<name>.failed/`."""
        self._abort_writer()
        failed = self.final_path.with_name(self.final_path.name + FAILED_SUFFIX)
        try:
            os.replace(self.path, failed)
            return failed
        except OSError:
            return self.path

    def remove(self) -> None:
        self._abort_writer()
        shutil.rmtree(self.path, ignore_errors=True)

    def _abort_writer(self) -> None:
        """Drop the open writer without its summary; what it flushed stays on disk."""
        w, self._writer = self._writer, None
        if w is not None:
            try:
                w.abort()
            except Exception:  # the writer is already broken (that is why we abort)
                pass

    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.glob("*") if f.is_file()) \
            if self.path.exists() else 0
