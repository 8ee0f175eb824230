"""`fdvla dataset build`: recorded bags -> the episode dataset `fdvla train` reads (ROS-free).

Alignment (docs/dataset.md, "From bags"): a fixed grid of ticks at `fps` from the first
moment every needed stream (TCP pose, joint states, each camera) has a sample to the last
moment all still have one. Row t holds the newest sample *at or before* tick t of each stream
(by the header stamp = sampling time): state (TCP pose + joints), wrench (NaN on sensorless
bags), one image per camera. The action label of row t is the commanded target: the newest
`/controller/target_pose` stamped at or before tick t+1 (= t + 1/fps), i.e. where the
controller was taking the arm over the next step. A bag without controller targets falls back
to the measured TCP pose at tick t+1 (noted in the episode's `extra.action_source`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fdvla_msgs import topics as T
from fdvla_msgs.camera_geometry import calibration_to_dict
from fdvla_msgs.types import CameraIntrinsics, Pose, UR_JOINT_NAMES
from fdvla_teleop.bags import BagError, BagMessages, deserialize, find_bags, read_bag, stamp_of

STATE_TOPICS = (T.TCP_POSE, T.JOINT_STATES)


@dataclass
class EpisodeReport:
    bag: str
    status: str  # written | skipped
    reason: str = ""
    duration: float = 0.0
    success: bool | None = None
    rows: int = 0
    rates: dict = field(default_factory=dict)  # topic -> Hz (by header stamps)
    gaps: dict = field(default_factory=dict)  # topic -> number of gaps > 3 periods
    episode_dir: str = ""


class Streams:
    """Stamped samples of one topic, searchable by time."""

    def __init__(self, stamps, values):
        order = np.argsort(stamps, kind="stable")
        self.t = np.asarray(stamps, dtype=np.float64)[order]
        self.v = [values[i] for i in order]

    def __len__(self):
        return len(self.t)

    def at_or_before(self, ticks: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.t, ticks, side="right") - 1

    def rate(self) -> float:
        return (len(self.t) - 1) / (self.t[-1] - self.t[0]) if len(self.t) > 2 and \
            self.t[-1] > self.t[0] else 0.0

    def gaps(self, factor: float = 3.0) -> int:
        if len(self.t) < 3:
            return 0
        d = np.diff(self.t)
        period = float(np.median(d))
        return int(np.sum(d > factor * period)) if period > 0 else 0


def _pose(msg) -> Pose:
    p, q = msg.pose.position, msg.pose.orientation
    return Pose(np.array([p.x, p.y, p.z]), np.array([q.x, q.y, q.z, q.w]))


def _decode(bag: BagMessages, topic: str, fn) -> Streams | None:
    raw = bag.messages.get(topic) or []
    if not raw:
        return None
    typ = bag.types[topic]
    stamps, values = [], []
    for _, data in raw:
        msg = deserialize(data, typ)
        stamps.append(stamp_of(msg))
        values.append(fn(msg))
    return Streams(stamps, values)


def _joints(msg) -> np.ndarray:
    idx = {n: i for i, n in enumerate(msg.name)}
    return np.array([msg.position[idx[n]] for n in UR_JOINT_NAMES])


def image_array(msg) -> np.ndarray:
    """sensor_msgs/Image (rgb8 / bgr8) -> (H, W, 3) uint8 RGB."""
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.asarray(msg.data, dtype=np.uint8)
    if msg.encoding not in ("rgb8", "bgr8"):
        raise BagError(f"image encoding {msg.encoding!r} is not rgb8/bgr8")
    img = data.reshape(h, step)[:, :w * 3].reshape(h, w, 3)
    return img[..., ::-1].copy() if msg.encoding == "bgr8" else img.copy()


def bag_cameras(bag: BagMessages) -> list[str]:
    return [c for c in T.CAMERAS if bag.messages.get(T.camera_image_topic(c))]


def episode_arrays(bag: BagMessages, fps: float) -> dict:
    """The resampled episode of one bag: timestamps, state, action, wrench (None rows when
    sensorless), images {camera: (T,H,W,3)}, plus rates/gaps/notes. Raises BagError."""
    from fdvla_model.action_space import action_vector, state_vector

    tcp = _decode(bag, T.TCP_POSE, _pose)
    joints = _decode(bag, T.JOINT_STATES, _joints)
    if tcp is None or joints is None:
        raise BagError("no /tcp_pose or /joint_states messages")
    wrench = _decode(bag, T.WRENCH, lambda m: np.array(
        [m.wrench.force.x, m.wrench.force.y, m.wrench.force.z,
         m.wrench.torque.x, m.wrench.torque.y, m.wrench.torque.z]))
    target = _decode(bag, T.CONTROLLER_TARGET_POSE, _pose)
    cams = {c: _decode(bag, T.camera_image_topic(c), lambda m: m) for c in bag_cameras(bag)}
    if not cams:
        raise BagError("no camera images (the dataset format needs at least one camera)")
    # The episode starts once every recorded stream has a sample: a wrench that arrives a few
    # ms after the first image would otherwise leave the first frame without a force, and a
    # variant that takes the wrench as an input refuses a dataset with such frames.
    needed = [tcp, joints, *cams.values(), *([wrench] if wrench is not None else [])]
    start = max(s.t[0] for s in needed)
    end = min(s.t[-1] for s in needed)
    if end - start < 1.0 / fps:
        raise BagError(f"streams overlap for only {max(end - start, 0):.2f} s")
    n = int(np.floor((end - start) * fps + 1e-9)) + 1
    ticks = start + np.arange(n) / fps
    i_tcp, i_j = tcp.at_or_before(ticks), joints.at_or_before(ticks)
    state = np.stack([state_vector(tcp.v[a], joints.v[b]) for a, b in zip(i_tcp, i_j)])
    nxt = ticks + 1.0 / fps
    if target is not None and target.at_or_before(nxt)[0] >= 0:
        it = target.at_or_before(nxt)
        src = "controller_target_at_next_tick"
        # Before the controller's first target (not yet armed): the measured pose.
        it_tcp = tcp.at_or_before(nxt)
        action = np.stack([action_vector(target.v[k] if k >= 0 else tcp.v[m])
                           for k, m in zip(it, it_tcp)])
    else:
        src = "measured_tcp_at_next_tick"
        action = np.stack([action_vector(tcp.v[k]) for k in tcp.at_or_before(nxt)])
    w = None
    if wrench is not None:
        iw = wrench.at_or_before(ticks)
        w = np.stack([wrench.v[k] if k >= 0 else np.full(6, np.nan) for k in iw])
    images = {}
    for c, s in cams.items():
        idx = s.at_or_before(ticks)
        images[c] = np.stack([image_array(s.v[k]) for k in idx])
    streams = {T.TCP_POSE: tcp, T.JOINT_STATES: joints, T.WRENCH: wrench,
               T.CONTROLLER_TARGET_POSE: target,
               **{T.camera_image_topic(c): s for c, s in cams.items()}}
    return {"timestamp": ticks, "state": state, "action": action, "wrench": w,
            "images": images, "action_source": src, "duration": float(end - start),
            "rates": {t: s.rate() for t, s in streams.items() if s is not None},
            "gaps": {t: s.gaps() for t, s in streams.items() if s is not None}}


def _target(bag) -> dict | None:
    """The sim task's target pose the recorder stored at the episode's start (None: hardware,
    or a bag from before it was stored)."""
    try:
        t = json.loads(bag.custom_data["target"])
        return {"name": str(t["name"]), "pose": [float(v) for v in t["pose"]][:7],
                "yaw_symmetry": int(t.get("yaw_symmetry", 0))}
    except (KeyError, TypeError, ValueError):
        return None


def camera_calibrations(bag: BagMessages) -> dict:
    """{camera: {"intrinsics": CameraIntrinsics fields, "pose_in_base": [x, y, z, qx, qy, qz,
    qw]}} of each camera whose camera_info and extrinsics the bag holds (the last of each): what
    a pointing localiser is trained with (fdvla_model.localise.calibration)."""
    out = {}
    for c in T.CAMERAS:
        info = bag.messages.get(T.camera_info_topic(c))
        pose = bag.messages.get(T.camera_extrinsics_topic(c))
        if not info or not pose:
            continue
        m = deserialize(info[-1][1], bag.types[T.camera_info_topic(c)])
        k = CameraIntrinsics(int(m.width), int(m.height), float(m.k[0]), float(m.k[4]),
                             float(m.k[2]), float(m.k[5]), tuple(float(v) for v in m.d))
        pose_msg = deserialize(pose[-1][1], bag.types[T.camera_extrinsics_topic(c)])
        out[c] = calibration_to_dict(k, _pose(pose_msg))
    return out


def _instruction(bag: BagMessages) -> str:
    if bag.custom_data.get("instruction"):
        return bag.custom_data["instruction"]
    raw = bag.messages.get(T.INSTRUCTION)
    if raw:
        return deserialize(raw[-1][1], bag.types[T.INSTRUCTION]).data
    return bag.custom_data.get("task", "")


def build_dataset(paths, out, fps: float = 10.0, include_failed: bool = False,
                  include_unfinished: bool = False, progress: bool = True,
                  log=print) -> list[EpisodeReport]:
    from tqdm import tqdm

    from fdvla_model.dataset import EpisodeWriter, create_dataset, load_meta

    bags = find_bags(paths)
    if not bags:
        raise BagError(f"no bags found in {', '.join(map(str, paths))}")
    reports = []
    out = Path(out)
    for path in tqdm(bags, desc="dataset build", unit="bag", disable=not progress):
        rep = EpisodeReport(bag=str(path), status="skipped")
        reports.append(rep)
        try:
            bag = read_bag(path)
        except BagError as e:
            rep.reason = str(e)
            log(f"skip {path}: {e}")
            continue
        except Exception as e:  # a damaged file must not stop the build
            rep.reason = f"unreadable ({type(e).__name__}: {e})"
            log(f"skip {path}: {rep.reason}")
            continue
        rep.success = bag.success if not bag.recovered else None
        n_msgs = sum(len(v) for v in bag.messages.values())
        if bag.recovered:
            span = _span(bag)
            line = (f"{path}: unfinished bag (recorder killed or failed): {n_msgs} messages "
                    f"readable over {span:.1f} s ({bag.note})")
            if not include_unfinished:
                rep.reason = "unfinished (pass --include-unfinished to use its readable part)"
                log(f"skip {line}; pass --include-unfinished to use them")
                continue
            log(f"recover {line}")
        elif bag.status == "discarded" and not include_failed:
            rep.reason = "discarded"
            continue
        elif not bag.success and not include_failed:
            rep.reason = "not a success" + (f" ({bag.custom_data['failure']})"
                                            if bag.custom_data.get("failure") else "")
            continue
        try:
            ep = episode_arrays(bag, fps)
        except BagError as e:
            rep.reason = str(e)
            log(f"skip {path}: {e}")
            continue
        rep.duration, rep.rates, rep.gaps = ep["duration"], ep["rates"], ep["gaps"]
        cams = {c: a.shape[1:3] for c, a in ep["images"].items()}
        try:
            create_dataset(out, fps, cams)
        except Exception as e:
            meta = load_meta(out) if (out / "meta.json").exists() else None
            rep.reason = f"does not fit the dataset ({e}; dataset cameras " \
                         f"{[(c.name, c.height, c.width) for c in meta.cameras] if meta else '?'})"
            log(f"skip {path}: {rep.reason}")
            continue
        meta = load_meta(out)
        missing = [c.name for c in meta.cameras if c.name not in ep["images"]]
        if missing:
            rep.reason = f"no images of camera(s) {missing}"
            log(f"skip {path}: {rep.reason}")
            continue
        extra = {"bag": str(path), "action_source": ep["action_source"],
                 "recovered": bag.recovered, "sensorless": ep["wrench"] is None,
                 **{k: bag.custom_data[k] for k in ("setup", "seed", "sim_episode", "operator",
                                                    "operator_note", "failure", "status")
                    if k in bag.custom_data}}
        target = _target(bag)
        if target:
            extra["target"] = target
        calibration = camera_calibrations(bag)
        if calibration:
            extra["calibration"] = calibration
        writer = EpisodeWriter(out, _instruction(bag), bag.custom_data.get("task", ""),
                               extra=extra)
        with writer:
            for t in range(len(ep["timestamp"])):
                writer.append(ep["timestamp"][t], ep["state"][t], ep["action"][t],
                              None if ep["wrench"] is None else ep["wrench"][t],
                              {c: ep["images"][c][t] for c in meta.camera_names})
            final = writer.close(success=rep.success)
        rep.status, rep.rows, rep.episode_dir = "written", len(ep["timestamp"]), str(final)
    return reports


def _span(bag: BagMessages) -> float:
    ts = [t for v in bag.messages.values() for t, _ in v]
    return (max(ts) - min(ts)) * 1e-9 if ts else 0.0


_SHORT = {T.TCP_POSE: "tcp", T.JOINT_STATES: "joints", T.WRENCH: "wrench",
          T.CONTROLLER_TARGET_POSE: "target"}


def summary_table(reports: list[EpisodeReport], console=None):
    """A rich table: episodes, duration, success, per-topic rates, gaps > 3 periods."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="dataset build")
    for col in ("bag", "status", "duration s", "success", "rows", "rates Hz", "gaps>3T"):
        table.add_column(col)
    for r in reports:
        short = lambda t: _SHORT.get(t, t.strip("/").split("/")[0])  # noqa: E731
        rates = " ".join(f"{short(t)} {v:.0f}" for t, v in r.rates.items())
        gaps = " ".join(f"{short(t)} {v}" for t, v in r.gaps.items() if v) or "-"
        table.add_row(Path(r.bag).name, r.status if r.status == "written" else
                      f"skipped: {r.reason}", f"{r.duration:.1f}",
                      "-" if r.success is None else ("yes" if r.success else "no"),
                      str(r.rows), rates, gaps if r.status == "written" else "")
    written = [r for r in reports if r.status == "written"]
    (console or Console()).print(table)
    (console or Console()).print(
        f"{len(written)} of {len(reports)} bags written, {sum(r.rows for r in written)} rows, "
        f"{sum(r.duration for r in written):.1f} s")
    return table
