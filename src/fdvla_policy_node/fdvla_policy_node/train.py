"""`fdvla train`: train an FD-VLA policy (or one of its ablations) on an episode dataset.

AdamW over the trainable parameters only (the frozen VLM gets neither gradients nor optimizer
state), linear warmup + cosine decay, gradient clipping, bf16 autocast on CUDA, a tqdm progress
bar, periodic checkpoints that resume bit-for-bit on CPU, a JSONL loss log and a loss-curve PNG.
With more than one process (`torchrun --nproc_per_node=N -m fdvla_policy_node.train ...`) it runs
DistributedDataParallel, one GPU per process.

Output folder:
  OUT/train_config.json      the arguments of the first run
  OUT/losses.jsonl           one line per step: step, lr, loss, flow_loss, dist_loss, grad_norm;
                             every --eval-every steps also eval_* (held-out force learning,
                             training_metrics.py)
  OUT/loss_curve.png         written at the end: losses and the force branch's learning
  OUT/force_teacher.json     the wrench autoencoder's fit (objective "teacher" only)
  OUT/checkpoints/step_NNNNNNNN/{policy/, training_state.*, rng_rank*.safetensors}
  OUT/checkpoints/latest     name of the newest complete checkpoint
  OUT/policy/                the final policy (FDVLAPolicy.load(OUT/policy))
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from fdvla_policy_node.dataset import (
    DatasetError,
    EpisodeDataset,
    compute_normalization_stats,
    images_to_float,
    load_episode_arrays,
)
from fdvla_policy_node.model.configuration_fdvla import (
    DISTILLING_VARIANTS,
    FORCE_OBJECTIVES,
    VARIANT_CHOICES,
    VARIANT_SPECS,
    VARIANTS_NEEDING_WRENCH_AT_INFERENCE,
    resolve_variant,
)
from fdvla_policy_node.schedule import WarmupCosineSchedule
from fdvla_policy_node.training_metrics import evaluator_for, plot_losses, split_episodes
from fdvla_policy_node.training_state import (
    load_training_state,
    restore_rng_state,
    save_rng_state,
    save_training_state,
)

# One registry (model/configuration_fdvla.py) names the variants and the alias raw_force -> no_fdm.
VARIANTS = VARIANT_CHOICES
# Variants that take the measured wrench as an input: every frame needs one.
WRENCH_INPUT_VARIANTS = VARIANTS_NEEDING_WRENCH_AT_INFERENCE
CHECKPOINTS = "checkpoints"
LATEST = "latest"
VLM_STORE = ".vlm"  # the frozen VLM, once per content, hard-linked into each checkpoint
LOSS_LOG = "losses.jsonl"
LOSS_PLOT = "loss_curve.png"


@dataclass
class TrainConfig:
    dataset: str
    out: str
    variant: str = "fdvla"
    preset: str = "tiny"
    steps: int = 1000
    batch_size: int = 8
    lr: float = 1e-4
    weight_decay: float = 1e-10
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    grad_clip: float = 10.0
    lambda_dist: Optional[float] = None  # None: the model config's default
    force_objective: Optional[str] = None  # None: the model config's default (FORCE_OBJECTIVES)
    anchor_force_encoder: bool = False  # deprecated spelling of force_objective="anchored"
    teacher_steps: int = 500  # wrench-autoencoder steps before training (objective "teacher")
    teacher_unit_variance: bool = True  # scale the teacher's tokens to unit variance (force_teacher.py)
    eval_every: int = 50  # held-out force metrics every N steps (0: never)
    eval_batch: int = 64  # frames in the held-out evaluation batch
    eval_holdout_episodes: int = 1  # held out when the dataset has >= 4 episodes
    chunk_size: Optional[int] = None  # None: the preset's (50)
    image_size: Optional[int] = None  # tiny preset only; None: the preset's (64 px)
    seed: int = 0
    save_every: int = 500
    keep_checkpoints: int = 2
    resume: Optional[str] = None  # "latest" or a checkpoint folder
    num_workers: int = 0
    device: str = "auto"
    precision: str = "auto"  # auto: bf16 autocast on CUDA, fp32 elsewhere
    vlm: Optional[str] = None
    init_smolvla: Optional[str] = None
    progress: bool = True

    @property
    def model_variant(self) -> str:
        return resolve_variant(self.variant)

    @property
    def model_force_objective(self) -> Optional[str]:
        if self.anchor_force_encoder:
            if self.force_objective not in (None, "anchored"):
                raise ValueError("--anchor-force-encoder contradicts --force-objective "
                                 f"{self.force_objective}")
            return "anchored"
        return self.force_objective


# --------------------------------------------------------------------------------------------
# distributed helpers


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_kind: str) -> DistInfo:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_kind == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def _barrier(info: DistInfo) -> None:
    if info.enabled:
        import torch.distributed as dist

        dist.barrier()


def resolve_device(name: str, info: DistInfo) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", info.local_rank if info.enabled else torch.cuda.current_device())
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


# --------------------------------------------------------------------------------------------
# data order


class ResumableSampler(torch.utils.data.Sampler):
    """An endless stream of sample indices: a fresh seeded permutation every epoch.

    The stream is a pure function of (seed, position), so a resumed run starts exactly where
    the interrupted one stopped. Under DDP, rank r takes every world_size-th index of the same
    global stream, so the ranks see disjoint samples.
    """

    def __init__(self, num_samples: int, seed: int, start: int = 0, rank: int = 0, world_size: int = 1):
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.start = int(start)  # position in this rank's stream
        self.rank = rank
        self.world_size = world_size

    def _permutation(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.num_samples, generator=g)

    def __iter__(self):
        local = self.start
        cached_epoch, perm = -1, None
        while True:
            g = local * self.world_size + self.rank
            epoch, j = divmod(g, self.num_samples)
            if epoch != cached_epoch:
                cached_epoch, perm = epoch, self._permutation(epoch)
            yield int(perm[j])
            local += 1


def _to_device(batch: dict, device: torch.device) -> dict:
    """Move a collated batch to the device; uint8 images become float [0, 1] there."""
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            out[key] = value.to(device, non_blocking=True)
        elif isinstance(value, dict):
            out[key] = _to_device(value, device)
        else:
            out[key] = value
    if "images" in out:
        out["images"] = {cam: images_to_float(img) for cam, img in out["images"].items()}
    return out


# --------------------------------------------------------------------------------------------
# model construction


class _LossModule(torch.nn.Module):
    """Puts compute_loss behind forward() so DistributedDataParallel's gradient hooks apply."""

    def __init__(self, policy):
        super().__init__()
        self.policy = policy

    def forward(self, batch):
        return self.policy.compute_loss(batch)


