"""`fdvla plot`: one figure per episode (a bag or a dataset episode folder): camera frames along
the top, TCP position and the measured wrench (and /fdvla/predicted_wrench) over time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fdvla_msgs import topics as T


def _from_bag(path: Path) -> dict:
    from fdvla_teleop.bags import deserialize, read_bag, stamp_of
    from fdvla_teleop.dataset_build import bag_cameras, image_array

    bag = read_bag(path)

    def series(topic, fn):
        raw = bag.messages.get(topic) or []
        if not raw:
            return None
        msgs = [deserialize(d, bag.types[topic]) for _, d in raw]
        return np.array([stamp_of(m) for m in msgs]), np.array([fn(m) for m in msgs])

    wrench = lambda m: [m.wrench.force.x, m.wrench.force.y, m.wrench.force.z,  # noqa: E731
                        m.wrench.torque.x, m.wrench.torque.y, m.wrench.torque.z]
    out = {"title": f"{path.name}  {bag.custom_data.get('task', '')}  "
                    f"success={bag.custom_data.get('success', '?')}"
                    + ("  (unfinished bag)" if bag.recovered else ""),
           "tcp": series(T.TCP_POSE, lambda m: [m.pose.position.x, m.pose.position.y,
                                                m.pose.position.z]),
           "wrench": series(T.WRENCH, wrench),
           "predicted": series(T.PREDICTED_WRENCH, wrench), "frames": {}}
    for cam in bag_cameras(bag):
        raw = bag.messages[T.camera_image_topic(cam)]
        pick = np.linspace(0, len(raw) - 1, 5).astype(int)
        out["frames"][cam] = [image_array(deserialize(raw[i][1], bag.types[
            T.camera_image_topic(cam)])) for i in pick]
    if out["tcp"] is None:
        raise ValueError(f"{path}: no /tcp_pose messages to plot")
    return out


def _from_episode(path: Path) -> dict:
    import json

    from fdvla_model.dataset import load_episode_arrays

    arr = load_episode_arrays(path)
    info = json.loads((path / "episode.json").read_text())
    t = arr["timestamp"]
    out = {"title": f"{path.name}  {info.get('task', '')}  success={info.get('success')}",
           "tcp": (t, arr["state"][:, :3]),
           "wrench": None if np.all(np.isnan(arr["wrench"])) else (t, arr["wrench"]),
           "predicted": None, "frames": {}}
    for npy in sorted(path.glob("*.npy")):
        if npy.name.endswith(".mask.npy"):  # foreground masks (semantic augmentation), no images
            continue
        imgs = np.load(npy, mmap_mode="r")
        pick = np.linspace(0, len(imgs) - 1, 5).astype(int)
        out["frames"][npy.stem] = [np.asarray(imgs[i]) for i in pick]
    return out


def plot_episode(path, out_png) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    if (path / "episode.json").is_file():
        d = _from_episode(path)
    else:
        d = _from_bag(path)
    cams = list(d["frames"])
    n_img = max((len(v) for v in d["frames"].values()), default=0)
    rows = len(cams) + 2
    fig = plt.figure(figsize=(12, 2.2 * len(cams) + 6))
    gs = fig.add_gridspec(rows, max(n_img, 1), height_ratios=[1.0] * len(cams) + [1.6, 1.6])
    for r, cam in enumerate(cams):
        for c, img in enumerate(d["frames"][cam]):
            ax = fig.add_subplot(gs[r, c])
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(cam)
    t0 = d["tcp"][0][0]
    ax = fig.add_subplot(gs[len(cams), :])
    for i, n in enumerate("xyz"):
        ax.plot(d["tcp"][0] - t0, d["tcp"][1][:, i], label=f"tcp {n}")
    ax.set_ylabel("TCP position (m)")
    ax.legend(loc="upper right", ncol=3)
    ax.grid(alpha=0.3)
    ax = fig.add_subplot(gs[len(cams) + 1, :], sharex=ax)
    if d["wrench"] is not None:
        for i, n in enumerate(("fx", "fy", "fz")):
            ax.plot(d["wrench"][0] - t0, d["wrench"][1][:, i], label=f"measured {n}")
    else:
        ax.text(0.5, 0.5, "no measured wrench (sensorless)", transform=ax.transAxes,
                ha="center")
    if d["predicted"] is not None:
        for i, n in enumerate(("fx", "fy", "fz")):
            ax.plot(d["predicted"][0] - t0, d["predicted"][1][:, i], "--",
                    label=f"predicted {n}")
    ax.set_ylabel("force (N)")
    ax.set_xlabel("time (s)")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", ncol=3)
    fig.suptitle(d["title"])
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return out_png
