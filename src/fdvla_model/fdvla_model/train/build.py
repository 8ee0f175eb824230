"""Building what a run trains: the policy for a dataset, the checks that they fit, the frozen
force teacher's fit, and the optimizer with its learning-rate schedule."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from fdvla_model.dataset import DatasetError, EpisodeDataset, load_episode_arrays
from fdvla_model.model.configuration_fdvla import DISTILLING_VARIANTS
from fdvla_model.train.schedule import WarmupCosineSchedule

from .config import WRENCH_INPUT_VARIANTS, TrainConfig


def dataset_overrides(cfg: TrainConfig, dataset: EpisodeDataset) -> dict:
    """Model-config fields that come from the dataset and the command line."""
    from fdvla_model.dataset.target_frame import dataset_frame

    frame = dataset_frame(dataset.meta)
    overrides = {"camera_names": list(dataset.meta.camera_names),
                 "state_dim": dataset.meta.state_dim,
                 "action_dim": dataset.meta.action_dim,
                 "action_frame": frame["name"],
                 "target_yaw_symmetry": int(frame["yaw_symmetry"])}
    if cfg.lambda_dist is not None:
        overrides["dist_loss_weight"] = cfg.lambda_dist
    if cfg.model_force_objective is not None:
        overrides["force_objective"] = cfg.model_force_objective
    if cfg.chunk_size is not None:
        overrides["chunk_size"] = cfg.chunk_size
    if cfg.force_history is not None:
        overrides["force_history"] = cfg.force_history
    if cfg.force_to_expert:
        overrides["force_to_expert"] = True
    for name in ("train_expert_only", "freeze_vision_encoder"):
        if getattr(cfg, name) is not None:
            overrides[name] = getattr(cfg, name)
    return overrides


def build_model_config(cfg: TrainConfig, dataset: EpisodeDataset):
    """The tiny preset's configuration with cameras and vector sizes taken from the dataset."""
    from fdvla_model.model import FDVLAConfig

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
    from fdvla_model.model.configuration_fdvla import tiny_vlm_config
    from fdvla_model.model.tokenizer import BYTE_TOKENIZER_VOCAB_SIZE

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
    from fdvla_model.model import FDVLAPolicy
    from fdvla_model.model.configuration_fdvla import SMOLVLM2_500M_ID

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
                        f"{100 * (1 - measured):.2g}% of the frames have none (recorded without a "
                        "force sensor, or before its first sample); use --variant fdvla or no_force, "
                        "or rebuild the dataset")
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


def fit_teacher_on_dataset(policy, dataset: EpisodeDataset, episodes: list, cfg: TrainConfig) -> dict:
    """Fit the frozen force teacher (wrench autoencoder) on the training episodes' wrenches."""
    from fdvla_model.model.force_teacher import fit_force_teacher

    from fdvla_model.dataset.episode_dataset import wrench_window

    wanted = set(episodes)
    history = int(policy.config.force_history)
    windows = []
    for e in dataset.episodes:
        if e.index in wanted:
            w = load_episode_arrays(e.path)["wrench"]
            windows.extend(wrench_window(w, t, history) for t in range(len(w)))
    wrenches = np.stack(windows).astype(np.float32)
    if not np.isfinite(wrenches.reshape(len(wrenches), -1)).all(axis=1).any():
        return {}  # no measured wrench: check_dataset_fits names the problem
    return fit_force_teacher(policy, torch.from_numpy(wrenches), steps=cfg.teacher_steps, seed=cfg.seed,
                             unit_variance=cfg.teacher_unit_variance)
