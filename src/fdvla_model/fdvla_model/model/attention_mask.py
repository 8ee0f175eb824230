"""Attention masks: the directional mask of eq. 6 over the prefix, and the action-token mask.

Masks are boolean, True where query i may attend to key j.
"""

from __future__ import annotations

import torch


def directional_attention_mask(is_control: torch.Tensor) -> torch.Tensor:
    """Directional Attention Mask, eq. 6, for tokens x_1..x_N (N,) -> (N, N).

    ``is_control[i]`` is True for the control stream {f_S, f_pF} and False for the perceptual
    stream {f_V, f_L}. Perceptual tokens attend only to perceptual tokens (so the frozen VLM's
    vision-language computation is untouched); control tokens attend to all perceptual tokens and
    causally (i >= j) to control tokens.
    """
    control_i = is_control[:, None]
    control_j = is_control[None, :]
    index = torch.arange(is_control.shape[0], device=is_control.device)
    causal = index[:, None] >= index[None, :]
    return (~control_i & ~control_j) | (control_i & ~control_j) | (control_i & control_j & causal)


def prefix_attention_mask(is_control: torch.Tensor, key_valid: torch.Tensor) -> torch.Tensor:
    """Eq. 6 restricted to real keys: (N,) and (B, N) -> (B, N, N).

    Padding is masked on the key side only, so no query row is ever empty (an empty row would give
    NaN in softmax); padded queries produce outputs that nothing reads.
    """
    return directional_attention_mask(is_control)[None] & key_valid[:, None, :]


def action_attention_mask(prefix_valid: torch.Tensor, num_actions: int) -> torch.Tensor:
    """Action tokens attend to every real prefix token and causally to each other.

    (B, P) -> (B, A, P + A), the key order being [prefix, actions].
    """
    batch = prefix_valid.shape[0]
    to_prefix = prefix_valid[:, None, :].expand(batch, num_actions, prefix_valid.shape[1])
    causal = torch.ones(num_actions, num_actions, dtype=torch.bool, device=prefix_valid.device).tril()
    return torch.cat([to_prefix, causal[None].expand(batch, -1, -1)], dim=2)
