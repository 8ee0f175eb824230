"""The paper's four variants on a `force` task, local recipe, several training seeds (issue 18).

Each variant is trained on the same target-frame dataset (near-target demonstrations, wrist
camera; docs/study/force_necessity.md) once per seed, wrapped as a ViTaL checkpoint and run
from the pre-contact pose the oracle localiser gives (2 mm noise by default), so that only the
contact phase is compared. Lock-step (or --realtime: over DDS, the way users run it),
`--physics force`, held-out placements from --eval-seed (real time: from the next seed on, the
sim episode contract).
Variants that need no wrench at inference run on the sensorless robot (the study's rule).
`--force-history K` trains the extension beside them (the force encoder reads the last K wrench
frames; `fdvla train --force-history`), named VARIANT+hK in the table.

A stage whose output exists is read, not redone, so an interrupted run resumes, and two runs
with different --variants can share the machine's two cores. Writes OUT/force_local_TASK.json
(the study's `"task/variant": {"successes", "trials", ...}` with seeds pooled and per seed) and
prints the Markdown table.

    python bench/bench_force_local.py --task button --dataset runs/vforce/button_local_tf --seeds 0 1 --out runs/vforce/local
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np

from fdvla.study.pipeline import failure_kind, fault_kind, run_fdvla
from fdvla.study.protocol import EVAL_ROBOT, SCALES, VARIANTS
from fdvla.study.report import wilson_interval


def _stage(name: str, done: Path, argv: list) -> None:
    if done.exists():
        return
    print(f"[{name}] fdvla {' '.join(map(str, argv))}", flush=True)
    started = time.time()
    run_fdvla(argv)
    print(f"[{name}] {time.time() - started:.0f} s", flush=True)


def cell_name(variant: str, history: int, dropout: float = 0.0, expert: bool = False) -> str:
    """The paper's variant, or an extension of it: the force history (VARIANT+hK, with
    force-history dropout P: VARIANT+hKdPERCENT), the force token into the expert (+x)."""
    name = variant
    if history > 1:
        name += f"+h{history}" + (f"d{round(dropout * 100)}" if dropout else "")
    return name + ("+x" if expert else "")


def parse_cell(name: str):
    """cell_name's inverse: (variant, history, dropout, expert), or None for another name."""
    m = re.fullmatch(r"([a-z_]+)(?:\+h(\d+)(?:d(\d+))?)?(\+x)?", name)
    if m is None or m.group(1) not in VARIANTS:
        return None
    return (m.group(1), int(m.group(2) or 1), int(m.group(3) or 0) / 100, bool(m.group(4)))


def run_cell(variant: str, seed: int, args) -> Path:
    """Train, wrap and evaluate one variant at one training seed; the evaluation's folder."""
    from fdvla_model.vital_checkpoint import write_vital_checkpoint

    name = f"{cell_name(variant, args.force_history, args.history_dropout, args.force_to_expert)}_s{seed}"
    train, vital = args.out / "train" / name, args.out / "vital" / name
    evaluation = args.out / _eval_folder(args) / name
    _stage(f"train {name}", train / "policy" / "config.json",
           ["train", "--dataset", args.dataset, "--variant", variant, "--preset", args.preset,
            "--steps", args.steps, "--batch-size", args.batch_size, "--chunk-size",
            args.chunk_size, "--lr", args.lr, "--seed", seed, "--out", train,
            *(["--force-history", args.force_history] if args.force_history > 1 else []),
            *(["--force-history-dropout", args.history_dropout] if args.history_dropout else []),
            *(["--force-to-expert"] if args.force_to_expert else [])])
    if not (vital / "vital.json").is_file():
        write_vital_checkpoint(vital, train)
    _stage(f"eval {name}", evaluation / "results.json",
           ["eval", "--policy", vital, "--task", args.task, "--episodes", args.episodes,
            "--seed", args.eval_seed, *([] if args.realtime else ["--lockstep"]),
            "--physics", "force", "--timeout",
            args.timeout, "--success-hold", args.success_hold, "--localiser", "oracle",
            "--localiser-noise", args.localiser_noise, "--robot", EVAL_ROBOT[variant],
            *([] if args.threshold is None else ["--threshold", args.threshold]),
            *([] if args.contact_threshold is None else
              ["--contact-threshold", args.contact_threshold]),
            *([] if args.noise_scale is None else ["--noise-scale", args.noise_scale]),
            "--out", evaluation])
    return evaluation