def dataset_overrides(cfg: TrainConfig, dataset: EpisodeDataset) -> dict:
    """Model-config fields that come from the dataset and the command line."""
    overrides = {"camera_names": list(dataset.meta.camera_names),
                 "state_dim": dataset.meta.state_dim,
                 "action_dim": dataset.meta.action_dim}
    if cfg.lambda_dist is not None:
        overrides["dist_loss_weight"] = cfg.lambda_dist
    if cfg.model_force_objective is not None:
        overrides["force_objective"] = cfg.model_force_objective
    if cfg.chunk_size is not None:
        overrides["chunk_size"] = cfg.chunk_size
    return overrides


def build_model_config(cfg: TrainConfig, dataset: EpisodeDataset):
    """The tiny preset's configuration with cameras and vector sizes taken from the dataset."""
    from fdvla_policy_node.model import FDVLAConfig

    if cfg.preset != "tiny":
        raise ValueError("build_model_config builds the tiny preset; the full one comes with its VLM")
    overrides = dataset_overrides(cfg, dataset)
    if cfg.image_size is not None:
        overrides.update(tiny_image_overrides(cfg.image_size))
    return FDVLAConfig.tiny(variant=cfg.model_variant, **overrides)


def tiny_image_overrides(image_size: int) -> dict:
    """The tiny preset at another input size. Its 8 px patches stay, so the vision encoder sees
    more patches (finer localisation) rather than coarser ones; the size must split into whole
    patch pairs (the connector's pixel shuffle merges 2x2 patches)."""
    from fdvla_policy_node.model.configuration_fdvla import tiny_vlm_config
    from fdvla_policy_node.model.tokenizer import BYTE_TOKENIZER_VOCAB_SIZE

    vlm = tiny_vlm_config(BYTE_TOKENIZER_VOCAB_SIZE)
    step = vlm["vision_config"]["patch_size"] * vlm["scale_factor"]
    if image_size < step or image_size % step:
        raise ValueError(f"--image-size {image_size}: must be a positive multiple of {step} "
                         f"(patch {vlm['vision_config']['patch_size']} px x pixel shuffle "
                         f"{vlm['scale_factor']})")
    vlm["vision_config"]["image_size"] = image_size
    return {"image_size": image_size, "vlm_config": vlm}


