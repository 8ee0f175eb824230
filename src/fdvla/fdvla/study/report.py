"""The study's report: success with Wilson intervals beside the paper's, failure causes, force
error and training curves, as report.md + PNG figures."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from fdvla.study.protocol import (
    PAPER_MEAN,
    PAPER_SUCCESSES,
    PAPER_TRIALS,
    TASK_TITLES,
    VARIANT_TITLES,
    StudyScale,
)


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple:
    """Wilson score interval of a binomial proportion (good at small n and at 0 or n)."""
    if trials <= 0:
        return (float("nan"), float("nan"))
    from scipy.stats import binomtest

    ci = binomtest(int(successes), int(trials)).proportion_ci(confidence_level=confidence,
                                                              method="wilson")
    return (float(ci.low), float(ci.high))


@dataclass
class CellResult:
    """Evaluation of one variant on one task."""

    task: str
    variant: str
    successes: int
    trials: int
    failures: Counter = field(default_factory=Counter)  # cause -> count, failed episodes only
    faults: Counter = field(default_factory=Counter)  # safety stops of the controller -> count
    force_error: Optional[float] = None  # mean |decoded predicted - measured| force, N
    force_trace: Optional[dict] = None  # {"t": [...], "measured": [...], "predicted": [...]}
    #: The task checker's partial credit per episode (0..1: button travel pressed, plug depth,
    #: share of marks erased); it separates variants when few episodes succeed.
    progress: list = field(default_factory=list)

    @property
    def mean_progress(self) -> Optional[float]:
        return float(np.mean(self.progress)) if self.progress else None

    @property
    def rate(self) -> float:
        return self.successes / self.trials if self.trials else float("nan")

    @property
    def interval(self) -> tuple:
        return wilson_interval(self.successes, self.trials)


def mean_rate(cells: list) -> float:
    rates = [c.rate for c in cells if c.trials]
    return float(np.mean(rates)) if rates else float("nan")


def ordering(results: dict, variants) -> list:
    """Variants from best to worst mean success (ties keep the given order)."""
    means = {v: mean_rate([c for (t, vv), c in results.items() if vv == v]) for v in variants}
    return sorted(variants, key=lambda v: -np.nan_to_num(means[v], nan=-1.0))


# -------------------------------------------------------------------------------------- figures
def plot_success(results: dict, scale: StudyScale, path: Path) -> None:
    """Fig. 6's layout: a group of bars per task and the mean; ours with Wilson 95% intervals,
    the paper's (where it reports one) as hatched bars beside them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(scale.tasks) + ["mean"]
    variants = list(scale.variants)
    colors = dict(zip(("fdvla", "force_token", "no_fdm", "no_force"),
                      ("#d62728", "#1f77b4", "#2ca02c", "#7f7f7f")))
    width = 0.8 / (2 * len(variants))
    fig, ax = plt.subplots(figsize=(2.2 * len(groups) + 2, 5.4))
    for g, group in enumerate(groups):
        for k, v in enumerate(variants):
            x = g + (2 * k - len(variants)) * width + width / 2
            if group == "mean":
                cells = [results[(t, v)] for t in scale.tasks if (t, v) in results]
                ours, err = 100 * mean_rate(cells), None
                paper = PAPER_MEAN.get(v)
            else:
                cell = results.get((group, v))
                ours = 100 * cell.rate if cell else np.nan
                lo, hi = cell.interval if cell else (np.nan, np.nan)
                err = [[ours - 100 * lo], [100 * hi - ours]]
                p = PAPER_SUCCESSES.get(v, {}).get(group)
                paper = None if p is None else 100 * p / PAPER_TRIALS
            ax.bar(x, ours, width, color=colors.get(v, "k"), yerr=err, capsize=2,
                   label=f"{VARIANT_TITLES.get(v, v)} (sim, ours)" if g == 0 else None)
            if paper is not None:
                ax.bar(x + width, paper, width, color="white", edgecolor=colors.get(v, "k"),
                       hatch="///", label=f"{VARIANT_TITLES.get(v, v)} (paper, UR5e)"
                       if group == "mean" else None)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([TASK_TITLES.get(g, "Mean") for g in groups])
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.08))
    ax.set_title(f"Success per task and variant (scale '{scale.name}': "
                 f"{scale.eval_episodes} trials each; bars: Wilson 95%)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_force(results: dict, scale: StudyScale, path: Path) -> bool:
    """Decoded predicted force vs measured over one episode, a panel per task and variant that
    reports a trace; False when no evaluation recorded one."""
    cells = [c for c in results.values() if c.force_trace]
    if not cells:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(cells), 1, figsize=(8, 2.0 * len(cells)), squeeze=False)
    for ax, c in zip(axes[:, 0], cells):
        tr = c.force_trace
        ax.plot(tr["t"], tr["measured"], label="measured |F| (sim sensor)", color="k")
        ax.plot(tr["t"], tr["predicted"], label="decoded from predicted token", color="#d62728")
        err = "" if c.force_error is None else f", mean error {c.force_error:.1f} N"
        ax.set_title(f"{TASK_TITLES.get(c.task, c.task)} / {c.variant}{err}", fontsize=9)
        ax.set_ylabel("N")
    axes[0, 0].legend(fontsize=7)
    axes[-1, 0].set_xlabel("episode time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_training(curves: dict, path: Path) -> bool:
    """curves: {(task, variant): [{"step": s, "flow_loss": x, ...}, ...]} from losses.jsonl."""
    curves = {k: v for k, v in curves.items() if v}
    if not curves:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({t for t, _ in curves})
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for (t, v), rows in sorted(curves.items()):
            if t != task:
                continue
            steps = [r["step"] for r in rows if "flow_loss" in r]
            ax.plot(steps, [r["flow_loss"] for r in rows if "flow_loss" in r], label=v)
        ax.set_yscale("log")
        ax.set_title(TASK_TITLES.get(task, task), fontsize=9)
        ax.set_xlabel("step")
    axes[0, 0].set_ylabel("flow-matching loss")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def read_losses(path: Path) -> list:
    rows = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        break  # a torn last line from an interrupted run
    except OSError:
        pass
    return rows


# -------------------------------------------------------------------------------------- report
def _pct(x: float) -> str:
    return "-" if x != x else f"{100 * x:.1f}%"


def write_report(out: Path, scale: StudyScale, results: dict, curves: dict,
                 timings: dict, command: str, demos_used: Optional[dict] = None) -> Path:
    out = Path(out)
    plot_success(results, scale, out / "success.png")
    has_force = plot_force(results, scale, out / "force_error.png")
    has_curves = plot_training(curves, out / "training.png")
    lines = [f"# FD-VLA comparison in the simulated cell (scale `{scale.name}`)", "",
             f"Command: `{command}`", "",
             f"Protocol: {scale.demos} scripted demonstrations per task, {scale.train_steps} "
             f"training steps (preset `{scale.preset}`, batch {scale.batch_size}, lr "
             f"{scale.lr:g}, chunks of {scale.chunk_size} actions at {scale.fps:g} fps, seed "
             f"{scale.seed}) for every variant on the same data, {scale.eval_episodes} evaluation "
             f"episodes per task and variant on held-out placements (seeds from "
             f"{scale.eval_seed}), {'lock-step' if scale.lockstep else 'real-time'} evaluation, "
             f"{scale.episode_timeout:.0f} s per episode. `fdvla` and `no_force` are evaluated "
             "without a force sensor; `force_token` and `no_fdm` need the measured wrench.", ""]
    if demos_used and any(n is not None for n in demos_used.values()):
        lines += ["Demonstrations trained on (the successful ones of each task's "
                  f"{scale.demos}): " + ", ".join(f"{t} {'-' if n is None else n}"
                                                   for t, n in demos_used.items()) + ".", ""]
    lines += ["![success](success.png)", "",
             "## Success rate (Wilson 95% interval) beside the paper's (UR5e, 30 trials)", ""]
    tasks = list(scale.tasks)
    lines.append("| variant | " + " | ".join(TASK_TITLES[t] for t in tasks)
                 + " | mean | paper mean |")
    lines.append("|---|" + "---|" * (len(tasks) + 2))
    for v in scale.variants:
        row = [VARIANT_TITLES.get(v, v)]
        for t in tasks:
            c = results.get((t, v))
            if c is None:
                row.append("not run")
                continue
            lo, hi = c.interval
            p = PAPER_SUCCESSES.get(v, {}).get(t)
            paper = "" if p is None else f" (paper {p}/{PAPER_TRIALS})"
            row.append(f"{c.successes}/{c.trials} = {_pct(c.rate)} [{_pct(lo)}, {_pct(hi)}]{paper}")
        cells = [results[(t, v)] for t in tasks if (t, v) in results]
        row.append(_pct(mean_rate(cells)))
        row.append(f"{PAPER_MEAN[v]:.1f}%" if v in PAPER_MEAN else "-")
        lines.append("| " + " | ".join(row) + " |")
    variants = list(scale.variants)
    means = {v: mean_rate([c for (t, vv), c in results.items() if vv == v]) for v in variants}
    order = ordering(results, variants)
    ranked = " ".join(v if i == 0 else (" = " if means[v] == means[order[i - 1]] else " > ") + v
                      for i, v in enumerate(order)).replace("  ", " ")
    paper_order = sorted(PAPER_MEAN, key=lambda v: -PAPER_MEAN[v])
    if len(set(np.round([means[v] for v in variants], 9))) < len(variants):
        verdict = "Some variants tie: no ordering can be read from ties."
    elif [v for v in order if v in PAPER_MEAN] == [v for v in paper_order if v in variants]:
        verdict = "The paper's ordering; the intervals above say how much of it is noise."
    else:
        verdict = "Not the paper's ordering; the intervals above say how much of it is noise."
    lines += ["", f"Ordering here (mean success), best first: {ranked}. The paper's: "
              f"{' > '.join(paper_order)}. {verdict}", ""]
    if any(c.mean_progress is not None for c in results.values()):
        lines += ["## Task progress (the checkers' partial credit, mean over episodes)", "",
                  "Button: share of the cap's travel pressed; plug: share of the socket depth "
                  "reached; wipe: share of the marks erased. 1.0 in a successful episode.", "",
                  "| variant | " + " | ".join(TASK_TITLES.get(t, t) for t in tasks) + " |",
                  "|---|" + "---|" * len(tasks)]
        for v in scale.variants:
            cells = [results.get((t, v)) for t in tasks]
            lines.append(f"| {v} | " + " | ".join(
                "-" if c is None or c.mean_progress is None else f"{c.mean_progress:.2f}"
                for c in cells) + " |")
        lines.append("")
    lines += ["## Why episodes failed (task checkers; safety stops of the controller)", "",
              "| task | variant | failed | causes | arm stopped by |", "|---|---|---|---|---|"]
    for (t, v), c in sorted(results.items()):
        causes = ", ".join(f"{k} x{n}" for k, n in c.failures.most_common()) or "-"
        stops = ", ".join(f"{k} x{n}" for k, n in c.faults.most_common()) or "-"
        lines.append(f"| {t} | {v} | {c.trials - c.successes} | {causes} | {stops} |")
    lines.append("")
    if has_force:
        lines += ["## Force: decoded prediction vs measured", "",
                  "| task | variant | mean force error (N) |", "|---|---|---|"]
        for (t, v), c in sorted(results.items()):
            if c.force_error is not None:
                lines.append(f"| {t} | {v} | {c.force_error:.2f} |")
        lines += ["", "![force](force_error.png)", ""]
    if has_curves:
        lines += ["## Training", "", "![training](training.png)", ""]
    if timings:
        total = sum(timings.values())
        lines += ["## Time per stage", "", "| stage | s |", "|---|---|"]
        lines += [f"| {k} | {v:.0f} |" for k, v in timings.items()]
        lines += [f"| total | {total:.0f} |", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    (out / "results.json").write_text(json.dumps(
        {f"{t}/{v}": {"successes": c.successes, "trials": c.trials, "rate": c.rate,
                      "wilson95": list(c.interval), "failures": dict(c.failures),
                      "force_error": c.force_error, "mean_progress": c.mean_progress,
                      "safety_stops": dict(c.faults)}
         for (t, v), c in sorted(results.items())}, indent=1))
    return path
