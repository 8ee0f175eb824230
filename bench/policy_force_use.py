"""Does a trained policy use the force it is given? An offline check on held-out demonstrations.

    .venv/bin/python bench/policy_force_use.py --dataset HELD_OUT_DATASET CKPT [CKPT ...]
        [--frames 300] [--contact 2.0] [--out FILE.json]

For frames in contact (measured force above --contact N) of demonstrations the policy never
trained on (record them with other seeds), each policy predicts its chunk from the frame's
observation (deterministic: the flow integrated from zero noise); the score is how well the
chunk's deepest point along z matches the demonstration's over the same steps (R^2 and the
residual's spread in mm: how deep the press goes is what the force tasks decide on), and how far
the chunk's first point is from the demonstration's (the lead the servo turns into force now). For a policy
that reads the wrench, the same frames again with the wrench of another frame (a seeded
shuffle among the chosen frames): if the score does not drop, the policy does not use the force.
Writes the rows as JSON with --out; prints a Markdown table. A training run's checkpoint is its
folder (CKPT/policy inside) or the policy folder itself.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from fdvla_model.dataset import EpisodeDataset, images_to_float
from fdvla_model.model.modeling_fdvla import FDVLAPolicy
from fdvla_model.train.config import WRENCH_INPUT_VARIANTS


def _policy_dir(path: Path) -> Path:
    return path / "policy" if (path / "policy").is_dir() else path


def contact_frames(dataset: EpisodeDataset, count: int, contact: float, seed: int) -> np.ndarray:
    """Sample indices of up to `count` frames whose measured force exceeds `contact`."""
    chosen = []
    for i in range(len(dataset)):
        k, t = dataset.locate(i)
        w = dataset._arrays(k)["wrench"][t]
        if np.isfinite(w).all() and np.linalg.norm(w[:3]) > contact:
            chosen.append(i)
    if not chosen:
        raise SystemExit(f"{dataset.root}: no frame with a force above {contact} N")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(chosen, size=min(count, len(chosen)), replace=False))


def score(policy, dataset: EpisodeDataset, frames: np.ndarray, wrench_from=None) -> dict:
    """R^2 and residual of the predicted deepest z (m) against the demonstration's."""
    cfg = policy.config
    pred, true, first = [], [], []
    for n, i in enumerate(frames):
        s = dataset[int(i)]
        wrench = s["wrench"] if wrench_from is None else dataset[int(wrench_from[n])]["wrench"]
        batch = {"images": {c: images_to_float(v)[None] for c, v in s["images"].items()},
                 "state": s["state"][None], "wrench": wrench[None], "task": [s["task"]]}
        noise = torch.zeros((1, cfg.chunk_size, cfg.action_dim))
        with torch.inference_mode():
            chunk = policy.sample_actions(batch, noise=noise)[0].float().numpy()
        real = ~s["action_is_pad"].numpy()
        first.append(chunk[0, 2] - s["actions"].numpy()[0, 2])
        pred.append(chunk[real, 2].min())
        true.append(s["actions"].numpy()[real, 2].min())
    pred, true = np.asarray(pred), np.asarray(true)
    resid = pred - true
    return {"r2": float(1.0 - (resid ** 2).mean() / true.var()),
            "residual_sd_mm": float(1000 * resid.std()), "bias_mm": float(1000 * resid.mean()),
            "target_sd_mm": float(1000 * true.std()),
            # The chunk's first point against the demonstration's: with the impedance servo its
            # lead over the TCP is the force the arm will press with next (~4 N per mm).
            "first_point_error_sd_mm": float(1000 * np.std(first)),
            "first_point_bias_mm": float(1000 * np.mean(first))}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", type=Path)
    p.add_argument("--dataset", required=True, type=Path, help="held-out demonstrations, in the "
                   "policies' frame (a target-frame dataset for local policies)")
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--contact", type=float, default=2.0, help="N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for ckpt in args.checkpoints:
        policy = FDVLAPolicy.load(_policy_dir(ckpt))
        policy.eval()
        history = int(getattr(policy.config, "force_history", 1))
        data = EpisodeDataset(args.dataset, chunk_size=policy.config.chunk_size,
                              camera_names=policy.config.camera_names, wrench_history=history)
        frames = contact_frames(data, args.frames, args.contact, args.seed)
        row = {"checkpoint": str(ckpt), "variant": policy.config.variant, "frames": len(frames),
               **score(policy, data, frames)}
        if policy.config.variant in WRENCH_INPUT_VARIANTS:  # the variants that read it
            shuffled = np.random.default_rng(args.seed + 1).permutation(frames)
            row["shuffled_wrench"] = score(policy, data, frames, wrench_from=shuffled)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| checkpoint | variant | frames | R^2 | residual sd | first point error sd (bias) | "
          "R^2, another frame's wrench |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        other = r.get("shuffled_wrench")
        print(f"| {r['checkpoint']} | {r['variant']} | {r['frames']} | {r['r2']:.2f} | "
              f"{r['residual_sd_mm']:.2f} mm | {r['first_point_error_sd_mm']:.2f} mm "
              f"({r['first_point_bias_mm']:+.2f}) | "
              + (f"{other['r2']:.2f} ({other['residual_sd_mm']:.2f} mm) |" if other else "- |"))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