def build_policy(cfg: TrainConfig, dataset: EpisodeDataset):
    """A fresh policy for the dataset. The full preset loads the pretrained SmolVLM2 (or --vlm)
    and, with --init-smolvla, SmolVLA's trained weights on top."""
    from fdvla_policy_node.model import FDVLAPolicy
    from fdvla_policy_node.model.configuration_fdvla import SMOLVLM2_500M_ID

    if cfg.image_size is not None and cfg.preset != "tiny":
        raise ValueError("--image-size applies to the tiny preset (the full one is SmolVLM2's 512 px)")
    if cfg.preset == "tiny":
        if cfg.vlm is not None:
            raise ValueError("--vlm applies to the full preset (the tiny preset builds its own small VLM)")
        policy = FDVLAPolicy(build_model_config(cfg, dataset))
    elif cfg.preset == "full":
        if cfg.vlm and cfg.vlm.startswith((".", "/", "~")) and not Path(cfg.vlm).expanduser().is_dir():
            raise FileNotFoundError(f"--vlm: folder {cfg.vlm} not found")
        policy = FDVLAPolicy.from_pretrained_vlm(cfg.vlm or SMOLVLM2_500M_ID, variant=cfg.model_variant,
                                                 **dataset_overrides(cfg, dataset))
    else:
        raise ValueError(f"unknown preset {cfg.preset!r} (tiny or full)")
    if cfg.init_smolvla:
        missing, unexpected = policy.load_smolvla_weights(cfg.init_smolvla)
        if unexpected:
            print(f"fdvla train: {len(unexpected)} SmolVLA weights were not used, e.g. {unexpected[:3]}",
                  file=sys.stderr)
    return policy


def check_dataset_fits(dataset: EpisodeDataset, model_cfg, variant: str) -> None:
    """Clear errors when the dataset and the model configuration disagree."""
    meta = dataset.meta
    problems = []
    missing = [c for c in model_cfg.camera_names if c not in meta.camera_names]
    if missing:
        problems.append(f"cameras {missing} are not in the dataset (it has {list(meta.camera_names)})")
    if model_cfg.state_dim != meta.state_dim:
        problems.append(f"state_dim {model_cfg.state_dim} != dataset state dim {meta.state_dim}")
    if model_cfg.action_dim != meta.action_dim:
        problems.append(f"action_dim {model_cfg.action_dim} != dataset action dim {meta.action_dim}")
    if meta.wrench_dim != 6:
        problems.append(f"the wrench must have 6 components, dataset has {meta.wrench_dim}")
    measured = dataset.measured_wrench_fraction()
    if variant in WRENCH_INPUT_VARIANTS and measured < 1.0:
        problems.append(f"variant {variant!r} takes the measured wrench as an input but "
                        f"{100 * (1 - measured):.0f}% of the frames have none (recorded without a force "
                        "sensor); use --variant fdvla or no_force")
    if variant in DISTILLING_VARIANTS and measured == 0.0:
        problems.append("variant 'fdvla' distils the measured wrench but no frame has one "
                        "(recorded without a force sensor); use --variant no_force")
    if problems:
        raise DatasetError(f"dataset {dataset.root} does not fit the model: " + "; ".join(problems))


def _trainable_named_parameters(policy) -> list:
    trainable = {id(p) for p in policy.trainable_parameters()}
    return [(n, p) for n, p in policy.named_parameters() if id(p) in trainable and p.requires_grad]


