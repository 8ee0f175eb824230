"""`fdvla train`: train an FD-VLA policy (or one of its ablations) on an episode dataset.

AdamW over the trainable parameters only (the frozen VLM gets neither gradients nor optimizer
state), linear warmup + cosine decay, gradient clipping, bf16 autocast on CUDA, a tqdm progress
bar, periodic checkpoints that resume bit-for-bit on CPU, a JSONL loss log and a loss-curve PNG.
With more than one process (`torchrun --nproc_per_node=N -m fdvla_model.train ...`) it runs
DistributedDataParallel, one GPU per process.

Output folder:
  OUT/train_config.json      the arguments of the first run
  OUT/losses.jsonl           one line per step: step, lr, loss, flow_loss, dist_loss, grad_norm;
                             every --eval-every steps also eval_* (held-out force learning,
                             training_metrics.py)
  OUT/loss_curve.png         written at the end: losses and the force branch's learning
  OUT/force_teacher.json     the wrench autoencoder's fit (objective "teacher" only)
  OUT/checkpoints/step_NNNNNNNN/{policy/, training_state.*, rng_rank*.safetensors}
  OUT/checkpoints/latest     name of the newest complete checkpoint
  OUT/policy/                the final policy (FDVLAPolicy.load(OUT/policy))

Files (one job each):
  config.py       TrainConfig and the variant names the trainer accepts
  distributed.py  ranks, devices and barriers under DistributedDataParallel
  batches.py      the resumable sample order and moving batches to the device
  build.py        the policy for a dataset, the fit checks, the force teacher, the optimizer
  checkpoints.py  writing, pruning and resuming checkpoints
  loop.py         train(TrainConfig): the training loop and its loss log
  cli.py          the `fdvla train` command line (main); __main__.py runs it for `python -m`
"""

from .batches import ResumableSampler
from .build import (
    build_model_config,
    build_optimizer,
    build_policy,
    check_dataset_fits,
    dataset_overrides,
    fit_teacher_on_dataset,
    tiny_image_overrides,
)
from .checkpoints import CHECKPOINTS, LATEST, VLM_STORE, checkpoint_root, latest_checkpoint
from .cli import build_arg_parser, config_from_args, main
from .config import VARIANTS, WRENCH_INPUT_VARIANTS, TrainConfig
from .distributed import DistInfo, init_distributed, resolve_device
from .loop import LOSS_LOG, LOSS_PLOT, TrainResult, seed_everything, train

__all__ = [
    "CHECKPOINTS",
    "LATEST",
    "LOSS_LOG",
    "LOSS_PLOT",
    "VARIANTS",
    "VLM_STORE",
    "WRENCH_INPUT_VARIANTS",
    "DistInfo",
    "ResumableSampler",
    "TrainConfig",
    "TrainResult",
    "build_arg_parser",
    "build_model_config",
    "build_optimizer",
    "build_policy",
    "check_dataset_fits",
    "checkpoint_root",
    "config_from_args",
    "dataset_overrides",
    "fit_teacher_on_dataset",
    "init_distributed",
    "latest_checkpoint",
    "main",
    "resolve_device",
    "seed_everything",
    "tiny_image_overrides",
    "train",
]