def _eval_folder(args) -> str:
    """eval[_realtime][_thrN][_ctM][_nsK]: the re-planning thresholds and the flow's initial
    noise scale in percent, where given."""
    folder = "eval_realtime" if args.realtime else "eval"
    if args.threshold is not None:
        folder += f"_thr{round(args.threshold * 100)}"
    if args.contact_threshold is not None:
        folder += f"_ct{round(args.contact_threshold * 100)}"
    if args.noise_scale is not None:
        folder += f"_ns{round(args.noise_scale * 100)}"
    return folder


def _mean(values) -> float | None:
    values = [v for v in values if isinstance(v, (int, float)) and np.isfinite(v)]
    return round(float(np.mean(values)), 3) if values else None


def hidden_by_outcome(episodes: list) -> dict:
    """{outcome ("success" or the failure's kind): {"episodes": n, hidden parameter: mean}}:
    which hidden draws each outcome comes from (a stall on stiff springs shows here)."""
    groups: dict = {}
    for e in episodes:
        kind = "success" if e["success"] else failure_kind(e.get("failure"))
        groups.setdefault(kind, []).append(e.get("hidden") or {})
    return {kind: {"episodes": len(rows),
                   **{k: _mean(r.get(k) for r in rows) for k in sorted(set().union(*rows))}}
            for kind, rows in sorted(groups.items())}


def success_by_tercile(episodes: list) -> dict:
    """{hidden parameter: {"edges", "successes", "trials"}}: success in each third of the
    parameter's drawn range (the held-out placements are the same for every cell, so are the
    edges)."""
    out = {}
    for name in sorted(set().union(*[(e.get("hidden") or {}) for e in episodes])):
        rows = [(e["hidden"][name], bool(e["success"])) for e in episodes
                if isinstance((e.get("hidden") or {}).get(name), (int, float))]
        if len(rows) < 3:
            continue
        values = np.array([v for v, _ in rows])
        edges = np.quantile(values, [1 / 3, 2 / 3])
        third = np.digitize(values, edges)
        ok = np.array([s for _, s in rows])
        out[name] = {"edges": [round(float(x), 3) for x in edges],
                     "successes": [int(ok[third == i].sum()) for i in range(3)],
                     "trials": [int((third == i).sum()) for i in range(3)]}
    return out


def force_tracking(episodes: list, resamples: int = 2000, seed: int = 0) -> dict | None:
    """Does the press follow the hidden band? The least-squares slope of each episode's peak
    contact force on its band's lower edge (1: the press rises with the threshold; 0: one force
    whatever the draw, as the blind script presses), its bootstrap 95 % interval over episodes,
    the correlation, and the peak's mean offset above the lower edge (N). A press that stalls
    part-way also scores a slope (the spring's own force at that depth rises with the spring), so
    read it with the failures."""
    rows = [((e.get("force_quality") or {}).get("force_band") or [None])[0] for e in episodes]
    pairs = np.array([(lo, e["force_quality"]["peak_force"]) for lo, e in zip(rows, episodes)
                      if isinstance(lo, (int, float))
                      and isinstance(e["force_quality"].get("peak_force"), (int, float))])
    if len(pairs) < 3 or np.ptp(pairs[:, 0]) == 0:
        return None
    x, y = pairs.T
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(resamples):
        i = rng.integers(0, len(x), len(x))
        if np.ptp(x[i]) > 0:
            boot.append(np.polyfit(x[i], y[i], 1)[0])
    return {"slope": round(float(np.polyfit(x, y, 1)[0]), 3),
            "slope_95": [round(float(v), 3) for v in np.percentile(boot, [2.5, 97.5])],
            "corr": round(float(np.corrcoef(x, y)[0, 1]), 3),
            "peak_above_threshold_mean": round(float(np.mean(y - x)), 2), "episodes": len(x)}


def cell_episodes(variant: str, history: int, seeds: list, args, dropout: float = 0.0,
                  expert: bool = False) -> dict:
    """{seed: the cell's evaluated episodes} for the seeds whose evaluation is present."""
    out = {}
    for seed in seeds:
        path = (args.out / _eval_folder(args)
                / f"{cell_name(variant, history, dropout, expert)}_s{seed}" / "results.json")
        if path.is_file():
            out[seed] = json.loads(path.read_text())["episodes"]
    return out


