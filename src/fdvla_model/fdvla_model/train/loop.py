"""The training loop: `train(TrainConfig)` and the loss log it writes."""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from fdvla_model.dataset import (META_FILE, POLICY_DATASET_META, EpisodeDataset,
                                  compute_normalization_stats)
from fdvla_model.model.configuration_fdvla import FORCE_OBJECTIVES
from fdvla_model.photometric import jitter_cameras
from fdvla_model.train.metrics import evaluator_for, plot_losses, split_episodes
from fdvla_model.train.state import load_training_state, restore_rng_state

from .augment import drop_force_history, paste_cameras, shift_cameras
from .batches import ResumableSampler, _to_device
from .build import build_optimizer, build_policy, check_dataset_fits, fit_teacher_on_dataset
from .checkpoints import VLM_STORE, _resolve_resume, _write_checkpoint, checkpoint_root
from .config import VARIANTS, TrainConfig
from .distributed import _barrier, _LossModule, init_distributed, resolve_device

LOSS_LOG = "losses.jsonl"
LOSS_PLOT = "loss_curve.png"


def _read_log(path: Path, up_to_step: Optional[int] = None) -> list:
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if up_to_step is None or r["step"] < up_to_step]


@dataclass
class TrainResult:
    policy: object
    final_step: int
    losses: list  # the log rows of this output folder, all runs
    out: Path


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train(cfg: TrainConfig) -> TrainResult:
    from fdvla_model.model import FDVLAPolicy

    if cfg.variant not in VARIANTS:
        raise ValueError(f"unknown variant {cfg.variant!r}; choose from {VARIANTS}")
    if cfg.force_objective is not None and cfg.force_objective not in FORCE_OBJECTIVES:
        raise ValueError(f"unknown force objective {cfg.force_objective!r}; choose from {tuple(FORCE_OBJECTIVES)}")
    if cfg.steps < 1 or cfg.batch_size < 1 or cfg.save_every < 1:
        raise ValueError("--steps, --batch-size and --save-every must be positive")
    wanted = "cuda" if (cfg.device == "auto" and torch.cuda.is_available()) else cfg.device
    info = init_distributed(torch.device(wanted).type if wanted != "auto" else "cpu")
    device = resolve_device(cfg.device, info)
    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
    out = Path(cfg.out)
    resume_from = _resolve_resume(cfg, out)
    seed_everything(cfg.seed + info.rank)

    probe = EpisodeDataset(cfg.dataset, chunk_size=1)
    train_episodes, eval_episodes = split_episodes([e.index for e in probe.episodes], cfg.eval_holdout_episodes)
    teacher_fit = None
    if resume_from is not None:
        policy = FDVLAPolicy.load(resume_from / "policy")
    else:
        policy = build_policy(cfg, probe)
        policy.set_normalization_stats(compute_normalization_stats(cfg.dataset))
        if policy.model.uses_frozen_teacher:
            teacher_fit = fit_teacher_on_dataset(policy, probe, train_episodes, cfg)
    model_cfg = policy.config
    if model_cfg.variant != cfg.model_variant:
        raise ValueError(f"--variant {cfg.variant} but the checkpoint {resume_from} is a "
                         f"{model_cfg.variant!r} model")
    check_dataset_fits(probe, model_cfg, cfg.model_variant)
    if not 0.0 <= cfg.augment_background <= 1.0:
        raise ValueError(f"--augment-background is a share in [0, 1], got {cfg.augment_background}")
    if not 0.0 <= cfg.augment_colour <= 1.0:
        raise ValueError(f"--augment-colour is a share in [0, 1], got {cfg.augment_colour}")
    if not 0.0 <= cfg.force_history_dropout <= 1.0:
        raise ValueError(f"--force-history-dropout is a share in [0, 1], got {cfg.force_history_dropout}")
    if cfg.force_history_dropout > 0 and model_cfg.force_history < 2:
        raise ValueError("--force-history-dropout drops past wrench frames: it needs "
                         f"--force-history of at least 2 (the model reads {model_cfg.force_history})")
    dataset = EpisodeDataset(cfg.dataset, chunk_size=model_cfg.chunk_size, episodes=train_episodes,
                             camera_names=model_cfg.camera_names, images_as_uint8=True,
                             with_masks=cfg.augment_background > 0,
                             wrench_history=model_cfg.force_history)
    evaluator = None
    if info.is_main and cfg.eval_every > 0:
        eval_set = dataset if not eval_episodes else EpisodeDataset(
            cfg.dataset, chunk_size=model_cfg.chunk_size, episodes=eval_episodes,
            camera_names=model_cfg.camera_names, images_as_uint8=True,
            wrench_history=model_cfg.force_history)
        evaluator = evaluator_for(cfg.eval_batch, eval_set, "held-out" if eval_episodes else "train", model_cfg)
    policy.to(device)
    policy.train()
    optimizer, scheduler, names = build_optimizer(policy, cfg)
    start_step = 0
    if resume_from is not None:
        doc = load_training_state(resume_from, optimizer=optimizer, scheduler=scheduler,
                                  parameter_names=names)
        start_step = int(doc["step"])
        if int(doc["extra"].get("world_size", 1)) != info.world_size or not restore_rng_state(resume_from, info.rank):
            # A different process count cannot replay the same random streams; continue anyway.
            seed_everything(cfg.seed + info.rank + start_step)

    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        if resume_from is None:
            (out / "train_config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2) + "\n")
        if teacher_fit is not None:
            (out / "force_teacher.json").write_text(json.dumps(teacher_fit, indent=2) + "\n")
        log_rows = _read_log(out / LOSS_LOG, up_to_step=start_step) if resume_from else []
        (out / LOSS_LOG).write_text("".join(json.dumps(r) + "\n" for r in log_rows))
    _barrier(info)

    model = _LossModule(policy)
    if info.enabled:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                        find_unused_parameters=True)

    sampler = ResumableSampler(len(dataset), cfg.seed, start=start_step * cfg.batch_size,
                               rank=info.rank, world_size=info.world_size)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers,
        pin_memory=device.type == "cuda", persistent_workers=cfg.num_workers > 0,
        # its own generator, so creating the loader does not draw from the global torch RNG
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    params = [p for g in optimizer.param_groups for p in g["params"]]
    progress = None
    if info.is_main and cfg.progress:
        from tqdm.auto import tqdm

        progress = tqdm(total=cfg.steps, initial=start_step, desc=f"train {cfg.variant}",
                        dynamic_ncols=True, file=sys.stderr)
    log_file = open(out / LOSS_LOG, "a") if info.is_main else None
    step = start_step
    try:
        batches = iter(loader)
        while step < cfg.steps:
            batch = _to_device(next(batches), device)
            masks = batch.pop("masks", None)
            if masks is not None:
                pastes = torch.Generator().manual_seed(cfg.seed * 1_000_033 + step + 1)
                batch["images"] = paste_cameras(batch["images"], masks, cfg.augment_background,
                                                pastes)
            if cfg.force_history_dropout and "wrench" in batch:
                drops = torch.Generator().manual_seed(cfg.seed * 1_000_037 + step + 1)
                batch["wrench"] = drop_force_history(batch["wrench"], cfg.force_history_dropout, drops)
            if cfg.augment_colour:
                colours = torch.Generator().manual_seed(cfg.seed * 1_000_039 + step + 1)
                batch["images"] = jitter_cameras(batch["images"], cfg.augment_colour, colours)
            if cfg.augment_shift:
                # Seeded by the step, so a resumed run draws the shifts it would have drawn.
                shifts = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step + 1)
                batch["images"] = shift_cameras(batch["images"], cfg.augment_shift, shifts)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
                losses = model(batch)
            loss = losses["loss"]
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {loss.item()} at step {step}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            lr = optimizer.param_groups[0]["lr"]
            optimizer.step()
            scheduler.step()
            step += 1
            if info.is_main:
                row = {"step": step - 1, "lr": lr, "grad_norm": float(grad_norm)}
                row.update({k: float(v.detach()) for k, v in losses.items()
                            if isinstance(v, torch.Tensor) and v.numel() == 1})
                if evaluator is not None and (step == 1 or step % cfg.eval_every == 0 or step == cfg.steps):
                    row.update(evaluator(policy, lambda b: _to_device(b, device)))
                log_file.write(json.dumps(row) + "\n")
                log_file.flush()
                if progress is not None:
                    progress.update(1)
                    progress.set_postfix({k: f"{row[k]:.4g}" for k in ("loss", "flow_loss", "dist_loss")
                                          if k in row} | {"lr": f"{lr:.2e}"})
            if step % cfg.save_every == 0 or step == cfg.steps:
                _write_checkpoint(out, step, policy, optimizer, scheduler, names, cfg, info)
    finally:
        if progress is not None:
            progress.close()
        if log_file is not None:
            log_file.close()

    if info.is_main:
        final = out / "policy"
        shutil.rmtree(final, ignore_errors=True)
        policy.save(final, vlm_store=checkpoint_root(out) / VLM_STORE)
        # The policy node reads the action period and camera sizes from the dataset's meta.
        shutil.copy(Path(cfg.dataset) / META_FILE, final / POLICY_DATASET_META)
        plot_losses(out / LOSS_LOG, out / LOSS_PLOT)
    _barrier(info)
    return TrainResult(policy=policy, final_step=step,
                       losses=_read_log(out / LOSS_LOG) if info.is_main else [], out=out)
