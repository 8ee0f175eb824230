"""FD-VLA configuration: one dataclass, two presets, a strict JSON round trip.

The VLM's own configuration is kept as the plain dict transformers writes (``SmolVLMConfig.to_dict``)
so that a checkpoint can rebuild the exact architecture without the original model directory.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

@dataclass(frozen=True)
class VariantSpec:
    """One of the paper's compared models (Fig. 6 / Table I)."""

    name: str
    force_token: str | None  # "predicted" (FDM with query p), "fdm_actual" (FDM with query f_aF),
    #                           "actual" (f_aF itself), None (no force token)
    needs_wrench_at_inference: bool
    description: str


# The one registry of variants: the model config, `fdvla train` and the docs read it.
VARIANT_SPECS: dict[str, VariantSpec] = {
    spec.name: spec
    for spec in (
        VariantSpec("fdvla", "predicted", False,
                    "force distillation: FDM with a learnable query p; no wrench at inference (the paper)"),
        VariantSpec("force_token", "fdm_actual", True,
                    "FDM whose query is the encoded measured force f_aF; needs the wrench at inference"),
        VariantSpec("no_fdm", "actual", True,
                    "SmolVLA + raw force: f_aF = MLP(wrench) itself enters the VLM; needs the wrench"),
        VariantSpec("no_force", None, False, "plain SmolVLA: no force token"),
    )
}
VARIANTS = tuple(VARIANT_SPECS)
# The paper's "SmolVLA with raw force" baseline is the no-FDM model.
VARIANT_ALIASES: dict[str, str] = {"raw_force": "no_fdm"}
VARIANT_CHOICES = VARIANTS + tuple(VARIANT_ALIASES)
VARIANTS_NEEDING_WRENCH_AT_INFERENCE = tuple(n for n, s in VARIANT_SPECS.items() if s.needs_wrench_at_inference)
# fdvla reads the wrench only as the distillation target; frames without one train the actions alone.
DISTILLING_VARIANTS = tuple(n for n, s in VARIANT_SPECS.items() if s.force_token == "predicted")


def resolve_variant(name: str) -> str:
    """A variant name or alias -> the canonical variant name; ValueError naming the choices."""
    name = VARIANT_ALIASES.get(name, name)
    if name not in VARIANT_SPECS:
        raise ValueError(f"unknown variant {name!r}; choose one of {VARIANT_CHOICES}")
    return name


@dataclass(frozen=True)
class ForceObjective:
    """How ``fdvla`` trains its distillation target f_aF and the student f_pF (docs/model.md).

    target_gradient         L_dist's gradient also reaches the measured-force encoder (eq. 5 taken
                            literally: both sides of ||f_pF - f_aF||^2 are trained)
    decoder_trains_encoder  the force decoder's loss (wrench from f_aF) trains the encoder too
    frozen_teacher          encoder + decoder are first trained as an autoencoder of the measured
                            wrench, then frozen: f_aF is a fixed teacher
    """

    name: str
    target_gradient: bool
    decoder_trains_encoder: bool
    frozen_teacher: bool
    description: str


FORCE_OBJECTIVES: dict[str, ForceObjective] = {
    o.name: o
    for o in (
        ForceObjective("joint", True, False, False,
                       "eq. 5 literally: L_dist trains f_pF and the encoder of f_aF (the target can shrink)"),
        ForceObjective("anchored", True, True, False,
                       "joint, plus the force decoder's loss trains the encoder of f_aF"),
        ForceObjective("stopgrad", False, True, False,
                       "f_aF is a stop-gradient target; its encoder learns only from the decoder loss"),
        ForceObjective("teacher", False, False, True,
                       "f_aF from a wrench autoencoder trained before the policy, then frozen"),
    )
}
DEFAULT_FORCE_OBJECTIVE = "teacher"
# Fields added after format_version 1 checkpoints were first written, with the value that
# reproduces what those checkpoints were trained with.
_LEGACY_DEFAULTS: dict[str, Any] = {"force_objective": "joint", "smolvla_resize": False,
                                     # every policy before these fields trained on a frozen VLM
                                     "train_expert_only": True, "freeze_vision_encoder": True,
                                     "action_frame": "base", "target_yaw_symmetry": 0,
                                     "force_history": 1, "force_to_expert": False}


