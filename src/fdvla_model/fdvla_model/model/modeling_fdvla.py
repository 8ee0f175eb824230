"""FD-VLA policy: prefix embedding, Force Distillation, conditional flow matching, sampling.

Prefix tokens [f_V, f_L, f_S, f_pF] go through the frozen VLM under the directional mask (eq. 6);
the action expert denoises a chunk of actions with the VLM's per-layer keys/values (eqs. 2, 8).
Inputs and outputs are in raw units; MEAN_STD normalisation happens inside.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .attention_mask import prefix_attention_mask
from .configuration_fdvla import FDVLAConfig
from .force_distillation import ActualForceEncoder, ForceDecoder, ForceDistillationModule, distillation_loss
from .normalize import NormalizationStats, Normalizer
from .tokenizer import build_byte_tokenizer, load_pretrained_tokenizer
from .vlm_with_expert import PrefixKV, SmolVLMWithExpert


class MissingWrenchError(ValueError):
    """The variant needs the measured wrench and the batch has none."""


# --- conditional flow matching (eq. 8) -----------------------------------------------------------
#
# Time convention: t = 1 - tau. The code follows SmolVLA/pi0: t = 1 is pure noise, t = 0 the
# data, the path is x_t = t * noise + (1 - t) * a, the expert regresses u = noise - a = dx_t/dt,
# and sampling integrates from t = 1 down to t = 0 with dt = -1/num_steps. The paper (eq. 8 and
# the line after it; the review calls it eq. 7) writes the path with tau = 1 - t,
# A^tau = tau * a + (1 - tau) * noise (tau = 0 noise, tau = 1 data), and states the same target
# u = noise - a, which is the path's velocity in t (= -dA^tau/dtau). So x_t = A^(1 - t), the
# regressed field is identical, and the Beta(1.5, 1) timestep is drawn for t (more mass near
# t = 1, i.e. near noise, as in SmolVLA).


def sample_flow_time(batch_size: int, alpha: float, beta: float, device=None) -> torch.Tensor:
    """t ~ Beta(alpha, beta) (SmolVLA: 1.5, 1), squeezed into [0.001, 1] so t = 0 is never drawn."""
    distribution = torch.distributions.Beta(torch.tensor(float(alpha)), torch.tensor(float(beta)))
    return (distribution.sample((batch_size,)) * 0.999 + 0.001).to(device)


def noisy_actions(actions: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """x_t = t * noise + (1 - t) * actions (t = 1 is pure noise, t = 0 the data).

    t: (B,) per sample, or one float for the whole batch (the sampler's time).
    """
    if isinstance(t, torch.Tensor):
        t = t[:, None, None]
    return t * noise + (1 - t) * actions


def flow_target(actions: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """u(x_t | a) = noise - actions: the velocity the expert regresses."""
    return noise - actions


def flow_matching_loss(velocity: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """L_flow (eq. 8): mean squared error over real (not padded) chunk steps. valid: (B, chunk) bool."""
    weights = valid[:, :, None].to(velocity.dtype)
    squared = (velocity - target).pow(2) * weights
    count = weights.sum() * velocity.shape[-1]
    return squared.sum() / count.clamp(min=1)


#: A hook on the sampler: (x_t, noise, t) -> the x_t to integrate on from. Called before each Euler
#: step and once more at t = 0 after the last, in normalised units padded to max_action_dim, with
#: the initial noise; lets inference steer the chunk (e.g. real-time chunking's inpainting of the
#: steps already committed) without a second copy of the sampling loop.
SamplingGuidance = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]


def sinusoidal_time_embedding(t: torch.Tensor, dim: int, min_period: float, max_period: float) -> torch.Tensor:
    """Sine-cosine embedding of the flow time with periods log-spaced in [min_period, max_period]."""
    fraction = torch.linspace(0.0, 1.0, dim // 2, dtype=torch.float64, device=t.device)
    period = min_period * (max_period / min_period) ** fraction
    angle = (2 * math.pi / period)[None, :] * t.to(torch.float64)[:, None]
    return torch.cat([angle.sin(), angle.cos()], dim=1).to(torch.float32)


# --- image and vector preparation ------------------------------------------------------------------


def resize_with_pad(images: torch.Tensor, size: int, antialias: bool = True) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> (B, 3, size, size): scale to fit keeping aspect, pad left/top with 0.

    Geometry as lerobot's SmolVLA (ratio = max(W/size, H/size), sides truncated with int(), black
    bars on the left/top). ``antialias=False`` is SmolVLA's exact resampling (bilinear,
    align_corners=False, no low-pass filter): what a pretrained SmolVLA checkpoint was trained on.
    ``antialias=True`` low-pass filters before shrinking, which aliases less on fine textures; it
    is the default for models trained here (config ``smolvla_resize``).
    """
    if images.ndim != 4:
        raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
    height, width = images.shape[2:]
    if (height, width) == (size, size):
        return images
    ratio = max(width / size, height / size)
    new_h, new_w = max(1, int(height / ratio)), max(1, int(width / ratio))
    resized = F.interpolate(images, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=antialias)
    return F.pad(resized, (size - new_w, 0, size - new_h, 0), value=0.0)


def pad_last_dim(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.pad(x, (0, size - x.shape[-1]))


@dataclass
class PrefixOutput:
    kv: PrefixKV
    hidden: torch.Tensor  # (B, P, D) VLM outputs
    force_token: torch.Tensor | None  # the token that entered the VLM (f_pF for fdvla)
    actual_force_token: torch.Tensor | None  # f_aF, when a wrench was given
    fdm_attention: torch.Tensor | None  # alpha of eq. 3, (B, H, 1 + N_v + N_s)
    num_vision_tokens: int


class FDVLAFlowMatching(nn.Module):
    """The network. Sub-module names follow lerobot's SmolVLA (``model.*``) plus FD-VLA's modules."""

    def __init__(self, config: FDVLAConfig) -> None:
        super().__init__()
        self.config = config
        self.vlm_with_expert = SmolVLMWithExpert(config)
        text_size, expert_size = config.text_hidden_size, config.expert_hidden_size
        self.state_proj = nn.Linear(config.max_state_dim, text_size)
        self.action_in_proj = nn.Linear(config.max_action_dim, expert_size)
        self.action_out_proj = nn.Linear(expert_size, config.max_action_dim)
        self.action_time_mlp_in = nn.Linear(2 * expert_size, expert_size)
        self.action_time_mlp_out = nn.Linear(expert_size, expert_size)
        if config.variant in ("fdvla", "force_token"):
            self.force_distillation = ForceDistillationModule(
                text_size, config.fdm_num_heads, config.fdm_ffn_multiplier,
                learnable_query=config.variant == "fdvla",
            )
        if config.force_to_expert:
            # Zero at the start: the expert begins as without it, and learns how much to use.
            self.force_expert_proj = nn.Linear(text_size, expert_size)
            nn.init.zeros_(self.force_expert_proj.weight)
            nn.init.zeros_(self.force_expert_proj.bias)
        if config.has_force_token:
            self.force_encoder = ActualForceEncoder(config.force_input_dim, config.force_encoder_hidden, text_size)
            self.force_decoder = ForceDecoder(text_size, config.force_decoder_hidden, config.force_input_dim)
            if self.uses_frozen_teacher:
                # fitted once as a wrench autoencoder (force_teacher.fit_force_teacher), then fixed
                self.force_encoder.requires_grad_(False)
                self.force_decoder.requires_grad_(False)

    @property
    def uses_frozen_teacher(self) -> bool:
        return self.config.variant == "fdvla" and self.config.objective.frozen_teacher

    def encode_prefix(
        self,
        images: Sequence[torch.Tensor],
        language_ids: torch.Tensor,
        language_valid: torch.Tensor,
        state: torch.Tensor,
        wrench: torch.Tensor | None,
    ) -> PrefixOutput:
        """Normalised, padded inputs -> VLM keys/values of [f_V, f_L, f_S, (force token)]."""
        config = self.config
        embedder = self.vlm_with_expert
        scale = math.sqrt(config.text_hidden_size)
        # SmolVLA scales image and text embeddings by sqrt(D) before the VLM.
        vision = torch.cat([embedder.embed_image(image) for image in images], dim=1) * scale
        language = embedder.embed_language(language_ids) * scale
        state_token = self.state_proj(state.to(self.state_proj.weight.dtype))[:, None, :]
        vision = vision.to(state_token.dtype)
        language = language.to(state_token.dtype)

        actual = None
        if config.has_force_token and wrench is not None:
            actual = self.force_encoder(wrench.to(state_token.dtype))
        force_token, attention = None, None
        if config.variant == "fdvla":
            force_token, attention = self.force_distillation(vision, state_token)
        elif config.variant == "force_token":
            force_token, attention = self.force_distillation(vision, state_token, query=actual)
        elif config.variant == "no_fdm":
            force_token = actual

        tokens = [vision, language, state_token]
        control = 1
        if force_token is not None:
            tokens.append(force_token[:, None, :])
            control += 1
        embeds = torch.cat(tokens, dim=1)
        batch, device = embeds.shape[0], embeds.device
        num_percept = vision.shape[1] + language.shape[1]
        valid = torch.cat(
            [torch.ones(batch, vision.shape[1], dtype=torch.bool, device=device),
             language_valid.to(device=device, dtype=torch.bool),
             torch.ones(batch, control, dtype=torch.bool, device=device)],
            dim=1,
        )
        is_control = torch.arange(embeds.shape[1], device=device) >= num_percept
        mask = prefix_attention_mask(is_control, valid)
        position_ids = valid.long().cumsum(dim=1) - 1
        hidden, kv = embedder.forward_prefix(embeds, mask, position_ids, valid)
        return PrefixOutput(kv, hidden, force_token, actual, attention, vision.shape[1])

    def velocity(self, prefix_kv: PrefixKV, x_t: torch.Tensor, t: torch.Tensor,
                 force_token: torch.Tensor | None = None) -> torch.Tensor:
        """v_theta(x_t, t | prefix): (B, chunk, max_action_dim) -> same shape, float32.
        ``force_token`` (B, D): the prefix's force token, which a ``force_to_expert`` model also
        adds to each action token's input (the extension; ignored otherwise)."""
        dtype = self.action_in_proj.weight.dtype
        action_emb = self.action_in_proj(x_t.to(dtype))
        time_emb = sinusoidal_time_embedding(
            t, self.config.expert_hidden_size, self.config.min_period, self.config.max_period
        ).to(dtype)
        fused = torch.cat([action_emb, time_emb[:, None, :].expand_as(action_emb)], dim=2)
        fused = self.action_time_mlp_out(F.silu(self.action_time_mlp_in(fused)))
        if self.config.force_to_expert:
            if force_token is None:
                raise ValueError("a force_to_expert model needs the prefix's force token")
            fused = fused + self.force_expert_proj(force_token.to(dtype))[:, None, :]
        out = self.vlm_with_expert.forward_actions(fused, prefix_kv)
        return self.action_out_proj(out).to(torch.float32)


class FDVLAPolicy(nn.Module):
    """FD-VLA with the batch-dict API the trainer and the policy node use.

    A batch is a dict: ``images`` {camera: float (B, 3, H, W) in [0, 1], or uint8 0..255; any H, W},
    ``state`` (B, state_dim),
    ``task`` list of str (or one str), ``wrench`` (B, 6) (training; inference only for
    ``force_token``/``no_fdm``), ``actions`` (B, chunk, action_dim) and optional ``action_is_pad``
    (B, chunk) bool for training.
    """

    def __init__(self, config: FDVLAConfig, tokenizer=None) -> None:
        super().__init__()
        self.config = config
        self.model = FDVLAFlowMatching(config)
        self.normalizer = Normalizer(config.state_dim, config.action_dim, config.wrench_dim)
        self._tokenizer = tokenizer
        # The named pretrained source the frozen VLM's weights were loaded from (None: built here,
        # or changed since); decides whether checkpoints store the VLM (checkpoint.save_policy).
        self.vlm_source: str | None = None

    # --- plumbing ------------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return self.model.state_proj.weight.device

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            if self.config.tokenizer_source == "builtin":
                self._tokenizer = build_byte_tokenizer()
            else:
                self._tokenizer = load_pretrained_tokenizer(self.config.vlm_name_or_path)
        return self._tokenizer

    def set_normalization_stats(self, stats: NormalizationStats) -> None:
        self.normalizer.set_stats(stats)

    def normalization_stats(self) -> NormalizationStats:
        return self.normalizer.stats()

    def _frozen_vlm_parameters(self) -> list[nn.Parameter]:
        vlm = self.model.vlm_with_expert
        frozen = [p for m in vlm.frozen_vlm_modules() for p in m.parameters()]
        seen = {id(p) for p in frozen}
        return frozen + [p for p in vlm.unused_vlm_parameters() if id(p) not in seen]

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Everything but the frozen part of the VLM (config.train_expert_only, freeze_vision_encoder)."""
        frozen = {id(p) for p in self._frozen_vlm_parameters()}
        return [p for p in self.parameters() if id(p) not in frozen and p.requires_grad]

    def num_parameters(self) -> dict[str, int]:
        frozen = sum(p.numel() for p in self._frozen_vlm_parameters())
        trainable = sum(p.numel() for p in self.trainable_parameters())
        return {"frozen_vlm": frozen, "trainable": trainable}

    # --- input preparation ------------------------------------------------------------------------

    def _batch_size(self, batch: dict[str, Any]) -> int:
        return int(torch.as_tensor(batch["state"]).shape[0])

    def _prepare_images(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        images = batch.get("images") or {}
        missing = [name for name in self.config.camera_names if name not in images]
        if missing:
            raise KeyError(f"batch['images'] lacks cameras {missing}; the model expects {self.config.camera_names}")
        prepared = []
        for name in self.config.camera_names:
            image = torch.as_tensor(images[name]).to(device=self.device)
            image = image.float() / 255.0 if image.dtype == torch.uint8 else image.float()
            if image.ndim != 4 or image.shape[1] != 3:
                raise ValueError(f"image {name!r} must be (B, 3, H, W) floats in [0, 1], got {tuple(image.shape)}")
            # SigLIP expects [-1, 1].
            resized = resize_with_pad(image, self.config.image_size, antialias=not self.config.smolvla_resize)
            prepared.append(resized * 2.0 - 1.0)
        return prepared

    def _prepare_language(self, batch: dict[str, Any], batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        tasks = batch.get("task")
        if tasks is None:
            raise KeyError("batch lacks 'task' (the language instruction)")
        if isinstance(tasks, str):
            tasks = [tasks]
        if len(tasks) == 1 and batch_size > 1:
            tasks = list(tasks) * batch_size
        if len(tasks) != batch_size:
            raise ValueError(f"{len(tasks)} tasks for a batch of {batch_size}")
        # SmolVLA's prompts end with a newline.
        tasks = [task if task.endswith("\n") else task + "\n" for task in tasks]
        # Fixed length (max-length padding) keeps the prefix shape static.
        tokens = self.tokenizer(
            tasks, padding="max_length", max_length=self.config.tokenizer_max_length,
            truncation=True, return_tensors="pt", padding_side="right",
        )
        return tokens["input_ids"].to(self.device), tokens["attention_mask"].to(self.device, torch.bool)

    def _prepare_state(self, batch: dict[str, Any]) -> torch.Tensor:
        state = torch.as_tensor(batch["state"]).to(device=self.device, dtype=torch.float32)
        if state.ndim != 2 or state.shape[1] != self.config.state_dim:
            raise ValueError(f"state must be (B, {self.config.state_dim}), got {tuple(state.shape)}")
        return pad_last_dim(self.normalizer.normalize("state", state), self.config.max_state_dim)

    def _prepare_wrench(
        self, batch: dict[str, Any], required_because: str | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Normalised wrench (B, 6 * force_history) with unmeasured rows zeroed, and which rows
        were measured (B,).

        ``batch["wrench"]`` is (B, 6), or (B, force_history, 6) oldest first with a force
        history. A NaN anywhere in a row marks a sample recorded without a force sensor.
        """
        wrench = batch.get("wrench")
        if wrench is None:
            if required_because:
                raise MissingWrenchError(
                    f"variant {self.config.variant!r} {required_because}, but the batch has no 'wrench'"
                )
            return None, None
        wrench = torch.as_tensor(wrench).to(device=self.device, dtype=torch.float32)
        history, dim = int(self.config.force_history), self.config.wrench_dim
        expected = (dim,) if history == 1 else (history, dim)
        if wrench.ndim != 1 + len(expected) or tuple(wrench.shape[1:]) != expected:
            raise ValueError(f"wrench must be (B, {', '.join(map(str, expected))}) for force_history "
                             f"{history}, got {tuple(wrench.shape)}")
        wrench = wrench.reshape(wrench.shape[0], history, dim)
        measured = torch.isfinite(wrench).all(dim=2).all(dim=1)
        if self.config.needs_wrench_at_inference and not bool(measured.all()):
            raise MissingWrenchError(
                f"variant {self.config.variant!r} needs a measured wrench for every sample, but "
                f"{int((~measured).sum())} of {len(measured)} have none (NaN)"
            )
        # Zero-fill rather than mask afterwards: a NaN input would poison the gradients even when
        # its loss term is multiplied by zero.
        normalized = torch.where(measured[:, None, None], self.normalizer.normalize("wrench", wrench), 0.0)
        return normalized.flatten(1), measured

    def _encode(
        self, batch: dict[str, Any], training: bool
    ) -> tuple[PrefixOutput, torch.Tensor | None, torch.Tensor | None]:
        batch_size = self._batch_size(batch)
        config = self.config
        wrench, measured = None, None
        if config.has_force_token and training:
            wrench, measured = self._prepare_wrench(batch, "needs the measured wrench to train its force branch")
        elif config.needs_wrench_at_inference:
            wrench, measured = self._prepare_wrench(batch, "needs the measured wrench at inference")
        # (fdvla never looks at a wrench at inference)
        ids, valid = self._prepare_language(batch, batch_size)
        prefix = self.model.encode_prefix(
            self._prepare_images(batch), ids, valid, self._prepare_state(batch), wrench
        )
        return prefix, wrench, measured

    def encode_prefix(self, batch: dict[str, Any], training: bool = False) -> PrefixOutput:
        """The prefix [f_V, f_L, f_S, force token] through the VLM: per-layer keys/values, outputs,
        the force tokens and the FDM's attention weights. ``training`` selects whether the measured
        wrench is read (always for training; at inference only by the variants that need it)."""
        return self._encode(batch, training)[0]

    # --- training -------------------------------------------------------------------------------

    def compute_loss(
        self, batch: dict[str, Any], noise: torch.Tensor | None = None, time: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """L = L_flow + lambda * L_dist (eq. 9), plus the detached force-decoder loss.

        Returns ``loss`` (to backpropagate), ``flow_loss``, ``dist_loss``, ``force_decoder_loss``.
        ``noise`` (B, chunk, action_dim or max_action_dim; normalised units) and ``time`` (B,) may be
        given for reproducibility.
        """
        config = self.config
        prefix, wrench, measured = self._encode(batch, training=True)
        actions = torch.as_tensor(batch["actions"]).to(device=self.device, dtype=torch.float32)
        expected = (config.chunk_size, config.action_dim)
        if actions.ndim != 3 or tuple(actions.shape[1:]) != expected:
            raise ValueError(f"actions must be (B, {expected[0]}, {expected[1]}), got {tuple(actions.shape)}")
        actions = pad_last_dim(self.normalizer.normalize("action", actions), config.max_action_dim)
        batch_size = actions.shape[0]
        if noise is None:
            noise = torch.randn_like(actions)
        noise = pad_last_dim(torch.as_tensor(noise).to(actions), config.max_action_dim)
        if time is None:
            time = sample_flow_time(batch_size, config.time_beta_alpha, config.time_beta_beta, self.device)
        time = torch.as_tensor(time).to(actions)
        velocity = self.model.velocity(prefix.kv, noisy_actions(actions, noise, time), time,
                                       prefix.force_token)
        valid = torch.ones(batch_size, config.chunk_size, dtype=torch.bool, device=self.device)
        if batch.get("action_is_pad") is not None:
            valid = ~torch.as_tensor(batch["action_is_pad"], device=self.device, dtype=torch.bool)
        dims = slice(0, config.action_dim)  # padded action dims carry no signal
        flow_loss = flow_matching_loss(velocity[..., dims], flow_target(actions, noise)[..., dims], valid)

        zero = flow_loss.new_zeros(())
        dist_loss, decoder_loss = zero, zero
        objective = config.objective
        distils = config.variant == "fdvla"
        # Samples recorded without a force sensor (NaN wrench) train the actions only.
        if distils:
            target = prefix.actual_force_token
            if not objective.target_gradient:
                target = target.detach()  # a teacher: L_dist moves only the student f_pF
            dist_loss = distillation_loss(prefix.force_token.float(), target.float(), weights=measured)
        if prefix.actual_force_token is not None:
            trains_encoder = distils and objective.decoder_trains_encoder
            decoder_input = prefix.actual_force_token if trains_encoder else prefix.actual_force_token.detach()
            decoded = self.model.force_decoder(decoder_input).float()
            per_sample = (decoded - wrench).pow(2).mean(dim=-1)
            decoder_loss = (per_sample * measured).sum() / measured.sum().clamp(min=1)
        loss = flow_loss + config.dist_loss_weight * dist_loss + config.force_decoder_loss_weight * decoder_loss
        return {"loss": loss, "flow_loss": flow_loss, "dist_loss": dist_loss, "force_decoder_loss": decoder_loss}

    @torch.no_grad()
    def force_metrics(self, batch: dict[str, Any]) -> dict[str, float]:
        """What the force branch has learnt, on a batch with measured wrenches (see force_teacher)."""
        from .force_teacher import force_learning_metrics

        return force_learning_metrics(self, batch)

    # --- inference ------------------------------------------------------------------------------

    @torch.no_grad()
    def sample_actions(
        self,
        batch: dict[str, Any],
        noise: torch.Tensor | None = None,
        use_cache: bool = True,
        return_aux: bool = False,
        guidance: SamplingGuidance | None = None,
    ):
        """Denoise an action chunk with ``num_steps`` Euler steps from t = 1 to t = 0.

        The prefix is encoded once and its keys/values reused by every step (``use_cache=False``
        re-encodes it each step: same result, for tests and benchmarks). ``noise`` is
        (B, chunk, action_dim) or (B, chunk, max_action_dim), in normalised units; narrower noise is
        zero-padded. ``guidance`` (see SamplingGuidance) may rewrite x_t before every step and at
        the end. Returns (B, chunk, action_dim) in raw units, or with ``return_aux`` the pair
        (actions, force_outputs(prefix)).
        """
        config = self.config
        prefix, _, _ = self._encode(batch, training=False)
        batch_size = prefix.hidden.shape[0]
        shape = (batch_size, config.chunk_size, config.max_action_dim)
        if noise is None:
            x_1 = torch.randn(shape, device=self.device)
        else:
            x_1 = pad_last_dim(torch.as_tensor(noise).to(self.device, torch.float32), config.max_action_dim)
            if tuple(x_1.shape) != shape:
                raise ValueError(f"noise must be (B, {config.chunk_size}, action_dim), got {tuple(noise.shape)}")
        x_t = x_1
        dt = -1.0 / config.num_steps
        for step in range(config.num_steps):
            if not use_cache and step > 0:
                prefix, _, _ = self._encode(batch, training=False)
            t = 1.0 + step * dt
            if guidance is not None:
                x_t = guidance(x_t, x_1, t)
            t_batch = torch.full((batch_size,), t, device=self.device)
            x_t = x_t + dt * self.model.velocity(prefix.kv, x_t, t_batch, prefix.force_token)
        if guidance is not None:
            x_t = guidance(x_t, x_1, 0.0)
        actions = self.normalizer.unnormalize("action", x_t[..., : config.action_dim])
        if not return_aux:
            return actions
        return actions, self.force_outputs(prefix)

    def force_outputs(self, prefix: PrefixOutput) -> dict[str, torch.Tensor | None]:
        """{"force_token": (B, D), "predicted_wrench": (B, 6) raw units} of an encoded prefix; both
        None for a variant without a force token. With a force history the decoder gives the
        whole window; the prediction is its newest reading."""
        if prefix.force_token is None:
            return {"force_token": None, "predicted_wrench": None}
        decoded = self.model.force_decoder(prefix.force_token).float()[..., -self.config.wrench_dim:]
        return {
            "force_token": prefix.force_token.float(),
            "predicted_wrench": self.normalizer.unnormalize("wrench", decoded),
        }

    @torch.no_grad()
    def predict_force(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The force token that enters the VLM and its decoded wrench (raw units), without sampling."""
        if not self.config.has_force_token:
            raise ValueError("variant 'no_force' has no force token")
        prefix, _, _ = self._encode(batch, training=False)
        return self.force_outputs(prefix)

    # --- persistence and pretrained weights --------------------------------------------------------

    def save(self, directory: str | Path, include_vlm: bool | None = None,
             vlm_store: str | Path | None = None) -> Path:
        """Write a checkpoint directory. The frozen VLM is not stored when it came from a named
        pretrained source, else stored once (``vlm_store``: a folder shared by several
        checkpoints); ``include_vlm`` True/False forces it in/out (checkpoint.py)."""
        from .checkpoint import save_policy

        return save_policy(self, directory, include_vlm=include_vlm, vlm_store=vlm_store)

    @classmethod
    def load(cls, directory: str | Path, map_location: str | torch.device = "cpu") -> FDVLAPolicy:
        from .checkpoint import load_policy

        return load_policy(cls, directory, map_location=map_location)

    @classmethod
    def from_pretrained_vlm(cls, vlm_name_or_path: str, variant: str = "fdvla", **overrides: Any) -> FDVLAPolicy:
        """A policy whose frozen VLM (and tokenizer) come from a hub id or local SmolVLM directory."""
        from .pretrained import policy_from_pretrained_vlm

        return policy_from_pretrained_vlm(cls, vlm_name_or_path, variant=variant, **overrides)

    def load_vlm_weights(self, vlm_name_or_path: str) -> None:
        from .pretrained import load_vlm_weights

        load_vlm_weights(self, vlm_name_or_path)

    def load_smolvla_weights(self, path: str | Path) -> tuple[list[str], list[str]]:
        """Initialise from a lerobot SmolVLA checkpoint; returns (missing, unexpected) keys."""
        from .pretrained import load_smolvla_weights

        return load_smolvla_weights(self, path)
