"""Reading recorded episodes back: finished bags with `rosbags`, killed ones from their MCAP
prefix with the `mcap` stream reader (ROS-free)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fdvla_teleop.recorder.bag import FAILED_SUFFIX, RECORDING_DIR, typestore


class BagError(ValueError):
    """A bag that cannot be used: one line saying which and why."""


@dataclass
class BagMessages:
    """All messages of a bag, raw, grouped by topic: {topic: [(receive ns, cdr bytes)]}."""

    path: Path
    custom_data: dict
    types: dict  # topic -> msgtype
    messages: dict = field(default_factory=dict)
    recovered: bool = False  # read from an unfinished (killed / failed) bag's flushed prefix
    note: str = ""

    @property
    def success(self) -> bool:
        return str(self.custom_data.get("success", "false")).lower() == "true"

    @property
    def status(self) -> str:
        if self.recovered:
            return "unfinished"
        return self.custom_data.get("status", "ok" if self.success else "failed")

    def count(self, topic: str) -> int:
        return len(self.messages.get(topic, ()))


def find_bags(paths) -> list[Path]:
    """Bag folders under `paths` (a bag folder, or a folder of them), unfinished ones included
    (`.recording/*` of a killed recorder, `*.failed`), sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise BagError(f"{p}: no such file or folder")
        if p.is_file() and p.suffix == ".mcap":
            p = p.parent
        if _is_bag(p):
            out.append(p)
            continue
        for d in sorted(p.iterdir()):
            if d.is_dir() and _is_bag(d):
                out.append(d)
        rec = p / RECORDING_DIR
        if rec.is_dir():
            out += sorted(d for d in rec.iterdir() if d.is_dir() and _is_bag(d))
    seen, unique = set(), []
    for b in out:
        if b.resolve() not in seen:
            seen.add(b.resolve())
            unique.append(b)
    return unique


def _is_bag(d: Path) -> bool:
    return (d / "metadata.yaml").is_file() or any(d.glob("*.mcap"))


def is_unfinished(path: Path) -> bool:
    path = Path(path)
    return (not (path / "metadata.yaml").is_file()) or path.name.endswith(FAILED_SUFFIX) \
        or path.parent.name == RECORDING_DIR


def read_bag(path, topics=None) -> BagMessages:
    """Every message (or those of `topics`) of a finished bag, or of an unfinished bag's
    readable prefix. Raises BagError for a bag that holds nothing readable."""
    path = Path(path)
    if (path / "metadata.yaml").is_file():
        try:
            return _read_finished(path, topics)
        except BagError:
            raise
        except Exception as e:  # a truncated/corrupt finished bag: try its prefix
            out = recover_partial(path, topics)
            out.note = f"metadata present but the bag is damaged ({e}); read its prefix"
            return out
    return recover_partial(path, topics)


def _read_finished(path: Path, topics) -> BagMessages:
    from rosbags.rosbag2 import Reader

    with Reader(path) as reader:
        custom = custom_data(path)
        conns = [c for c in reader.connections if topics is None or c.topic in topics]
        types = {c.topic: c.msgtype for c in reader.connections}
        out = BagMessages(path, custom, types, {t: [] for t in types})
        for conn, t_ns, raw in reader.messages(connections=conns):
            out.messages[conn.topic].append((t_ns, bytes(raw)))
    return out


def recover_partial(path, topics=None) -> BagMessages:
    """Read the complete records of an MCAP file that was never closed (recorder killed)."""
    from mcap.stream_reader import StreamReader
    from mcap.records import Channel, Message, Schema

    path = Path(path)
    files = sorted(path.glob("*.mcap"))
    if not files:
        raise BagError(f"{path}: no .mcap file")
    channels: dict[int, tuple] = {}
    schemas: dict[int, str] = {}
    messages: dict[str, list] = {}
    note = ""
    with open(files[0], "rb") as f:
        reader = StreamReader(f, skip_magic=False)
        try:
            for rec in reader.records:
                if isinstance(rec, Schema):
                    schemas[rec.id] = rec.name
                elif isinstance(rec, Channel):
                    channels[rec.id] = (rec.topic, schemas.get(rec.schema_id, ""))
                    messages.setdefault(rec.topic, [])
                elif isinstance(rec, Message):
                    topic = channels.get(rec.channel_id, ("?", ""))[0]
                    if topics is None or topic in topics:
                        messages.setdefault(topic, []).append((rec.log_time, bytes(rec.data)))
        except Exception as e:  # the truncated tail: everything before it is good
            note = f"stopped at the truncated tail ({type(e).__name__})"
    n = sum(len(v) for v in messages.values())
    if n == 0:
        raise BagError(f"{path}: unfinished bag with no readable messages")
    types = {t: typ for t, typ in channels.values()}
    try:  # the episode facts exist only in metadata.yaml; a killed bag has none
        custom = custom_data(path)
    except Exception:
        custom = {}
    return BagMessages(path, custom, types, messages, recovered=True,
                       note=note or "unfinished bag read to its end")


def custom_data(path) -> dict:
    """The rosbag2 `custom_data` mapping of a bag's metadata.yaml (empty if none)."""
    import yaml

    meta = yaml.safe_load((Path(path) / "metadata.yaml").read_text())
    return {str(k): str(v) for k, v in
            (meta["rosbag2_bagfile_information"].get("custom_data") or {}).items()}


def deserialize(raw: bytes, msgtype: str):
    """CDR bytes -> a rosbags message object (attribute access like the ROS message)."""
    return typestore().deserialize_cdr(raw, msgtype)


def stamp_of(msg) -> float:
    """Header stamp (s) of a deserialized stamped message."""
    st = msg.header.stamp
    return st.sec + st.nanosec * 1e-9