SMOLVLM2_500M_ID = "HuggingFaceTB/SmolVLM2-500M-Video-Instruct"


def smolvlm2_500m_vlm_config() -> dict[str, Any]:
    """The published config.json values of SmolVLM2-500M-Video-Instruct (no download needed)."""
    return {
        "model_type": "smolvlm",
        "image_token_id": 49190,
        "scale_factor": 4,
        "tie_word_embeddings": False,
        "pad_token_id": 128002,
        "text_config": {
            "model_type": "llama",
            "head_dim": 64,
            "hidden_size": 960,
            "intermediate_size": 2560,
            "max_position_embeddings": 8192,
            "num_attention_heads": 15,
            "num_hidden_layers": 32,
            "num_key_value_heads": 5,
            "pad_token_id": 2,
            "rms_norm_eps": 1e-5,
            "rope_theta": 100000,
            "vocab_size": 49280,
        },
        "vision_config": {
            "model_type": "smolvlm_vision",
            "hidden_size": 768,
            "image_size": 512,
            "intermediate_size": 3072,
            "num_attention_heads": 12,
            "num_hidden_layers": 12,
            "patch_size": 16,
        },
    }


def tiny_vlm_config(vocab_size: int) -> dict[str, Any]:
    """A SmolVLM of the same classes, small enough to run in seconds on a CPU."""
    return {
        "model_type": "smolvlm",
        "image_token_id": 3,
        "scale_factor": 2,
        "tie_word_embeddings": False,
        "pad_token_id": 0,
        "text_config": {
            "model_type": "llama",
            "head_dim": 16,
            "hidden_size": 64,
            "intermediate_size": 128,
            "max_position_embeddings": 512,
            "num_attention_heads": 4,
            "num_hidden_layers": 4,
            "num_key_value_heads": 2,
            "pad_token_id": 0,
            "rms_norm_eps": 1e-5,
            "rope_theta": 100000,
            "vocab_size": vocab_size,
        },
        "vision_config": {
            "model_type": "smolvlm_vision",
            "hidden_size": 32,
            "image_size": 64,
            "intermediate_size": 64,
            "num_attention_heads": 2,
            "num_hidden_layers": 2,
            "patch_size": 8,
        },
    }


class ConfigMismatchError(ValueError):
    """A stored configuration does not match the fields this code knows."""


