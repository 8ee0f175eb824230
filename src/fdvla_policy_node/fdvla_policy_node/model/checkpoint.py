"""Checkpoints: a directory with config.json, model.safetensors and the tokenizer. Never pickle.

    config.json        {"format": "fdvla-policy", "format_version": 1, "vlm_weights": "included"|"external",
                        "config": FDVLAConfig fields}
    model.safetensors  every weight and buffer, including the normalisation statistics
                       (normalizer.{state,action,wrench}_{mean,std}); without the frozen VLM when
                       saved with include_vlm=False (it is then reloaded from config.vlm_name_or_path)
    tokenizer/         the tokenizer (transformers save_pretrained layout)
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .configuration_fdvla import ConfigMismatchError, FDVLAConfig
from .pretrained import VLM_PREFIX, load_vlm_weights
from .tokenizer import load_pretrained_tokenizer

CHECKPOINT_FORMAT = "fdvla-policy"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_DIR = "tokenizer"

log = logging.getLogger(__name__)


class CheckpointMismatchError(ValueError):
    """A checkpoint that this code cannot load as it is; the message names what differs."""


def save_policy(policy, directory: str | Path, include_vlm: bool = True) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {
        key: tensor.detach().to("cpu").contiguous()
        for key, tensor in policy.state_dict().items()
        if include_vlm or not key.startswith(VLM_PREFIX)
    }
    save_file(state, str(directory / WEIGHTS_FILE), metadata={"format": CHECKPOINT_FORMAT})
    manifest = {
        "format": CHECKPOINT_FORMAT,
        "format_version": FORMAT_VERSION,
        "vlm_weights": "included" if include_vlm else "external",
        "config": policy.config.to_dict(),
    }
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
    if manifest.get("format_version") != FORMAT_VERSION:
        raise CheckpointMismatchError(
            f"{path}: format_version {manifest.get('format_version')!r}, this code reads {FORMAT_VERSION}"
        )
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
    external_vlm = manifest.get("vlm_weights") == "external"
    if external_vlm:
        if not config.vlm_name_or_path:
            raise CheckpointMismatchError("checkpoint saved without the VLM and names no vlm_name_or_path")
        load_vlm_weights(policy, config.vlm_name_or_path)
    stored = load_file(str(directory / WEIGHTS_FILE))
    expected = {
        k: v for k, v in policy.state_dict().items() if not (external_vlm and k.startswith(VLM_PREFIX))
    }
    problems = _describe_differences(stored, expected)
    if problems:
        raise CheckpointMismatchError(
            f"{directory / WEIGHTS_FILE} does not match the model built from its config:\n  " + "\n  ".join(problems)
        )
    policy.load_state_dict(stored, strict=False)
    return policy.to(map_location).eval()
