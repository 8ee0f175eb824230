"""Which force objective makes the fdvla student learn the force? Same data, seed and budget each.

    nice -n 10 python bench/compare_force_objectives.py                  # 300 steps per objective
    nice -n 10 python bench/compare_force_objectives.py --steps 100 --objectives joint teacher

Trains the tiny preset with `fdvla train`'s own code (TrainConfig/train) once per objective on one
synthetic dataset (`write_synthetic_dataset`: the images show a dot that follows the TCP and
reddens under contact force, the wrench is the spring contact force of that path), one episode
held out, and prints, from the trainer's held-out evaluation (losses.jsonl, eval_* fields):

token R²      share of f_aF's variance explained by f_pF (held-out frames)
spread        spread of f_aF (mean per-dimension std) at the end / after the first step
wrench MSE    wrench decoded from f_pF vs measured (normalised units), and the MSE of predicting
              the mean; skill = 1 - MSE / MSE(mean)
dec(f_aF)     the decoder's MSE reading f_aF itself (does it read the target at all?)
flow          held-out flow loss with fixed noise/time (the actions are still learnt)

A linear probe (ridge regression from each image's channel means and mean red-minus-green, plus
the state, to the force, fitted on the training episodes, scored on the held-out one as a skill
like the wrench skill above) says how much of the force simple features of the inputs reveal.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from fdvla_model.dataset import EpisodeDataset, write_synthetic_dataset
from fdvla_model.model.configuration_fdvla import FORCE_OBJECTIVES
from fdvla_model.train import TrainConfig, train
from fdvla_model.train.metrics import split_episodes


def linear_probe_r2(root: Path, holdout: int = 1, ridge: float = 1.0) -> float:
    """Held-out skill of a ridge probe image+state -> force (x, y, z), like wrench_skill_pred:
    1 - MSE / MSE of predicting the training mean, in training-normalised units."""
    probe = EpisodeDataset(root, chunk_size=1)
    train_eps, eval_eps = split_episodes([e.index for e in probe.episodes], holdout)

    def features(episodes):
        ds = EpisodeDataset(root, chunk_size=1, episodes=episodes)
        xs, ys = [], []
        for i in range(len(ds)):
            s = ds[i]
            pix = [np.asarray(img).reshape(3, 8, img.shape[1] // 8, 8, img.shape[2] // 8).mean(axis=(2, 4)).ravel()
                   for img in s["images"].values()]
            xs.append(np.concatenate(pix + [s["state"].numpy()]))
            ys.append(s["wrench"].numpy())
        return np.array(xs), np.array(ys)

    xtr, ytr = features(train_eps)
    xev, yev = features(eval_eps)
    ytr, yev = ytr[:, :3], yev[:, :3]  # the force axes
    mx, sx = xtr.mean(0), xtr.std(0) + 1e-2
    my, sy = ytr.mean(0), ytr.std(0) + 1e-6
    a, b = (xtr - mx) / sx, (ytr - my) / sy
    w = np.linalg.solve(a.T @ a + ridge * len(a) * np.eye(a.shape[1]), a.T @ b)
    pred, target = (xev - mx) / sx @ w, (yev - my) / sy
    return float(1 - ((pred - target) ** 2).mean() / (target ** 2).mean())


def summarize_run(out: Path, name: str, seconds: float | None) -> dict:
    """The comparison's figures from one run folder's losses.jsonl (held-out eval_* rows)."""
    rows = [json.loads(line) for line in (out / "losses.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "eval_split" in r]
    first, last = evals[0], evals[-1]
    return {
        "objective": name, "seconds": seconds, "steps": rows[-1]["step"] + 1, "split": last["eval_split"],
        "token_r2": last.get("eval_token_r2"), "spread_end": last.get("eval_target_spread"),
        "spread_start": first.get("eval_target_spread"),
        "wrench_mse_pred": last.get("eval_wrench_mse_pred"), "wrench_mse_mean": last.get("eval_wrench_mse_mean"),
        "wrench_skill_pred": last.get("eval_wrench_skill_pred"),
        "wrench_mse_actual": last.get("eval_wrench_mse_actual"), "eval_flow_loss": last.get("eval_flow_loss"),
        "dist_loss_first": rows[0]["dist_loss"], "dist_loss_last": float(np.mean([r["dist_loss"] for r in rows[-10:]])),
        "curve": [{k: r.get(k) for k in ("step", "eval_token_r2", "eval_wrench_skill_pred", "eval_target_spread",
                                         "eval_flow_loss")} for r in evals],
    }


def run(args) -> tuple[list, float, Path]:
    work = Path(args.work or tempfile.mkdtemp(prefix="fdvla_objectives_"))
    data = work / "dataset"
    if not (data / "meta.json").is_file():
        write_synthetic_dataset(data, episodes=args.episodes, length=args.length, image_size=(64, 64), seed=args.seed)
    results = []
    for name in args.objectives:
        out = work / (name + args.tag)
        if args.summarize:
            stored = out / "result.json"
            seconds = json.loads(stored.read_text())["seconds"] if stored.is_file() else None
            results.append(summarize_run(out, name + args.tag, seconds))
            continue
        cfg = TrainConfig(dataset=str(data), out=str(out), variant="fdvla", force_objective=name,
                          steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup_steps=args.steps // 10,
                          chunk_size=args.chunk_size, seed=args.seed, save_every=args.steps,
                          keep_checkpoints=1, eval_every=args.eval_every, progress=not args.quiet,
                          lambda_dist=args.lambda_dist, teacher_unit_variance=not args.teacher_raw_scale)
        started = time.perf_counter()
        train(cfg)
        result = summarize_run(out, name + args.tag, time.perf_counter() - started)
        (out / "result.json").write_text(json.dumps(result, indent=2))
        results.append(result)
    probe = linear_probe_r2(data)
    (work / "comparison.json").write_text(json.dumps({"args": vars(args), "linear_probe_r2": probe,
                                                      "results": results}, indent=2))
    return results, probe, work


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objectives", nargs="+", default=list(FORCE_OBJECTIVES), choices=list(FORCE_OBJECTIVES))
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--chunk-size", type=int, default=10)
    p.add_argument("--episodes", type=int, default=8)
    p.add_argument("--length", type=int, default=40)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", default=None, help="folder for the dataset and runs (default: a temp folder)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--lambda-dist", type=float, default=None, help="L_dist weight (default: the model's, 0.1)")
    p.add_argument("--teacher-raw-scale", action="store_true", help="teacher tokens at the autoencoder's scale")
    p.add_argument("--tag", default="", help="suffix for the run folders and table rows")
    p.add_argument("--summarize", action="store_true",
                   help="no training: print the table from the run folders already in --work "
                        "(e.g. objectives trained by several processes at once)")
    args = p.parse_args(argv)
    results, probe, work = run(args)
    table = Table(title=f"force objectives, fdvla tiny, {results[0]['steps']} steps, batch {args.batch_size}, "
                        f"seed {args.seed}, {results[0]['split']} frames")
    for col in ("objective", "token R²", "spread end/start", "wrench MSE (mean)", "skill", "dec(f_aF) MSE",
                "flow", "L_dist first→last", "s"):
        table.add_column(col, justify="right")

    def f(x, spec=".3f"):
        return "n/a" if x is None else format(x, spec)

    for r in results:
        ratio = r["spread_end"] / r["spread_start"] if r["spread_start"] else None
        table.add_row(r["objective"], f(r["token_r2"]), f"{f(r['spread_end'])}/{f(r['spread_start'])} ({f(ratio, '.2f')}x)",
                      f"{f(r['wrench_mse_pred'])} ({f(r['wrench_mse_mean'])})", f(r["wrench_skill_pred"]),
                      f(r["wrench_mse_actual"]), f(r["eval_flow_loss"]),
                      f"{f(r['dist_loss_first'], '.3g')}→{f(r['dist_loss_last'], '.3g')}", f(r["seconds"], ".0f"))
    console = Console(width=170)
    console.print(table)
    console.print(f"linear probe (image colour means + state -> force), held-out skill: {probe:.3f}")
    console.print(f"details: {work / 'comparison.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