@dataclass
class FDVLAConfig:
    variant: str = "fdvla"
    camera_names: list[str] = field(default_factory=lambda: ["kinect", "wrist"])
    state_dim: int = 7
    action_dim: int = 7
    chunk_size: int = 50
    num_steps: int = 10
    # Square side every camera image is resized (with padding, aspect kept) to; must equal the
    # vision encoder's image size because SigLIP's position embeddings are fixed.
    image_size: int = 512
    # SmolVLA pads state and action vectors to 32 so one checkpoint fits many robots.
    max_state_dim: int = 32
    max_action_dim: int = 32
    tokenizer_max_length: int = 48

    vlm_name_or_path: str | None = SMOLVLM2_500M_ID
    vlm_config: dict[str, Any] = field(default_factory=smolvlm2_500m_vlm_config)
    # "pretrained": AutoTokenizer from vlm_name_or_path; "builtin": byte-level tokenizer made in code.
    tokenizer_source: str = "pretrained"

    num_vlm_layers: int = 16
    expert_width_multiplier: float = 0.75
    # Expert layers with index % n == 0 self-attend jointly with the prefix; the others cross-attend.
    self_attn_every_n_layers: int = 2
    # SmolVLA's RoPE uses this wavelength (not the VLM's rope_theta); kept for weight compatibility.
    rope_max_wavelength: float = 10_000.0
    min_period: float = 4e-3
    max_period: float = 4.0
    time_beta_alpha: float = 1.5
    time_beta_beta: float = 1.0

    fdm_num_heads: int = 15
    fdm_ffn_multiplier: int = 4
    wrench_dim: int = 6
    # Wrench readings the force encoder reads, one per dataset frame (1/fps apart), oldest first
    # and the current one last; 1 is the paper's single reading. An extension beside the paper
    # (a short force history, as FoAR and TA-VLA give theirs): on the `force` button a policy
    # that sees only the present cannot tell the hidden spring once the cap is on its stop.
    force_history: int = 1
    # An extension beside the paper (TA-VLA, ForceVLA inject force where the actions are made):
    # the force token also enters the action expert, added to every action token's input, not
    # only the VLM prefix that the expert attends to.
    force_to_expert: bool = False
    force_encoder_hidden: int = 256
    force_decoder_hidden: int = 256
    # lambda of eq. 9 (the paper does not publish its value).
    dist_loss_weight: float = 0.1
    force_decoder_loss_weight: float = 1.0
    # How `fdvla` trains f_aF and f_pF: a key of FORCE_OBJECTIVES (docs/model.md compares them).
    # The other variants have no L_dist: their encoder learns from L_flow, the decoder reads a
    # detached f_aF.
    force_objective: str = DEFAULT_FORCE_OBJECTIVE
    # True: resize camera images exactly as lerobot's SmolVLA does (bilinear, no antialiasing), so
    # SmolVLA's pretrained weights see the pixels they were trained on; set by
    # load_smolvla_weights. False: antialiased bilinear (less aliasing when shrinking).
    smolvla_resize: bool = False
    # What of the VLM trains, with lerobot SmolVLA's names and meaning. SmolVLA keeps its
    # pretrained VLM frozen (train_expert_only) so the action expert learns on features that
    # already see; a VLM built here from random weights has nothing to keep, and frozen it would
    # hand the expert random projections of the pixels. The tiny preset (trained from scratch)
    # therefore trains all of it. train_expert_only=False with freeze_vision_encoder=True trains
    # the text layers (and the connector) on a frozen vision encoder, as SmolVLA offers.
    train_expert_only: bool = True
    freeze_vision_encoder: bool = True
    # Where the state and action vectors live (fdvla_model.action_space.ACTION_FRAMES): "base"
    # for the global policy, "target" for a ViTaL local policy, relative to the localised target
    # with its yaw taken modulo 2*pi/target_yaw_symmetry (0: no yaw). The training dataset says
    # which (meta.json extra.frame).
    action_frame: str = "base"
    target_yaw_symmetry: int = 0

    def __post_init__(self) -> None:
        from fdvla_model.action_space import ACTION_FRAMES

        if self.action_frame not in ACTION_FRAMES:
            raise ValueError(f"unknown action_frame {self.action_frame!r}; choose one of {ACTION_FRAMES}")
        if int(self.target_yaw_symmetry) < 0:
            raise ValueError("target_yaw_symmetry must be 0 (no yaw) or positive")
        self.camera_names = list(self.camera_names)
        self.variant = resolve_variant(self.variant)
        if self.force_objective not in FORCE_OBJECTIVES:
            raise ValueError(
                f"unknown force_objective {self.force_objective!r}; choose one of {tuple(FORCE_OBJECTIVES)}"
            )
        if not self.camera_names:
            raise ValueError("camera_names must name at least one camera")
        if not 0 < self.state_dim <= self.max_state_dim:
            raise ValueError(f"state_dim {self.state_dim} must be in 1..max_state_dim={self.max_state_dim}")
        if not 0 < self.action_dim <= self.max_action_dim:
            raise ValueError(f"action_dim {self.action_dim} must be in 1..max_action_dim={self.max_action_dim}")
        if self.num_steps < 1 or self.chunk_size < 1:
            raise ValueError("num_steps and chunk_size must be positive")
        if int(self.force_history) < 1:
            raise ValueError(f"force_history must be at least 1 (the current reading), got {self.force_history}")
        if self.force_to_expert and not self.has_force_token:
            raise ValueError(f"force_to_expert: variant {self.variant!r} has no force token to "
                             "inject into the action expert")
        vision = self.vlm_config["vision_config"]
        if self.image_size != vision["image_size"]:
            raise ValueError(
                f"image_size {self.image_size} differs from the vision encoder's {vision['image_size']}"
            )
        text_layers = self.vlm_config["text_config"]["num_hidden_layers"]
        if not 0 < self.num_vlm_layers <= text_layers:
            raise ValueError(f"num_vlm_layers {self.num_vlm_layers} must be in 1..{text_layers}")
        if self.text_hidden_size % self.fdm_num_heads:
            raise ValueError(f"fdm_num_heads {self.fdm_num_heads} must divide {self.text_hidden_size}")
        if self.tokenizer_source not in ("pretrained", "builtin"):
            raise ValueError("tokenizer_source must be 'pretrained' or 'builtin'")

    # --- derived sizes -------------------------------------------------------------------------

    @property
    def trains_vlm(self) -> bool:
        """True when some of the VLM's weights change in training (it must then be stored)."""
        return not self.train_expert_only

    @property
    def text_hidden_size(self) -> int:
        return self.vlm_config["text_config"]["hidden_size"]

    @property
    def expert_hidden_size(self) -> int:
        return int(self.text_hidden_size * self.expert_width_multiplier)

    @property
    def tokens_per_image(self) -> int:
        vision = self.vlm_config["vision_config"]
        patches = (vision["image_size"] // vision["patch_size"]) ** 2
        return patches // self.vlm_config["scale_factor"] ** 2

    @property
    def has_force_token(self) -> bool:
        return VARIANT_SPECS[self.variant].force_token is not None

    @property
    def force_input_dim(self) -> int:
        """Width of the force encoder's input (and the decoder's output): the flattened history."""
        return self.wrench_dim * int(self.force_history)

    @property
    def needs_wrench_at_inference(self) -> bool:
        return VARIANT_SPECS[self.variant].needs_wrench_at_inference

    @property
    def variant_spec(self) -> VariantSpec:
        return VARIANT_SPECS[self.variant]

    @property
    def objective(self) -> ForceObjective:
        return FORCE_OBJECTIVES[self.force_objective]

    @property
    def prefix_length(self) -> int:
        """Fixed number of prefix tokens [f_V, f_L, f_S, (f_pF)]: static shapes for compile/graphs."""
        control = 2 if self.has_force_token else 1
        return len(self.camera_names) * self.tokens_per_image + self.tokenizer_max_length + control

    # --- presets -------------------------------------------------------------------------------

    @classmethod
    def full(cls, variant: str = "fdvla", **overrides: Any) -> FDVLAConfig:
        """SmolVLA's size: SmolVLM2-500M, 16 text layers, expert 0.75x, 512 px, chunk 50, 10 steps."""
        return cls(variant=variant, **overrides)

    @classmethod
    def tiny(cls, variant: str = "fdvla", **overrides: Any) -> FDVLAConfig:
        """Same classes, toy sizes (runs in seconds on a CPU): tests and the simulation demo."""
        from .tokenizer import BYTE_TOKENIZER_VOCAB_SIZE

        values: dict[str, Any] = dict(
            variant=variant,
            image_size=64,
            tokenizer_max_length=16,
            vlm_name_or_path=None,
            vlm_config=tiny_vlm_config(BYTE_TOKENIZER_VOCAB_SIZE),
            tokenizer_source="builtin",
            num_vlm_layers=4,
            fdm_num_heads=4,
            force_encoder_hidden=32,
            force_decoder_hidden=32,
            # random weights: vision has to be learnt (see train_expert_only)
            train_expert_only=False,
            freeze_vision_encoder=False,
        )
        values.update(overrides)
        return cls(**values)

    # --- JSON round trip -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FDVLAConfig:
        values = _upgrade_legacy_fields(values)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        missing = sorted(known - set(values))
        if unknown or missing:
            raise ConfigMismatchError(
                "stored FD-VLA config does not match this code: "
                f"unknown fields {unknown}, missing fields {missing}"
            )
        return cls(**values)

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))

    @classmethod
    def from_json(cls, path: str | Path) -> FDVLAConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))


def _upgrade_legacy_fields(values: dict[str, Any]) -> dict[str, Any]:
    """Configs written before ``force_objective``/``smolvla_resize`` existed load as trained."""
    values = dict(values)
    if "anchor_force_encoder" in values and "force_objective" not in values:
        values["force_objective"] = "anchored" if values.pop("anchor_force_encoder") else "joint"
    for name, legacy in _LEGACY_DEFAULTS.items():
        values.setdefault(name, legacy)
    return values
