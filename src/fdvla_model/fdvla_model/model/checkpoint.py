"""Checkpoints: a directory with config.json, model.safetensors and the tokenizer. Never pickle.

    config.json        {"format": "fdvla-policy", "format_version": 2,
                        "vlm_weights": "external" | "separate" | "included",
                        "vlm_sha256": hash of the VLM tensors (separate only),
                        "config": FDVLAConfig fields}
    model.safetensors  every trained weight and buffer, including the normalisation statistics
                       (normalizer.{state,action,wrench}_{mean,std}); the frozen VLM only when
                       "included" (format 1, written before format 2 existed)
    vlm.safetensors    the frozen VLM ("separate" only)
    tokenizer/         the tokenizer (transformers save_pretrained layout)

Where the VLM goes (it is ~1.2 GB in float32 at full size and, frozen, never changes in training):
* "external": the VLM's weights are those of a named pretrained source (``load_vlm_weights`` /
  ``from_pretrained_vlm`` record it) and it is frozen; nothing is stored, loading reloads
  ``config.vlm_name_or_path``. A VLM that trains (``config.train_expert_only`` False) is always
  stored.
* "separate": anything else (the tiny preset's random VLM, a VLM from a SmolVLA checkpoint). It is
  written once per content: ``vlm.safetensors`` is left alone when its hash matches, and with a
  ``vlm_store`` folder (the trainer's ``checkpoints/.vlm``) it is written there once and
  hard-linked into every checkpoint (a copy where links are impossible), so N checkpoints cost one
  VLM on disk and each checkpoint folder still stands alone.
* "included": format 1 (the VLM inside model.safetensors); still read, and written by
  ``include_vlm=True``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .configuration_fdvla import ConfigMismatchError, FDVLAConfig
from .pretrained import VLM_PREFIX, load_vlm_weights
from .tokenizer import load_pretrained_tokenizer

CHECKPOINT_FORMAT = "fdvla-policy"
FORMAT_VERSION = 2
READABLE_FORMAT_VERSIONS = (1, 2)
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
VLM_FILE = "vlm.safetensors"
TOKENIZER_DIR = "tokenizer"

log = logging.getLogger(__name__)


class CheckpointMismatchError(ValueError):
    """A checkpoint that this code cannot load as it is; the message names what differs."""


def vlm_state(policy) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in policy.state_dict().items() if k.startswith(VLM_PREFIX)}


def tensors_sha256(state: dict[str, torch.Tensor]) -> str:
    """Hash of names, dtypes, shapes and bytes: equal exactly when the tensors are."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key]
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def _stored_vlm_hash(path: Path) -> str | None:
    """The hash recorded in a vlm.safetensors' metadata, or None."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return (handle.metadata() or {}).get("sha256")
    except Exception:  # noqa: BLE001 - a damaged or foreign file is simply rewritten
        return None


def _write_vlm_file(state: dict[str, torch.Tensor], digest: str, target: Path, store: Path | None) -> None:
    if target.is_file() and _stored_vlm_hash(target) == digest:
        return  # this content is already there
    if store is None:
        tmp = target.with_suffix(".partial")
        save_file(state, str(tmp), metadata={"format": CHECKPOINT_FORMAT, "sha256": digest})
        os.replace(tmp, target)
        return
    store.mkdir(parents=True, exist_ok=True)
    shared = store / f"{digest}.safetensors"
    if not shared.is_file():
        tmp = store / f"{digest}.partial"
        save_file(state, str(tmp), metadata={"format": CHECKPOINT_FORMAT, "sha256": digest})
        os.replace(tmp, shared)
    target.unlink(missing_ok=True)
    try:
        os.link(shared, target)
    except OSError:  # e.g. a file system without hard links
        shutil.copyfile(shared, target)


def save_policy(policy, directory: str | Path, include_vlm: bool | None = None,
                vlm_store: str | Path | None = None) -> Path:
    """Write a checkpoint (layout above). ``include_vlm``: None chooses ("external" when the VLM
    came from a named pretrained source, else "separate"); False forces "external" (the VLM is
    reloaded from config.vlm_name_or_path); True writes format 1's "included"."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    source = getattr(policy, "vlm_source", None)
    trained_vlm = policy.config.trains_vlm  # its weights are no longer the named source's
    if include_vlm is None:
        named = source and source == policy.config.vlm_name_or_path
        mode = "external" if named and not trained_vlm else "separate"
    else:
        mode = "included" if include_vlm else "external"
    if mode == "external" and trained_vlm:
        raise ValueError("cannot save without the VLM: it was trained (train_expert_only is False), "
                         "so reloading config.vlm_name_or_path would lose its weights")
    if mode == "external" and not policy.config.vlm_name_or_path:
        raise ValueError("cannot save without the VLM: config.vlm_name_or_path names no source to reload it from")
    state = {
        key: tensor.detach().to("cpu").contiguous()
        for key, tensor in policy.state_dict().items()
        if mode == "included" or not key.startswith(VLM_PREFIX)
    }
    save_file(state, str(directory / WEIGHTS_FILE), metadata={"format": CHECKPOINT_FORMAT})
    manifest = {
        "format": CHECKPOINT_FORMAT,
        "format_version": FORMAT_VERSION,
        "vlm_weights": mode,
        "config": policy.config.to_dict(),
    }
    if mode == "separate":
        vlm = vlm_state(policy)
        manifest["vlm_sha256"] = tensors_sha256(vlm)
        _write_vlm_file(vlm, manifest["vlm_sha256"], directory / VLM_FILE, Path(vlm_store) if vlm_store else None)
    else:
        (directory / VLM_FILE).unlink(missing_ok=True)
    (directory / CONFIG_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    try:
        tokenizer = policy.tokenizer
    except OSError as error:  # e.g. a randomly initialised full preset, offline, no local VLM files
        log.warning("checkpoint saved without a tokenizer (%s); loading will need %s", error,
                    policy.config.vlm_name_or_path)
    else:
        tokenizer.save_pretrained(str(directory / TOKENIZER_DIR))
    return directory


def _read_manifest(directory: Path) -> dict:
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise CheckpointMismatchError(f"{directory} is not an FD-VLA checkpoint: no {CONFIG_FILE}")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointMismatchError(
            f"{path}: format {manifest.get('format')!r}, expected {CHECKPOINT_FORMAT!r}"
        )
    if manifest.get("format_version") not in READABLE_FORMAT_VERSIONS:
        raise CheckpointMismatchError(
            f"{path}: format_version {manifest.get('format_version')!r}, this code reads "
            f"{READABLE_FORMAT_VERSIONS}"
        )
    if manifest.get("vlm_weights", "included") not in ("included", "external", "separate"):
        raise CheckpointMismatchError(f"{path}: unknown vlm_weights {manifest.get('vlm_weights')!r}")
    return manifest


def _describe_differences(stored: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> list[str]:
    problems = []
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    if missing:
        problems.append(f"missing from checkpoint ({len(missing)}): {missing[:10]}")
    if unexpected:
        problems.append(f"not in this model ({len(unexpected)}): {unexpected[:10]}")
    for key in sorted(set(stored) & set(expected)):
        if stored[key].shape != expected[key].shape:
            problems.append(
                f"shape of {key}: checkpoint {tuple(stored[key].shape)} vs model {tuple(expected[key].shape)}"
            )
    return problems


def load_policy(cls, directory: str | Path, map_location: str | torch.device = "cpu"):
    directory = Path(directory)
    manifest = _read_manifest(directory)
    try:
        config = FDVLAConfig.from_dict(manifest["config"])
    except (ConfigMismatchError, TypeError, ValueError) as error:
        raise CheckpointMismatchError(f"{directory / CONFIG_FILE}: {error}") from error
    tokenizer_dir = directory / TOKENIZER_DIR
    tokenizer = load_pretrained_tokenizer(str(tokenizer_dir)) if tokenizer_dir.is_dir() else None
    policy = cls(config, tokenizer=tokenizer)
    mode = manifest.get("vlm_weights", "included")
    if mode == "external":
        if not config.vlm_name_or_path:
            raise CheckpointMismatchError("checkpoint saved without the VLM and names no vlm_name_or_path")
        load_vlm_weights(policy, config.vlm_name_or_path)
    stored = load_file(str(directory / WEIGHTS_FILE))
    if mode == "separate":
        vlm_path = directory / VLM_FILE
        if not vlm_path.is_file():
            raise CheckpointMismatchError(f"{directory}: the manifest says the VLM is in {VLM_FILE}, which is missing")
        vlm = load_file(str(vlm_path))
        if manifest.get("vlm_sha256") and tensors_sha256(vlm) != manifest["vlm_sha256"]:
            raise CheckpointMismatchError(f"{vlm_path}: contents do not match the hash in {CONFIG_FILE}")
        stored.update(vlm)
    expected = {
        k: v for k, v in policy.state_dict().items() if not (mode == "external" and k.startswith(VLM_PREFIX))
    }
    problems = _describe_differences(stored, expected)
    if problems:
        raise CheckpointMismatchError(
            f"{directory / WEIGHTS_FILE} does not match the model built from its config:\n  " + "\n  ".join(problems)
        )
    policy.load_state_dict(stored, strict=False)
    return policy.to(map_location).eval()