def summarise(variant: str, by_seed: dict, args, history: int = 1, dropout: float = 0.0,
              expert: bool = False) -> dict | None:
    """Seeds pooled (successes over all episodes) and per seed."""
    per_seed = {str(seed): {"successes": sum(bool(e["success"]) for e in eps), "trials": len(eps)}
                for seed, eps in by_seed.items()}
    episodes = [e for eps in by_seed.values() for e in eps]
    if not episodes:
        return None
    k, n = sum(bool(e["success"]) for e in episodes), len(episodes)
    quality = [e.get("force_quality") or {} for e in episodes]
    rates = [d["successes"] / d["trials"] for d in per_seed.values()]
    return {"successes": k, "trials": n, "wilson_95": [round(x, 3) for x in wilson_interval(k, n)],
            "per_seed": per_seed,
            "seed_spread": round(max(rates) - min(rates), 3) if len(rates) > 1 else None,
            "robot": EVAL_ROBOT[variant], "mode": "realtime" if args.realtime else "lockstep",
            "localiser": "oracle", "force_history": history, "force_history_dropout": dropout,
            "force_to_expert": expert,
            "failures": dict(Counter(failure_kind(e.get("failure"))
                                     for e in episodes if not e["success"])),
            "faults": dict(Counter(fault_kind(e["fault"]) for e in episodes if e.get("fault"))),
            "hidden_by_outcome": hidden_by_outcome(episodes),
            "success_by_hidden_tercile": success_by_tercile(episodes),
            "peak_force_mean": _mean(q.get("peak_force") for q in quality),
            "mean_force_mean": _mean(q.get("mean_contact_force") for q in quality),
            "in_band_share_mean": _mean(q.get("in_band_share") for q in quality),
            "force_tracking": force_tracking(episodes)}


