"""`fdvla eval` outputs: results.json, success per task (bar plot), measured vs predicted wrench
per episode."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .results import EpisodeRecord


def summarize(records: list[EpisodeRecord], meta: dict) -> dict:
    tasks = sorted({r.task for r in records})
    per_task = {}
    for t in tasks:
        rs = [r for r in records if r.task == t]
        n, ok = len(rs), sum(r.success for r in rs)
        times = [r.success_time for r in rs if r.success and r.success_time is not None]
        per_task[t] = {"episodes": n, "successes": ok, "success_rate": ok / n if n else 0.0,
                       "mean_success_time": float(np.mean(times)) if times else None,
                       "boundary_jerk_p95": _nanmean([r.boundary_jerk for r in rs]),
                       "jerk_p95": _nanmean([r.jerk for r in rs]),
                       # the controller's own counts: refused chunks and safety stops, by reason
                       "chunks_rejected": _total([r.chunks_rejected for r in rs]),
                       "safety_stops": _total([r.safety_stops for r in rs]),
                       # the contact force against the task's band (physics "force")
                       "peak_force_mean": _nanmean([_q(r, "peak_force") for r in rs]),
                       "in_band_share_mean": _nanmean([_q(r, "in_band_share") for r in rs])}
    return _clean({**meta, "tasks": per_task, "episodes": [r.summary() for r in records]})


def _clean(o):
    """NaN/inf -> null, numpy scalars -> Python: strict JSON."""
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, (np.floating, float)):
        return float(o) if np.isfinite(o) else None
    if isinstance(o, np.integer):
        return int(o)
    return o


def _total(dicts) -> dict:
    out: dict = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + int(v)
    return dict(sorted(out.items()))


def _q(r: EpisodeRecord, key: str) -> float:
    v = (r.force_quality or {}).get(key)
    return float("nan") if v is None else float(v)


def _nanmean(x):
    a = np.asarray(x, float)
    a = a[np.isfinite(a)]
    return float(a.mean()) if len(a) else None


def write_report(records: list[EpisodeRecord], out: Path, meta: dict) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(records, meta)
    (out / "results.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")

    tasks = list(summary["tasks"])
    rates = [summary["tasks"][t]["success_rate"] for t in tasks]
    fig, ax = plt.subplots(figsize=(max(3.0, 1.4 * len(tasks) + 1.5), 3.2))
    bars = ax.bar(tasks, rates, color="tab:green")
    for b, t in zip(bars, tasks):
        d = summary["tasks"][t]
        ax.text(b.get_x() + b.get_width() / 2, b.get_height() + 0.02,
                f"{d['successes']}/{d['episodes']}", ha="center")
        issues = (f"refused {sum(d['chunks_rejected'].values())}\n"
                  f"safety stops {sum(d['safety_stops'].values())}")
        ax.text(b.get_x() + b.get_width() / 2, 0.05, issues, ha="center", fontsize=7)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("success rate")
    setting = ", ".join(f"{k} {meta[k]}" for k in ("physics", "split")
                        if meta.get(k) not in (None, "nominal"))
    ax.set_title(f"{meta.get('policy', '')} ({meta.get('mode', '')}"
                 f"{', ' + setting if setting else ''})", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "success.png", dpi=100)
    plt.close(fig)

    n = len(records)
    fig, axes = plt.subplots(n, 1, figsize=(7, 1.9 * n + 0.5), squeeze=False, sharex=True)
    for ax, r in zip(axes[:, 0], records):
        # The force the task judges: pressing (Fz), or rubbing (|Fxy|: the wipe's "force" physics).
        rubbing = (r.force_quality or {}).get("force_axis") == "tangential"
        name = "|Fxy| (rubbing)" if rubbing else "Fz"

        def judged(w):
            w = np.asarray(w)
            return np.hypot(w[:, 0], w[:, 1]) if rubbing else w[:, 2]

        if r.wrench:
            ax.plot(r.wrench_t, judged(r.wrench), color="tab:blue", lw=1, label=f"measured {name}")
        if r.predicted:
            ax.plot(r.predicted_t, judged(r.predicted), "o-", color="tab:orange",
                    ms=3, lw=1, label=f"predicted {name} (force decoder)")
        band = (r.force_quality or {}).get("force_band")
        if band:  # the contact force the task asks for this episode (physics "force")
            ax.axhspan(band[0], band[1], color="tab:green", alpha=0.15,
                       label=f"force band {band[0]:.0f}-{band[1]:.0f} N")
        ax.set_ylabel("N")
        counts = "".join(f"; {what} {d}" for what, d in (("refused", r.chunks_rejected),
                                                          ("safety stops", r.safety_stops)) if d)
        ax.set_title(f"{r.task} #{r.episode} seed {r.seed}: "
                     f"{'success' if r.success else 'fail: ' + (r.failure or r.fault)}{counts}",
                     fontsize=8)
        ax.legend(fontsize=7, loc="upper left")
    axes[-1, 0].set_xlabel("s since episode start")
    fig.tight_layout()
    fig.savefig(out / "wrench.png", dpi=90)
    plt.close(fig)
    return summary


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, float) and not np.isfinite(o):
        return None
    return str(o)
