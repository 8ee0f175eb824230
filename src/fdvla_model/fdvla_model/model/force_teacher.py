"""The force branch's teacher and the metrics that show whether the student learns the force.

``fit_force_teacher`` trains the measured-force encoder and the force decoder as an autoencoder of
the (normalised) measured wrench, wrench -> f_aF -> wrench, before the policy trains; with the
``teacher`` objective they are then frozen, so f_aF is a fixed, informative target that L_dist
cannot shrink (docs/model.md, "The force objective").

``force_learning_metrics`` measures on a batch what the raw ``dist_loss`` cannot show:

token_r2             share of f_aF's variance (over the batch, pooled over dimensions) that f_pF
                     explains: 1 - sum ||f_pF - f_aF||^2 / sum ||f_aF - mean f_aF||^2 (fdvla)
target_spread        mean over dimensions of f_aF's standard deviation over the batch; a shrinking
                     value is the target collapsing
wrench_mse_pred      MSE of the wrench decoded from f_pF vs the measured one (normalised units)
wrench_mse_actual    the same, decoded from f_aF (does the decoder read f_aF at all?)
wrench_mse_mean      MSE of predicting the dataset mean (0 in normalised units): the bar to beat
wrench_skill_pred    1 - wrench_mse_pred / wrench_mse_mean (> 0: better than the mean)
"""

from __future__ import annotations

from typing import Any

import torch


def _pooled_r2(prediction: torch.Tensor, target: torch.Tensor) -> float:
    residual = (prediction - target).pow(2).sum()
    spread = (target - target.mean(dim=0, keepdim=True)).pow(2).sum()
    return float(1.0 - residual / spread.clamp(min=1e-12))


@torch.no_grad()
def force_learning_metrics(policy, batch: dict[str, Any]) -> dict[str, float]:
    """The metrics above on ``batch`` (raw units, with ``wrench``); {} for ``no_force`` or no measured row."""
    config = policy.config
    if not config.has_force_token or batch.get("wrench") is None:
        return {}
    was_training = policy.training
    policy.eval()
    try:
        prefix, wrench, measured = policy._encode(batch, training=True)
    finally:
        policy.train(was_training)
    if measured is None or int(measured.sum()) < 2:
        return {}
    actual = prefix.actual_force_token[measured].float()
    wrench = wrench[measured].float()
    decoder = policy.model.force_decoder
    mean_mse = float(wrench.pow(2).mean())
    metrics = {
        "target_spread": float(actual.std(dim=0).mean()),
        "wrench_mse_actual": float((decoder(actual).float() - wrench).pow(2).mean()),
        "wrench_mse_mean": mean_mse,
    }
    if config.variant == "fdvla":
        predicted = prefix.force_token[measured].float()
        mse_pred = float((decoder(predicted).float() - wrench).pow(2).mean())
        metrics.update(
            token_r2=_pooled_r2(predicted, actual),
            wrench_mse_pred=mse_pred,
            wrench_skill_pred=1.0 - mse_pred / max(mean_mse, 1e-12),
        )
    return metrics


def fit_force_teacher(
    policy,
    wrenches: torch.Tensor,
    steps: int = 500,
    batch_size: int = 256,
    lr: float = 3e-3,
    seed: int = 0,
    unit_variance: bool = True,
) -> dict[str, float]:
    """Train force encoder + decoder as an autoencoder of ``wrenches`` (N, 6), or (N, K, 6)
    windows with a force history of K, in raw units.

    Uses the policy's normalisation statistics (set them first). Rows with NaN (no sensor) are
    skipped. With ``unit_variance`` the encoder's output layer is then scaled so that f_aF's
    per-dimension variance over the data averages 1: the variation the student must learn then
    outweighs a constant offset in L_dist, and the decoder, which starts with a LayerNorm, reads
    the scaled token as before. Returns {"teacher_mse": reconstruction MSE, "teacher_mse_mean": MSE
    of the mean, "teacher_spread": f_aF's mean per-dimension std} over all rows, in normalised
    units. Leaves both modules with ``requires_grad`` as it found them.
    """
    model = policy.model
    if not policy.config.has_force_token:
        raise ValueError("variant 'no_force' has no force branch to fit")
    wrenches = torch.as_tensor(wrenches, dtype=torch.float32)
    wrenches = wrenches[torch.isfinite(wrenches.flatten(1)).all(dim=1)]
    if len(wrenches) < 2:
        raise ValueError("fitting the force teacher needs at least two measured wrenches")
    device = policy.device
    # A force history is autoencoded whole (the decoder gives the window back), so f_aF keeps it.
    data = policy.normalizer.normalize("wrench", wrenches.to(device)).flatten(1)
    if data.shape[1] != policy.config.force_input_dim:
        raise ValueError(f"the teacher reads {policy.config.force_input_dim} values a row "
                         f"(force_history {policy.config.force_history}), got {tuple(wrenches.shape[1:])}")
    modules = (model.force_encoder, model.force_decoder)
    flags = [[p.requires_grad for p in m.parameters()] for m in modules]
    params = [p for m in modules for p in m.parameters()]
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(params, lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, steps))
    generator = torch.Generator().manual_seed(seed)
    try:
        for _ in range(steps):
            index = torch.randint(len(data), (min(batch_size, len(data)),), generator=generator).to(device)
            x = data[index]
            loss = (model.force_decoder(model.force_encoder(x)).float() - x).pow(2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    finally:
        for module, saved in zip(modules, flags):
            for p, flag in zip(module.parameters(), saved):
                p.requires_grad_(flag)
                p.grad = None
    with torch.no_grad():
        if unit_variance:
            scale = model.force_encoder(data).float().var(dim=0).mean().clamp(min=1e-12).rsqrt()
            last = model.force_encoder.mlp[-1]
            last.weight.mul_(scale.to(last.weight.dtype))
            last.bias.mul_(scale.to(last.bias.dtype))
        tokens = model.force_encoder(data).float()
        mse = float((model.force_decoder(tokens).float() - data).pow(2).mean())
    return {"teacher_mse": mse, "teacher_mse_mean": float(data.pow(2).mean()),
            "teacher_spread": float(tokens.std(dim=0).mean())}
