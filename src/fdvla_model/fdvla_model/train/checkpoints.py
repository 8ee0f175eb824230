"""Checkpoints of a run: writing them atomically, pruning old ones, and finding the one to
resume from."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path
from typing import Optional

from fdvla_model.train.state import save_rng_state, save_training_state

from .config import TrainConfig
from .distributed import DistInfo, _barrier

CHECKPOINTS = "checkpoints"
LATEST = "latest"
VLM_STORE = ".vlm"  # the VLM, once per content, hard-linked into each checkpoint


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
    _prune_vlm_store(root / VLM_STORE)


def _prune_vlm_store(store: Path) -> None:
    """A VLM that trains is new content at every checkpoint: drop the stored copies no checkpoint
    links to any more (a checkpoint that had to copy instead of link holds its own copy)."""
    if not store.is_dir():
        return
    for f in store.glob("*.safetensors"):
        if f.stat().st_nlink <= 1:
            f.unlink(missing_ok=True)


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