def build_optimizer(policy, cfg: TrainConfig):
    """AdamW over trainable parameters only; no weight decay on biases and norm scales."""
    named = _trainable_named_parameters(policy)
    if not named:
        raise ValueError("the policy has no trainable parameters")
    decay = [p for n, p in named if p.ndim >= 2]
    no_decay = [p for n, p in named if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8)
    schedule = WarmupCosineSchedule(cfg.warmup_steps, cfg.steps, cfg.min_lr_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    names = [n for n, p in named if p.ndim >= 2] + [n for n, p in named if p.ndim < 2]
    return optimizer, scheduler, names


# --------------------------------------------------------------------------------------------
# checkpoints


def checkpoint_root(out) -> Path:
    return Path(out) / CHECKPOINTS


def latest_checkpoint(out) -> Optional[Path]:
    pointer = checkpoint_root(out) / LATEST
    if not pointer.is_file():
        return None
    path = checkpoint_root(out) / pointer.read_text().strip()
    return path if path.is_dir() else None


def _write_checkpoint(out: Path, step: int, policy, optimizer, scheduler, names, cfg: TrainConfig,
                      info: DistInfo) -> Path:
    root = checkpoint_root(out)
    name = f"step_{step:08d}"
    final = root / name
    tmp = root / (name + ".partial")
    if info.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    _barrier(info)
    save_rng_state(tmp, info.rank)  # every rank keeps its own random streams
    _barrier(info)
    if info.is_main:
        policy.save(tmp / "policy", vlm_store=root / VLM_STORE)
        save_training_state(tmp, optimizer=optimizer, scheduler=scheduler, step=step,
                            parameter_names=names,
                            extra={"world_size": info.world_size, "train_config": dataclasses.asdict(cfg)})
        shutil.rmtree(final, ignore_errors=True)
        os.rename(tmp, final)
        pointer_tmp = root / (LATEST + ".tmp")
        pointer_tmp.write_text(name + "\n")
        os.replace(pointer_tmp, root / LATEST)
        _prune_checkpoints(root, cfg.keep_checkpoints)
    _barrier(info)
    return final


def _prune_checkpoints(root: Path, keep: int) -> None:
    if keep <= 0:
        return
    done = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step_")
                  and not p.name.endswith(".partial"))
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# logging


def _read_log(path: Path, up_to_step: Optional[int] = None) -> list:
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if up_to_step is None or r["step"] < up_to_step]


# --------------------------------------------------------------------------------------------
# training


def fit_teacher_on_dataset(policy, dataset: EpisodeDataset, episodes: list, cfg: TrainConfig) -> dict:
    """Fit the frozen force teacher (wrench autoencoder) on the training episodes' wrenches."""
    from fdvla_policy_node.model.force_teacher import fit_force_teacher

    wanted = set(episodes)
    wrenches = np.concatenate([load_episode_arrays(e.path)["wrench"] for e in dataset.episodes
                               if e.index in wanted]).astype(np.float32)
    if not np.isfinite(wrenches).all(axis=1).any():
        return {}  # no measured wrench: check_dataset_fits names the problem
    return fit_force_teacher(policy, torch.from_numpy(wrenches), steps=cfg.teacher_steps, seed=cfg.seed,
                             unit_variance=cfg.teacher_unit_variance)


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


def _resolve_resume(cfg: TrainConfig, out: Path) -> Optional[Path]:
    if cfg.resume is None:
        return None
    if cfg.resume == "latest":
        ckpt = latest_checkpoint(out)
        if ckpt is None:
            raise FileNotFoundError(f"--resume: no checkpoint in {checkpoint_root(out)}")
        return ckpt
    ckpt = Path(cfg.resume)
    if not ckpt.is_dir():
        raise FileNotFoundError(f"--resume: {ckpt} is not a checkpoint folder")
    return ckpt


def train(cfg: TrainConfig) -> TrainResult:
    from fdvla_policy_node.model import FDVLAPolicy

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
    dataset = EpisodeDataset(cfg.dataset, chunk_size=model_cfg.chunk_size, episodes=train_episodes,
                             camera_names=model_cfg.camera_names, images_as_uint8=True)
    evaluator = None
    if info.is_main and cfg.eval_every > 0:
        eval_set = dataset if not eval_episodes else EpisodeDataset(
            cfg.dataset, chunk_size=model_cfg.chunk_size, episodes=eval_episodes,
            camera_names=model_cfg.camera_names, images_as_uint8=True)
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
        plot_losses(out / LOSS_LOG, out / LOSS_PLOT)
    _barrier(info)
    return TrainResult(policy=policy, final_step=step,
                       losses=_read_log(out / LOSS_LOG) if info.is_main else [], out=out)


# --------------------------------------------------------------------------------------------
# command line


