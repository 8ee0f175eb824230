"""TrainConfig: every setting of a training run, and the variant names the trainer accepts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from fdvla_model.model.configuration_fdvla import (
    VARIANT_CHOICES,
    VARIANTS_NEEDING_WRENCH_AT_INFERENCE,
    resolve_variant,
)

# One registry (model/configuration_fdvla.py) names the variants and the alias raw_force -> no_fdm.
VARIANTS = VARIANT_CHOICES
# Variants that take the measured wrench as an input: every frame needs one.
WRENCH_INPUT_VARIANTS = VARIANTS_NEEDING_WRENCH_AT_INFERENCE


@dataclass
class TrainConfig:
    dataset: str
    out: str
    variant: str = "fdvla"
    preset: str = "tiny"
    steps: int = 1000
    batch_size: int = 8
    lr: float = 1e-4
    weight_decay: float = 1e-10
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    grad_clip: float = 10.0
    lambda_dist: Optional[float] = None  # None: the model config's default
    force_objective: Optional[str] = None  # None: the model config's default (FORCE_OBJECTIVES)
    anchor_force_encoder: bool = False  # deprecated spelling of force_objective="anchored"
    teacher_steps: int = 500  # wrench-autoencoder steps before training (objective "teacher")
    teacher_unit_variance: bool = True  # scale the teacher's tokens to unit variance (force_teacher.py)
    eval_every: int = 50  # held-out force metrics every N steps (0: never)
    eval_batch: int = 64  # frames in the held-out evaluation batch
    eval_holdout_episodes: int = 1  # held out when the dataset has >= 4 episodes
    chunk_size: Optional[int] = None  # None: the preset's (50)
    force_history: Optional[int] = None  # wrench frames the force encoder reads (None: 1, the paper's)
    #: Extension: the share of training windows whose past rows are replaced by the newest
    #: reading (force-history dropout, train/augment.py; 0: none). Needs force_history > 1.
    force_history_dropout: float = 0.0
    #: Extension: the force token also enters the action expert (FDVLAConfig.force_to_expert).
    force_to_expert: bool = False
    image_size: Optional[int] = None  # tiny preset only; None: the preset's (64 px)
    augment_shift: int = 0  # px of random shift per camera image in training (0: none)
    #: Semantic augmentation (ViTaL): the share of training images whose background (all but
    #: the robot, tool and task objects, from the dataset's <camera>.mask.npy) is replaced by a
    #: random one (0: none; train/augment.py).
    augment_background: float = 0.0
    #: The share of training images whose brightness, contrast and colour balance are jittered
    #: (fdvla_model.photometric; 0: none): against lighting the demonstrations never showed.
    augment_colour: float = 0.0
    # What of the VLM trains (None: the preset's; FDVLAConfig.train_expert_only explains)
    train_expert_only: Optional[bool] = None
    freeze_vision_encoder: Optional[bool] = None
    seed: int = 0
    save_every: int = 500
    keep_checkpoints: int = 2
    resume: Optional[str] = None  # "latest" or a checkpoint folder
    num_workers: int = 0
    device: str = "auto"
    precision: str = "auto"  # auto: bf16 autocast on CUDA, fp32 elsewhere
    vlm: Optional[str] = None
    init_smolvla: Optional[str] = None
    progress: bool = True

    @property
    def model_variant(self) -> str:
        return resolve_variant(self.variant)

    @property
    def model_force_objective(self) -> Optional[str]:
        if self.anchor_force_encoder:
            if self.force_objective not in (None, "anchored"):
                raise ValueError("--anchor-force-encoder contradicts --force-objective "
                                 f"{self.force_objective}")
            return "anchored"
        return self.force_objective
