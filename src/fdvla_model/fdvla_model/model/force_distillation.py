"""The Force Distillation Module (eqs. 1, 3, 4), the actual-force branch, and the force decoder."""

from __future__ import annotations

import torch
from torch import nn


class ForceDistillationModule(nn.Module):
    """FDM: f_pF = FDM(f_V, f_S, p) (eq. 1).

    Single-query multi-head attention (eq. 3): the query is p W_Q, keys and values come from the
    context C = [p, f_V, f_S]; then f_pF = FFN(LN([Z_1..Z_H] W_O + p)) (eq. 4).
    The ``force_token`` ablation passes the actual force token f_aF in place of p.
    """

    def __init__(
        self, hidden_size: int, num_heads: int, ffn_multiplier: int = 4, learnable_query: bool = True
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        # p; absent when the query is always given (force_token), so no parameter sits unused
        self.query = nn.Parameter(torch.randn(1, hidden_size) * 0.02) if learnable_query else None
        # The VLM's image/text embeddings are scaled by sqrt(D) while the state token is not, so
        # their raw norms differ ~30x; normalising the context keeps eq. 3's logits in a range
        # where the softmax is not saturated by whichever modality is larger.
        self.context_norm = nn.LayerNorm(hidden_size)
        self.q_proj = nn.Linear(hidden_size, hidden_size)
        self.k_proj = nn.Linear(hidden_size, hidden_size)
        self.v_proj = nn.Linear(hidden_size, hidden_size)
        self.o_proj = nn.Linear(hidden_size, hidden_size)
        self.norm = nn.LayerNorm(hidden_size)
        self.ffn = nn.Sequential(
            nn.Linear(hidden_size, ffn_multiplier * hidden_size),
            nn.GELU(),
            nn.Linear(ffn_multiplier * hidden_size, hidden_size),
        )

    def forward(
        self,
        vision_tokens: torch.Tensor,
        state_tokens: torch.Tensor,
        query: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N_v, D), (B, N_s, D), optional query (B, D) -> f_pF (B, D), alpha (B, H, 1 + N_v + N_s)."""
        batch = vision_tokens.shape[0]
        if query is None:
            if self.query is None:
                raise ValueError("this FDM has no learnable query; pass the query token")
            query = self.query.to(vision_tokens.dtype).expand(batch, -1)
        context = torch.cat([query[:, None, :], vision_tokens, state_tokens], dim=1)  # C_t
        context = self.context_norm(context)

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.view(batch, x.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

        q = heads(self.q_proj(query)[:, None, :])  # (B, H, 1, d_k)
        k = heads(self.k_proj(context))
        v = heads(self.v_proj(context))
        # eq. 3: alpha = softmax(Q K^T / sqrt(d_k)); Z = alpha V
        alpha = torch.softmax((q @ k.transpose(-1, -2)) * self.head_dim**-0.5, dim=-1)
        z = (alpha @ v).transpose(1, 2).reshape(batch, -1)
        # eq. 4: f_pF = FFN(LN(Z W_O + p))
        force_token = self.ffn(self.norm(self.o_proj(z) + query))
        return force_token, alpha[:, :, 0, :]


class ActualForceEncoder(nn.Module):
    """Actual-force branch: MLP from the (normalised) measured wrench, or its flattened history
    (FDVLAConfig.force_history), to f_aF."""

    def __init__(self, wrench_dim: int, hidden: int, token_size: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(wrench_dim, hidden), nn.SiLU(), nn.Linear(hidden, token_size))

    def forward(self, wrench: torch.Tensor) -> torch.Tensor:
        return self.mlp(wrench)


class ForceDecoder(nn.Module):
    """Force token -> (normalised) 6-axis wrench (the whole window with a force history), so the
    distilled force can be shown in rviz/rqt.

    Trained on f_aF with its input detached: it learns to read the latent without pushing any
    gradient into the model, so the paper's objective (eq. 9) is unchanged.
    """

    def __init__(self, token_size: int, hidden: int, wrench_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.LayerNorm(token_size), nn.Linear(token_size, hidden), nn.SiLU(), nn.Linear(hidden, wrench_dim)
        )

    def forward(self, force_token: torch.Tensor) -> torch.Tensor:
        return self.mlp(force_token)


def distillation_loss(
    predicted_force_token: torch.Tensor, actual_force_token: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """L_dist = ||f_pF - f_aF||_2^2 / D (eq. 5 per token dimension), averaged over the batch (or
    over samples with weight 1).

    Dividing eq. 5 by the token size D is a constant the paper's λ (eq. 9) absorbs; it keeps
    λ meaning the same at every model size. Summed, a unit-variance teacher's L_dist is ~D
    times the flow loss's scale (64 tiny, 960 full), and λ = 0.1 let it outweigh L_flow in the
    shared VLM: measured (docs/model.md), the flow loss after 2000 steps was 0.51 summed against
    0.18 per dimension.
    """
    per_sample = (predicted_force_token - actual_force_token).pow(2).mean(dim=-1)
    if weights is None:
        return per_sample.mean()
    weights = weights.to(per_sample.dtype)
    return (per_sample * weights).sum() / weights.sum().clamp(min=1)
