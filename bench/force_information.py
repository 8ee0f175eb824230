"""Does a dataset's next motion need the wrench, or does the arm's own pose already tell it?

    .venv/bin/python bench/force_information.py DATASET [DATASET ...] [--horizon 10] [--axis z]
        [--target lead|deepest]

For the frames in contact (measured force above --contact N), it fits the commanded position
`--horizon` frames ahead relative to the TCP now (`lead`; `deepest`: the lowest command along
the axis within the horizon, e.g. how deep a press goes) — the motion a policy must predict — on
(a) the TCP position alone, (b) the TCP position and the measured force and, with --lags, (c)
those and the force's axis component --lags frames earlier (a force history), each a quadratic
least-squares regression, trained on 80 % of the episodes and scored on the rest (R^2 and the
residual's standard deviation). If (b) explains little more than (a), a policy that sees its
own pose can do what the demonstrations do without a force sensor: with the sim's impedance
servo the force follows from how far the command leads the TCP, so a task whose force band is
the same every episode can be held by commanding a fixed lead (docs/study/force_necessity.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from fdvla_model.dataset import episode_dirs, load_episode_arrays

AXES = {"x": 0, "y": 1, "z": 2}


def _quadratic(features: np.ndarray) -> np.ndarray:
    n, d = features.shape
    cols = [np.ones(n), *features.T]
    cols += [features[:, i] * features[:, j] for i in range(d) for j in range(i, d)]
    return np.column_stack(cols)


def _fit_score(train_x, train_y, test_x, test_y) -> tuple[float, float]:
    a = _quadratic(train_x)
    scale = np.abs(a).max(axis=0) + 1e-12
    coef, *_ = np.linalg.lstsq(a / scale, train_y, rcond=None)
    resid = test_y - (_quadratic(test_x) / scale) @ coef
    return float(1.0 - resid.var() / test_y.var()), float(resid.std())


def force_information(dataset, horizon: int = 10, axis: str = "z", contact: float = 2.0,
                      seed: int = 0, target: str = "lead", lags: tuple = ()) -> dict:
    """R^2 (held-out episodes) of the commanded motion from the pose alone and with the force."""
    rows = []
    for ep in episode_dirs(dataset):
        a = load_episode_arrays(ep)
        state, action, wrench = a["state"], a["action"], a["wrench"]
        if not np.isfinite(wrench).all():
            continue
        k = AXES[axis]
        for t in range(len(state) - horizon):
            if np.linalg.norm(wrench[t, :3]) > contact:
                ahead = action[t + horizon, k] if target == "lead" else \
                    action[t + 1:t + horizon + 1, k].min()
                past = [wrench[max(t - lag, 0), k] for lag in lags]  # as wrench_window pads
                rows.append((ep.name, state[t, :3], wrench[t, :3], ahead - state[t, k], past))
    if len(rows) < 50:
        raise SystemExit(f"{dataset}: only {len(rows)} frames in contact with a measured wrench")
    names = sorted({r[0] for r in rows})
    rng = np.random.default_rng(seed)
    held = set(rng.choice(names, size=max(1, len(names) // 5), replace=False))
    pose = np.array([r[1] for r in rows])
    force = np.array([r[2] for r in rows])
    y = np.array([r[3] for r in rows]) * 1000.0  # mm
    test = np.array([r[0] in held for r in rows])
    r2_pose, sd_pose = _fit_score(pose[~test], y[~test], pose[test], y[test])
    both = np.hstack([pose, force])
    r2_both, sd_both = _fit_score(both[~test], y[~test], both[test], y[test])
    history = {}
    if lags:
        full = np.hstack([both, np.array([r[4] for r in rows])])
        r2_hist, sd_hist = _fit_score(full[~test], y[~test], full[test], y[test])
        history = {"lags_frames": list(lags), "r2_pose_force_history": round(r2_hist, 3),
                   "resid_sd_pose_force_history_mm": round(sd_hist, 3)}
    return {"dataset": str(dataset), "frames_in_contact": len(rows), "episodes": len(names),
            "horizon_frames": horizon, "axis": axis, "target": target,
            "target_sd_mm": round(float(y.std()), 3),
            "r2_pose": round(r2_pose, 3), "r2_pose_force": round(r2_both, 3),
            "resid_sd_pose_mm": round(sd_pose, 3), "resid_sd_pose_force_mm": round(sd_both, 3),
            **history}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("datasets", nargs="+", type=Path)
    p.add_argument("--horizon", type=int, default=10, help="frames ahead (10 = 1 s at 10 fps)")
    p.add_argument("--axis", default="z", choices=tuple(AXES))
    p.add_argument("--contact", type=float, default=2.0, help="N: frames above this are in contact")
    p.add_argument("--target", default="lead", choices=("lead", "deepest"))
    p.add_argument("--lags", nargs="*", type=int, default=[],
                   help="frames back: also fit with the force then (a force history)")
    p.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = p.parse_args(argv)
    out = [force_information(d, args.horizon, args.axis, args.contact, target=args.target,
                             lags=tuple(args.lags)) for d in args.datasets]
    print("| dataset | frames in contact | target sd | R^2 pose | R^2 pose + force | residual sd pose / + force |")
    print("|---|---|---|---|---|---|")
    for r in out:
        print(f"| {r['dataset']} | {r['frames_in_contact']} | {r['target_sd_mm']:.2f} mm | "
              f"{r['r2_pose']:.2f} | {r['r2_pose_force']:.2f} | "
              f"{r['resid_sd_pose_mm']:.2f} / {r['resid_sd_pose_force_mm']:.2f} mm |")
        if "r2_pose_force_history" in r:
            print(f"|   + force {r['lags_frames']} frames back | | | | "
                  f"{r['r2_pose_force_history']:.2f} | {r['resid_sd_pose_force_history_mm']:.2f} mm |")
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
