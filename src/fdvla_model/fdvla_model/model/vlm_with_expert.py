"""The frozen SmolVLM trunk and the action expert, run layer by layer with our own masks and cache.

The decoder layers are transformers' Llama layers; we call their sub-modules (norms, projections,
MLP) directly instead of the generate/forward path, because the prefix needs the directional mask
of eq. 6 and the action expert reads each VLM layer's keys/values. Attribute names mirror lerobot's
SmolVLA (``vlm``, ``lm_expert``) so its checkpoints load key for key.

Expert layer i pairs with VLM layer i. Layers with ``i % self_attn_every_n_layers == 0`` attend
jointly over [prefix keys/values of VLM layer i, action keys/values]; the others cross-attend:
their k/v projections map the VLM layer's (post-RoPE) keys/values into the expert's heads.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import SmolVLMConfig, SmolVLMForConditionalGeneration
from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRMSNorm

from .attention_mask import action_attention_mask
from .configuration_fdvla import FDVLAConfig


def build_vlm_config(config: FDVLAConfig) -> SmolVLMConfig:
    """The SmolVLM config with only the first ``num_vlm_layers`` text layers."""
    values = copy.deepcopy(config.vlm_config)
    values["text_config"]["num_hidden_layers"] = config.num_vlm_layers
    return SmolVLMConfig(**values)


def expert_intermediate_size(hidden_size: int, multiplier: int = 4, multiple_of: int = 256) -> int:
    """SmolVLA's expert MLP width: 4 * (2/3) * hidden, rounded up to a multiple of 256."""
    size = multiplier * int(2 * hidden_size / 3)
    return multiple_of * ((size + multiple_of - 1) // multiple_of)


def apply_rope(x: torch.Tensor, positions: torch.Tensor, max_wavelength: float) -> torch.Tensor:
    """Rotary position embedding of x (B, L, H, D) at positions (B, L), halves layout, in float32."""
    half = x.shape[-1] // 2
    exponents = torch.arange(half, dtype=torch.float32, device=x.device) * (2.0 / x.shape[-1])
    radians = positions.to(torch.float32)[..., None] / (max_wavelength**exponents)
    sin, cos = radians.sin()[:, :, None, :], radians.cos()[:, :, None, :]
    first, second = x.to(torch.float32).split(half, dim=-1)
    rotated = torch.cat([first * cos - second * sin, second * cos + first * sin], dim=-1)
    return rotated.to(x.dtype)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Grouped-query attention. q (B, Lq, H, d), k/v (B, Lk, H_kv, d), mask (B, Lq, Lk) -> (B, Lq, H*d)."""
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask[:, None], enable_gqa=True
    )
    return out.transpose(1, 2).reshape(q.shape[0], q.shape[1], -1)


def _split_heads(x: torch.Tensor, head_dim: int) -> torch.Tensor:
    return x.view(*x.shape[:-1], -1, head_dim)


def _attention_residual_and_mlp(layer: LlamaDecoderLayer, hidden: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
    hidden = hidden + layer.self_attn.o_proj(attn.to(hidden.dtype))
    return hidden + layer.mlp(layer.post_attention_layernorm(hidden))


@dataclass
class PrefixKV:
    """Per-VLM-layer keys/values of the prefix (post-RoPE), reused by every denoising step."""

    keys: list[torch.Tensor]  # each (B, P, H_kv, d)
    values: list[torch.Tensor]
    valid: torch.Tensor  # (B, P) bool: False for language padding


class ActionExpert(nn.Module):
    """A Llama decoder stack without token embeddings (key layout ``layers.*``, ``norm``)."""

    def __init__(self, config) -> None:
        super().__init__()
        self.layers = nn.ModuleList(LlamaDecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = LlamaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)


class SmolVLMWithExpert(nn.Module):
    def __init__(self, config: FDVLAConfig) -> None:
        super().__init__()
        self.config = config
        vlm_config = build_vlm_config(config)
        self.vlm = SmolVLMForConditionalGeneration(vlm_config)
        # The language-model head is never used: actions come from the expert.
        self.vlm.lm_head = None
        self.set_vlm_requires_grad()

        text = vlm_config.text_config
        expert_config = copy.deepcopy(text)
        expert_config.hidden_size = config.expert_hidden_size
        expert_config.intermediate_size = expert_intermediate_size(config.expert_hidden_size)
        expert_config.num_hidden_layers = config.num_vlm_layers
        self.lm_expert = ActionExpert(expert_config)
        kv_width = text.num_key_value_heads * text.head_dim
        for index, layer in enumerate(self.lm_expert.layers):
            if not self.is_self_attention_layer(index):
                layer.self_attn.k_proj = nn.Linear(kv_width, kv_width, bias=text.attention_bias)
                layer.self_attn.v_proj = nn.Linear(kv_width, kv_width, bias=text.attention_bias)
        self.head_dim = text.head_dim

    def is_self_attention_layer(self, index: int) -> bool:
        n = self.config.self_attn_every_n_layers
        return n > 0 and index % n == 0

    def frozen_vlm_modules(self) -> list[nn.Module]:
        """The parts of the VLM that do not train (config.train_expert_only / freeze_vision_encoder)."""
        if self.config.train_expert_only:
            return [self.vlm]
        if self.config.freeze_vision_encoder:
            return [self.vlm.model.vision_model]
        return []

    def unused_vlm_parameters(self) -> list[nn.Parameter]:
        """VLM weights no output depends on: the final norm, and of the last kept text layer
        everything after its keys and values (the expert reads only the prefix's K/V there)."""
        text = self.text_model
        last = text.layers[-1]
        unused = [text.norm, last.self_attn.q_proj, last.self_attn.o_proj, last.mlp,
                  last.post_attention_layernorm]
        return [p for module in unused for p in module.parameters()]

    def set_vlm_requires_grad(self) -> None:
        self.vlm.requires_grad_(True)
        for module in self.frozen_vlm_modules():
            module.requires_grad_(False)
        for p in self.unused_vlm_parameters():  # no gradient ever (DDP would wait for one)
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> SmolVLMWithExpert:
        super().train(mode)
        for module in self.frozen_vlm_modules():
            module.eval()  # frozen: no dropout, whatever the policy's mode
        return self

    @property
    def text_model(self):
        return self.vlm.model.text_model

    # --- embeddings ----------------------------------------------------------------------------

    def embed_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) in [-1, 1] -> (B, tokens_per_image, D): SigLIP, then pixel-shuffle connector."""
        vision = self.vlm.model.vision_model
        features = vision(pixel_values=pixels.to(vision.post_layernorm.weight.dtype)).last_hidden_state
        return self.vlm.model.connector(features)

    def embed_language(self, token_ids: torch.Tensor) -> torch.Tensor:
        return self.text_model.get_input_embeddings()(token_ids)

    # --- prefix: frozen VLM under the directional mask --------------------------------------------

    def forward_prefix(
        self, embeds: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, PrefixKV]:
        """Run the kept VLM layers over [f_V, f_L, f_S, f_pF]; return outputs and per-layer K/V."""
        wavelength = self.config.rope_max_wavelength
        keys, values = [], []
        hidden = embeds
        for layer in self.text_model.layers:
            x = layer.input_layernorm(hidden)
            q = apply_rope(_split_heads(layer.self_attn.q_proj(x), self.head_dim), position_ids, wavelength)
            k = apply_rope(_split_heads(layer.self_attn.k_proj(x), self.head_dim), position_ids, wavelength)
            v = _split_heads(layer.self_attn.v_proj(x), self.head_dim)
            keys.append(k)
            values.append(v)
            hidden = _attention_residual_and_mlp(layer, hidden, _attend(q, k, v, attention_mask))
        return self.text_model.norm(hidden), PrefixKV(keys, values, valid)

    # --- suffix: action expert over the cached prefix -----------------------------------------------

    def forward_actions(self, embeds: torch.Tensor, prefix: PrefixKV) -> torch.Tensor:
        """(B, A, E) action tokens -> (B, A, E) expert outputs; never writes to ``prefix``."""
        batch, num_actions = embeds.shape[:2]
        wavelength = self.config.rope_max_wavelength
        steps = torch.arange(num_actions, device=embeds.device)
        # Joint-attention layers continue the prefix's positions; cross-attention ones restart at 0.
        joint_positions = prefix.valid.sum(dim=1, keepdim=True) + steps[None]
        cross_positions = steps[None].expand(batch, -1)
        joint_mask = action_attention_mask(prefix.valid, num_actions)
        cross_mask = prefix.valid[:, None, :].expand(batch, num_actions, -1)

        hidden = embeds
        for index, layer in enumerate(self.lm_expert.layers):
            attn = layer.self_attn
            x = layer.input_layernorm(hidden)
            q = _split_heads(attn.q_proj(x), self.head_dim)
            prefix_k, prefix_v = prefix.keys[index], prefix.values[index]
            if self.is_self_attention_layer(index):
                q = apply_rope(q, joint_positions, wavelength)
                k = apply_rope(_split_heads(attn.k_proj(x), self.head_dim), joint_positions, wavelength)
                v = _split_heads(attn.v_proj(x), self.head_dim)
                k = torch.cat([prefix_k.to(k.dtype), k], dim=1)
                v = torch.cat([prefix_v.to(v.dtype), v], dim=1)
                mask = joint_mask
            else:
                q = apply_rope(q, cross_positions, wavelength)
                k = _split_heads(attn.k_proj(prefix_k.flatten(2).to(x.dtype)), self.head_dim)
                v = _split_heads(attn.v_proj(prefix_v.flatten(2).to(x.dtype)), self.head_dim)
                mask = cross_mask
            hidden = _attention_residual_and_mlp(layer, hidden, _attend(q, k, v, mask))
        return self.lm_expert.norm(hidden)
