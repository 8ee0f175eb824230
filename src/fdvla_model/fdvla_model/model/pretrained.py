"""Pretrained weights: the SmolVLM trunk via transformers, and lerobot SmolVLA checkpoints.

SmolVLA's key layout (``model.vlm_with_expert.vlm.*``, ``model.vlm_with_expert.lm_expert.*``,
``model.state_proj``, ``model.action_in_proj``, ``model.action_out_proj``,
``model.action_time_mlp_in/out``) is the layout of ``FDVLAPolicy.state_dict()``, so a SmolVLA
checkpoint loads key for key; FD-VLA's own modules (FDM, force encoder/decoder, normaliser) start
fresh.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from transformers import SmolVLMConfig, SmolVLMForConditionalGeneration

from .configuration_fdvla import FDVLAConfig
from .tokenizer import load_pretrained_tokenizer
from .vlm_with_expert import build_vlm_config

log = logging.getLogger(__name__)

VLM_PREFIX = "model.vlm_with_expert.vlm."
FDVLA_ONLY_PREFIXES = ("model.force_distillation.", "model.force_encoder.", "model.force_decoder.", "normalizer.")
# Present in SmolVLA checkpoints but deliberately not used here: lerobot's normalisation buffers
# (the statistics come from our own dataset) and the VLM's language-model head.
SMOLVLA_IGNORED_PREFIXES = (
    "normalize_inputs.", "normalize_targets.", "unnormalize_outputs.", VLM_PREFIX + "lm_head.",
)
_TEXT_LAYER = re.compile(re.escape(VLM_PREFIX) + r"model\.text_model\.layers\.(\d+)\.")
# torch.compile'd SmolVLA checkpoints carry this infix.
_COMPILED_PREFIX = "model._orig_mod."


def vlm_config_from_pretrained(vlm_name_or_path: str | Path) -> dict[str, Any]:
    return SmolVLMConfig.from_pretrained(str(vlm_name_or_path)).to_dict()


def load_vlm_weights(policy, vlm_name_or_path: str | Path) -> None:
    """Copy a pretrained SmolVLM's vision encoder, connector and first text layers into the policy."""
    pretrained = SmolVLMForConditionalGeneration.from_pretrained(
        str(vlm_name_or_path), config=build_vlm_config(policy.config), dtype=torch.float32
    )
    state = {k: v for k, v in pretrained.state_dict().items() if not k.startswith("lm_head.")}
    policy.model.vlm_with_expert.vlm.load_state_dict(state, strict=True)
    # checkpoints then store the name instead of the weights (checkpoint.save_policy)
    policy.vlm_source = str(vlm_name_or_path)


def policy_from_pretrained_vlm(cls, vlm_name_or_path: str | Path, variant: str = "fdvla", **overrides: Any):
    vlm_config = vlm_config_from_pretrained(vlm_name_or_path)
    values: dict[str, Any] = dict(
        variant=variant,
        vlm_name_or_path=str(vlm_name_or_path),
        vlm_config=vlm_config,
        image_size=vlm_config["vision_config"]["image_size"],
        tokenizer_source="pretrained",
    )
    values.update(overrides)
    config = FDVLAConfig(**values)
    policy = cls(config, tokenizer=load_pretrained_tokenizer(str(vlm_name_or_path)))
    load_vlm_weights(policy, vlm_name_or_path)
    return policy


def _smolvla_file(path: str | Path) -> Path:
    path = Path(path)
    return path / "model.safetensors" if path.is_dir() else path


def _is_ignored(key: str, num_vlm_layers: int) -> bool:
    if key.startswith(SMOLVLA_IGNORED_PREFIXES):
        return True
    layer = _TEXT_LAYER.match(key)
    return layer is not None and int(layer.group(1)) >= num_vlm_layers  # layers beyond those kept


def load_smolvla_weights(policy, path: str | Path) -> tuple[list[str], list[str]]:
    """Load a SmolVLA ``model.safetensors`` (file or directory) into the policy.

    Returns (missing, unexpected): policy keys of the SmolVLA layout that the checkpoint lacks, and
    checkpoint keys this model has no place for. FD-VLA-only modules are never reported missing.
    A key present in both with a different shape raises ValueError naming it.
    """
    state = load_file(str(_smolvla_file(path)))
    state = {
        ("model." + k[len(_COMPILED_PREFIX):] if k.startswith(_COMPILED_PREFIX) else k): v
        for k, v in state.items()
    }
    own = policy.state_dict()
    num_layers = policy.config.num_vlm_layers
    unexpected = sorted(k for k in state if k not in own and not _is_ignored(k, num_layers))
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items() if k in own and v.shape != own[k].shape
    ]
    if mismatched:
        raise ValueError("SmolVLA checkpoint does not fit this configuration:\n  " + "\n  ".join(mismatched))
    policy.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    if any(k.startswith(VLM_PREFIX) for k in state):
        policy.vlm_source = None  # the VLM is SmolVLA's now: checkpoints must store it
    # SmolVLA was trained on images resized without antialiasing; feed it the same pixels.
    policy.config.smolvla_resize = True
    missing = sorted(k for k in own if k not in state and not k.startswith(FDVLA_ONLY_PREFIXES))
    if missing or unexpected:
        log.warning("SmolVLA weights: %d missing, %d unexpected keys", len(missing), len(unexpected))
    return missing, unexpected