def build_arg_parser() -> argparse.ArgumentParser:
    d = TrainConfig(dataset="", out="")
    p = argparse.ArgumentParser(
        prog="fdvla train",
        description="Train an FD-VLA policy on an episode dataset (docs/dataset.md). "
                    "Multi-GPU: torchrun --nproc_per_node=N -m fdvla_policy_node.train ...",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", required=True, help="dataset folder (with meta.json)")
    p.add_argument("--out", required=True, help="output folder: checkpoints, losses, final policy")
    p.add_argument("--variant", choices=VARIANTS, default=d.variant,
                   help="; ".join(f"{n}: {s.description}" for n, s in VARIANT_SPECS.items())
                        + "; raw_force: alias of no_fdm")
    p.add_argument("--preset", choices=("tiny", "full"), default=d.preset,
                   help="tiny: small random model for tests/CPU; full: SmolVLA size on SmolVLM2")
    p.add_argument("--steps", type=int, default=d.steps, help="total optimizer steps")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="per process")
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    p.add_argument("--min-lr-ratio", type=float, default=d.min_lr_ratio,
                   help="cosine decay floor as a fraction of --lr")
    p.add_argument("--grad-clip", type=float, default=d.grad_clip, help="max gradient norm")
    p.add_argument("--lambda-dist", type=float, default=None,
                   help="weight of the distillation loss (default: the model config's)")
    p.add_argument("--force-objective", choices=tuple(FORCE_OBJECTIVES), default=None,
                   help="how fdvla trains the distillation target f_aF and the student f_pF "
                        "(default: the model config's; docs/model.md): " + "; ".join(
                            f"{o.name}: {o.description}" for o in FORCE_OBJECTIVES.values()))
    p.add_argument("--anchor-force-encoder", action="store_true",
                   help="deprecated: same as --force-objective anchored")
    p.add_argument("--teacher-steps", type=int, default=d.teacher_steps,
                   help="wrench-autoencoder steps that fit the frozen teacher (objective teacher)")
    p.add_argument("--teacher-raw-scale", dest="teacher_unit_variance", action="store_false",
                   help="keep the teacher's tokens at the autoencoder's scale (default: unit variance)")
    p.add_argument("--eval-every", type=int, default=d.eval_every,
                   help="log held-out force-learning metrics every N steps (0: never)")
    p.add_argument("--eval-batch", type=int, default=d.eval_batch, help="frames in the evaluation batch")
    p.add_argument("--eval-holdout-episodes", type=int, default=d.eval_holdout_episodes,
                   help="episodes held out from training for evaluation (when there are >= 4)")
    p.add_argument("--chunk-size", type=int, default=None,
                   help="actions per predicted chunk (default: the preset's, 50 as in SmolVLA)")
    p.add_argument("--image-size", type=int, default=None,
                   help="tiny preset: model input size in px, a multiple of 16 (default: 64); "
                        "larger sees the scene finer and trains slower")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--save-every", type=int, default=d.save_every, help="checkpoint every N steps")
    p.add_argument("--keep-checkpoints", type=int, default=d.keep_checkpoints,
                   help="keep the newest N checkpoints (0: all)")
    p.add_argument("--resume", nargs="?", const="latest", default=None,
                   help="continue from the latest checkpoint in --out, or from the given checkpoint folder")
    p.add_argument("--num-workers", type=int, default=d.num_workers, help="DataLoader workers")
    p.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default=d.precision,
                   help="auto: bf16 autocast on CUDA, fp32 on CPU")
    p.add_argument("--vlm", default=None, help="VLM hub id or local folder (full preset)")
    p.add_argument("--init-smolvla", default=None,
                   help="initialise from a SmolVLA checkpoint (.safetensors file or folder)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return p


def config_from_args(argv: Optional[Sequence[str]] = None) -> TrainConfig:
    args = build_arg_parser().parse_args(argv)
    return TrainConfig(**vars(args))


def main(argv: Optional[Sequence[str]] = None) -> int:
    cfg = config_from_args(argv)
    try:
        result = train(cfg)
    except (DatasetError, OSError, ValueError) as e:  # bad input: a message, not a traceback
        print(f"fdvla train: error: {e}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        last = result.losses[-1] if result.losses else {}
        print(f"trained {cfg.variant} to step {result.final_step}; final loss "
              f"{last.get('loss', float('nan')):.4g}; policy in {result.out / 'policy'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