def plot(table: dict, path: Path, title: str) -> None:
    """One bar per cell (seeds pooled, Wilson 95 %), each seed's rate as a dot on it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(table)
    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 2, 4.2))
    for i, key in enumerate(names):
        d = table[key]
        rate = 100 * d["successes"] / d["trials"]
        lo, hi = (100 * x for x in d["wilson_95"])
        paper = "+" not in key.split("/", 1)[1]  # the paper's variants; extensions hatched
        ax.bar(i, rate, 0.6, yerr=[[rate - lo], [hi - rate]], capsize=3,
               color="#1f77b4" if paper else "white", edgecolor="#1f77b4",
               hatch=None if paper else "///")
        seeds = [100 * v["successes"] / v["trials"] for v in d["per_seed"].values()]
        ax.scatter([i] * len(seeds), seeds, color="k", s=14, zorder=3)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([n.split("/", 1)[1] for n in names], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("success (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_tracking(table: dict, episodes: dict, path: Path, title: str) -> None:
    """Per cell (`episodes`: cell -> its episodes): each episode's peak force against its band's
    lower edge, the band shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = {k: [(e["force_quality"]["force_band"], e["force_quality"].get("peak_force"),
                   bool(e["success"])) for e in eps
                  if (e.get("force_quality") or {}).get("force_band")]
              for k, eps in episodes.items()}
    names = [k for k in table if points.get(k)]
    if not names:
        return
    fig, axes = plt.subplots(1, len(names), figsize=(3.0 * len(names), 3.2), sharey=True,
                             squeeze=False)
    for ax, key in zip(axes[0], names):
        pts = points[key]
        lo = np.array([b[0] for b, _, _ in pts])
        hi = np.array([b[1] for b, _, _ in pts])
        peak = np.array([np.nan if p is None else p for _, p, _ in pts], dtype=float)
        ok = np.array([s for _, _, s in pts])
        order = np.argsort(lo)
        ax.fill_between(lo[order], lo[order], hi[order], color="#2ca02c", alpha=0.2, lw=0,
                        label="band")
        ax.scatter(lo[ok], peak[ok], s=12, color="#2ca02c", label="success")
        ax.scatter(lo[~ok], peak[~ok], s=12, color="#d62728", marker="x", label="failure")
        t = table[key]["force_tracking"] or {}
        ax.set_title(f"{key.split('/', 1)[1]}: slope {t.get('slope', float('nan')):.2f}",
                     fontsize=8)
        ax.set_xlabel("band's lower edge (N)")
    axes[0][0].set_ylabel("peak contact force (N)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="button")
    p.add_argument("--dataset", type=Path, required=True,
                   help="target-frame dataset (fdvla dataset target-frame)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="training seeds")
    recipe = SCALES["small"]  # the study's training recipe (and the default policy's)
    p.add_argument("--preset", default=recipe.preset)
    p.add_argument("--steps", type=int, default=recipe.train_steps)
    p.add_argument("--batch-size", type=int, default=recipe.batch_size)
    p.add_argument("--chunk-size", type=int, default=recipe.chunk_size)
    p.add_argument("--lr", type=float, default=recipe.lr)
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--eval-seed", type=int, default=100, help="first held-out placement seed")
    p.add_argument("--timeout", type=float, default=20.0)
    p.add_argument("--success-hold", type=float, default=1.0)
    p.add_argument("--localiser-noise", type=float, default=0.002, help="m (oracle localiser)")
    p.add_argument("--force-history", type=int, default=1, metavar="K",
                   help="train the force-history extension VARIANT+hK (default 1: the paper's)")
    p.add_argument("--history-dropout", type=float, default=0.0, metavar="P",
                   help="with --force-history: force-history dropout P (fdvla train "
                        "--force-history-dropout), cells named VARIANT+hKdPERCENT")
    p.add_argument("--force-to-expert", action="store_true",
                   help="train the extension that feeds the force token to the action expert "
                        "too (fdvla train --force-to-expert), cells named VARIANT+x; variants "
                        "with a force token only")
    p.add_argument("--threshold", type=float, default=None, metavar="SHARE",
                   help="fdvla eval --threshold (executed share of a chunk that starts the next "
                        "inference); its cells go to eval_thrPERCENT")
    p.add_argument("--contact-threshold", type=float, default=None, metavar="SHARE",
                   help="fdvla eval --contact-threshold (the same in hard contact); with "
                        "--threshold 1, 1 runs every chunk to its end; cells: eval_..._ctPERCENT")
    p.add_argument("--noise-scale", type=float, default=None, metavar="S",
                   help="fdvla eval --noise-scale (0: deterministic chunks); cells: eval_..._nsPERCENT")
    p.add_argument("--realtime", action="store_true",
                   help="evaluate in real time over DDS (the policy node's oracle), not lock-step")
    p.add_argument("--summarise-only", action="store_true",
                   help="only read the evaluations present and write the table")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    args.out = args.out / args.task
    if args.history_dropout and args.force_history < 2:
        p.error("--history-dropout needs --force-history of at least 2")
    if args.force_to_expert and "no_force" in args.variants:
        p.error("--force-to-expert: no_force has no force token; leave it out of --variants")
    if not args.summarise_only:
        for seed in args.seeds:  # every variant once before any second seed
            for variant in args.variants:
                run_cell(variant, seed, args)
    table = {}
    # The table holds every cell evaluated by any run into this folder, the paper's variants
    # first, then the extensions.
    found = {parse_cell(p.name.rsplit("_s", 1)[0])
             for p in (args.out / _eval_folder(args)).glob("*_s*") if (p / "results.json").is_file()}
    found.discard(None)
    order = {v: i for i, v in enumerate(VARIANTS)}
    episodes = {}  # cell -> its episodes, seeds pooled
    for variant, history, dropout, expert in sorted(
            found, key=lambda c: (c[1:] != (1, 0.0, False), c[1], c[2], c[3], order[c[0]])):
        by_seed = cell_episodes(variant, history, args.seeds, args, dropout, expert)
        row = summarise(variant, by_seed, args, history, dropout, expert)
        if row is not None:
            key = f"{args.task}/{cell_name(variant, history, dropout, expert)}"
            table[key] = row
            episodes[key] = [e for eps in by_seed.values() for e in eps]
    args.out.mkdir(parents=True, exist_ok=True)
    mode = _eval_folder(args)[len("eval"):]  # "", "_realtime", "_thr100_ct100_ns0", ...
    (args.out / f"force_local_{args.task}{mode}.json").write_text(json.dumps(table, indent=2) + "\n")
    if table:
        how = (("real time" if args.realtime else "lock-step")
               + mode.replace("_realtime", "").replace("_", " "))
        plot(table, args.out / f"force_local_{args.task}{mode}.png",
             f"{args.task}, force physics, local recipe, oracle localiser ({how}); bars: seeds "
             "pooled, Wilson 95 %; dots: each training seed; hatched: extensions")
        plot_tracking(table, episodes, args.out / f"force_tracking_{args.task}{mode}.png",
                      f"{args.task}: does the press follow the hidden band? ({how}, seeds pooled)")
    print("| variant | success (seeds pooled) | Wilson 95 % | per seed | failures | peak force "
          "| in band | peak vs band: slope [95 %] |\n|---|---|---|---|---|---|---|---|")
    for key, d in table.items():
        seeds = ", ".join(f"{v['successes']}/{v['trials']}" for v in d["per_seed"].values())
        fails = ", ".join(f"{k} {v}" for k, v in sorted(d["failures"].items())) or "-"
        t = d["force_tracking"]
        track = f"{t['slope']:.2f} [{t['slope_95'][0]:.2f}, {t['slope_95'][1]:.2f}]" if t else "-"
        print(f"| {key} | {d['successes']}/{d['trials']} | [{d['wilson_95'][0]:.2f}, "
              f"{d['wilson_95'][1]:.2f}] | {seeds} | {fails} | {d['peak_force_mean']} N | "
              f"{d['in_band_share_mean']} | {track} |")


if __name__ == "__main__":
    main()
