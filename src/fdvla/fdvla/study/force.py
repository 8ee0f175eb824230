"""Force error per variant: the wrench decoded from a trained policy's force token against the
measured one, frame by frame over a held-out demonstration episode."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def force_trace(policy_dir: Path, dataset_root: Path, batch_size: int = 16) -> dict | None:
    """{"t", "measured", "predicted" (|F| in N), "force_error" (mean |F_pred - F_meas|, N),
    "input"}; None for a variant without a force token (no_force)."""
    from torch.utils.data import DataLoader, Subset, default_collate

    from fdvla_model.dataset import EpisodeDataset
    from fdvla_model.model import FDVLAPolicy

    policy = FDVLAPolicy.load(policy_dir).eval()
    if not policy.config.has_force_token:
        return None
    ds = EpisodeDataset(dataset_root, chunk_size=policy.config.chunk_size,
                        wrench_history=policy.config.force_history)
    k = len(ds.episodes) - 1  # `fdvla train` holds the last episode out (4 or more episodes)
    rows = [i for i in range(len(ds)) if ds.locate(i)[0] == k]
    loader = DataLoader(Subset(ds, rows), batch_size=batch_size, collate_fn=default_collate)
    measured, predicted = [], []
    for batch in loader:
        wrench = batch["wrench"]  # (B, 6), or (B, K, 6) with a force history: the newest is now
        measured.append((wrench if wrench.ndim == 2 else wrench[:, -1])[:, :3].numpy())
        if policy.config.variant == "fdvla":
            batch = {key: v for key, v in batch.items() if key != "wrench"}  # deployed: no sensor
        out = policy.predict_force(batch)
        predicted.append(out["predicted_wrench"][:, :3].float().cpu().numpy())
    meas = np.concatenate(measured)
    pred = np.concatenate(predicted)
    ok = np.all(np.isfinite(meas), axis=1)
    if not ok.any():
        return None
    t = np.asarray([ds.locate(i)[1] for i in rows], float) / ds.meta.fps
    err = np.linalg.norm(pred[ok] - meas[ok], axis=1)
    return {"t": t[ok].tolist(), "measured": np.linalg.norm(meas[ok], axis=1).tolist(),
            "predicted": np.linalg.norm(pred[ok], axis=1).tolist(),
            "force_error": float(err.mean()),
            "input": "images + state (no wrench)" if policy.config.variant == "fdvla"
            else "the measured wrench (decoded back)"}


def write_force_trace(policy_dir: Path, dataset_root: Path, out: Path) -> None:
    trace = force_trace(Path(policy_dir), Path(dataset_root))
    Path(out).write_text(json.dumps(trace))
