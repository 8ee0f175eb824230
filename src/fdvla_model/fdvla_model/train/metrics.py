"""What `fdvla train` logs besides the raw losses: the force branch's learning on held-out frames,
and the plot of both.

Every ``eval_every`` steps (and at the last) the trainer evaluates a fixed batch of held-out frames
(the last episode when the dataset has at least ``MIN_EPISODES_FOR_HOLDOUT`` episodes, otherwise
frames of the training set, marked ``eval_split: "train"``) and adds ``eval_*`` fields to that
step's row of losses.jsonl: the flow loss with fixed noise and time, and the force metrics of
``model.force_teacher.force_learning_metrics`` (token_r2, target_spread, wrench_mse_pred,
wrench_mse_actual, wrench_mse_mean, wrench_skill_pred). Nothing here draws from the global random
streams, so evaluating does not change training (resume stays bit-for-bit).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import torch

MIN_EPISODES_FOR_HOLDOUT = 4
EVAL_SEED = 12345


def split_episodes(episode_indices: list, holdout: int) -> tuple[list, list]:
    """(train, eval) episode indices: the last ``holdout`` are held out when there are enough."""
    indices = sorted(int(e) for e in episode_indices)
    if holdout <= 0 or len(indices) < max(MIN_EPISODES_FOR_HOLDOUT, holdout + 1):
        return indices, []
    return indices[:-holdout], indices[-holdout:]


def build_eval_batch(dataset, size: int) -> dict:
    """``size`` frames spread evenly over ``dataset``, collated (default collate), on the CPU."""
    count = min(size, len(dataset))
    picks = np.linspace(0, len(dataset) - 1, count).round().astype(int)
    return torch.utils.data.default_collate([dataset[int(i)] for i in picks])


class HeldOutEvaluator:
    """Computes the ``eval_*`` fields of a log row on one fixed batch."""

    def __init__(self, batch: dict, split: str, chunk_size: int, max_action_dim: int):
        self.batch = batch
        self.split = split
        generator = torch.Generator().manual_seed(EVAL_SEED)
        size = len(batch["state"])
        self.noise = torch.randn(size, chunk_size, max_action_dim, generator=generator)
        self.time = torch.rand(size, generator=generator) * 0.999 + 0.001

    @torch.no_grad()
    def __call__(self, policy, to_device) -> dict:
        batch = to_device(self.batch)
        was_training = policy.training
        policy.eval()
        try:
            losses = policy.compute_loss(batch, noise=self.noise.to(policy.device), time=self.time.to(policy.device))
            metrics = policy.force_metrics(batch)
        finally:
            policy.train(was_training)
        row = {"eval_split": self.split, "eval_flow_loss": float(losses["flow_loss"])}
        row.update({f"eval_{k}": v for k, v in metrics.items()})
        return row


def _read_rows(path: Path) -> list:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


LOSS_KEYS = ("loss", "flow_loss", "dist_loss", "force_decoder_loss", "eval_flow_loss")
LEARNING_KEYS = {
    "eval_token_r2": "R² of f_pF vs f_aF (held-out)",
    "eval_wrench_skill_pred": "wrench from f_pF: 1 − MSE/MSE(mean)",
}


def plot_losses(log_path, png_path) -> None:
    """Loss curves (log scale) and, when logged, the force branch's learning metrics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _read_rows(Path(log_path))
    if not rows:
        return
    evals = [r for r in rows if any(k in r for k in LEARNING_KEYS) or "eval_target_spread" in r]
    fig, axes = plt.subplots(1, 2 if evals else 1, figsize=(13 if evals else 8, 4.5), squeeze=False)
    ax = axes[0, 0]
    for key in LOSS_KEYS:
        points = [(r["step"], r[key]) for r in rows if r.get(key) is not None and r[key] > 0]
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, label=key, linewidth=1, marker="o" if key.startswith("eval") else None,
                    markersize=3)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if evals:
        ax = axes[0, 1]
        steps = [r["step"] for r in evals]
        for key, label in LEARNING_KEYS.items():
            values = [r.get(key, np.nan) for r in evals]
            if not all(np.isnan(values)):
                ax.plot(steps, np.clip(values, -1.0, 1.0), marker="o", markersize=3, label=label)
        ax.axhline(0.0, color="grey", linewidth=0.8)
        ax.set_ylim(-1.05, 1.05)
        ax.set_xlabel("step")
        ax.set_ylabel("explained share (clipped at −1)")
        spread = [r.get("eval_target_spread", np.nan) for r in evals]
        if not all(np.isnan(spread)):
            twin = ax.twinx()
            twin.plot(steps, spread, color="tab:red", linestyle="--", label="spread of f_aF")
            twin.set_ylabel("spread of f_aF (mean std)", color="tab:red")
            twin.set_ylim(0, 1.6 * max(np.nanmax(spread), 1e-6))
            twin.legend(loc="lower right")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left")
        ax.grid(True, alpha=0.3)
        ax.set_title(f"force branch on {evals[-1].get('eval_split', 'held-out')} frames")
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


def evaluator_for(cfg_eval_batch: int, eval_dataset, split: str, model_cfg) -> Optional[HeldOutEvaluator]:
    if cfg_eval_batch <= 0:
        return None
    return HeldOutEvaluator(build_eval_batch(eval_dataset, cfg_eval_batch), split,
                            model_cfg.chunk_size, model_cfg.max_action_dim)
