"""The command line of `fdvla train` (and `python -m fdvla_model.train`)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from fdvla_model.dataset import DatasetError
from fdvla_model.dataset.target_frame import FRAME_NOISE_ARGS, add_frame_noise_args, frame_noise_from_args
from fdvla_model.model.configuration_fdvla import FORCE_OBJECTIVES, VARIANT_SPECS

from .config import VARIANTS, TrainConfig
from .loop import train


def build_arg_parser() -> argparse.ArgumentParser:
    d = TrainConfig(dataset="", out="")
    p = argparse.ArgumentParser(
        prog="fdvla train",
        description="Train an FD-VLA policy on an episode dataset (docs/dataset.md). "
                    "Multi-GPU: torchrun --nproc_per_node=N -m fdvla_model.train ...",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", required=True, help="dataset folder (with meta.json)")
    p.add_argument("--out", required=True, help="output folder: checkpoints, losses, final policy")
    p.add_argument("--variant", choices=VARIANTS, default=d.variant,
                   help="; ".join(f"{n}: {s.description}" for n, s in VARIANT_SPECS.items())
                        + "; raw_force: alias of no_fdm")
    p.add_argument("--preset", choices=("tiny", "full"), default=d.preset,
                   help="tiny: small random model for tests/CPU; full: SmolVLA size on SmolVLM2")
    p.add_argument("--steps", type=int, default=d.steps, help="total optimizer steps")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="per process")
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    p.add_argument("--min-lr-ratio", type=float, default=d.min_lr_ratio,
                   help="cosine decay floor as a fraction of --lr")
    p.add_argument("--grad-clip", type=float, default=d.grad_clip, help="max gradient norm")
    p.add_argument("--lambda-dist", type=float, default=None,
                   help="weight of the distillation loss (default: the model config's)")
    p.add_argument("--force-objective", choices=tuple(FORCE_OBJECTIVES), default=None,
                   help="how fdvla trains the distillation target f_aF and the student f_pF "
                        "(default: the model config's; docs/model.md): " + "; ".join(
                            f"{o.name}: {o.description}" for o in FORCE_OBJECTIVES.values()))
    p.add_argument("--anchor-force-encoder", action="store_true",
                   help="deprecated: same as --force-objective anchored")
    p.add_argument("--teacher-steps", type=int, default=d.teacher_steps,
                   help="wrench-autoencoder steps that fit the frozen teacher (objective teacher)")
    p.add_argument("--teacher-raw-scale", dest="teacher_unit_variance", action="store_false",
                   help="keep the teacher's tokens at the autoencoder's scale (default: unit variance)")
    p.add_argument("--eval-every", type=int, default=d.eval_every,
                   help="log held-out force-learning metrics every N steps (0: never)")
    p.add_argument("--eval-batch", type=int, default=d.eval_batch, help="frames in the evaluation batch")
    p.add_argument("--eval-holdout-episodes", type=int, default=d.eval_holdout_episodes,
                   help="episodes held out from training for evaluation (when there are >= 4)")
    p.add_argument("--force-history", type=int, default=None, metavar="K",
                   help="extension: the force encoder reads the last K wrench frames, not only the "
                        "current one (default 1, the paper's; docs/study/force_necessity.md)")
    p.add_argument("--force-to-expert", action="store_true",
                   help="extension: the force token also enters the action expert, added to each "
                        "action token's input (TA-VLA, ForceVLA), not only the VLM prefix; "
                        "variants with a force token only (docs/model.md)")
    p.add_argument("--force-history-dropout", type=float, default=d.force_history_dropout,
                   metavar="P", help="extension, with --force-history: replace the past rows of "
                   "this share of training windows by the newest reading (against a policy that "
                   "copies what its history shows; train/augment.py); 0: none")
    p.add_argument("--chunk-size", type=int, default=None,
                   help="actions per predicted chunk (default: the preset's, 50 as in SmolVLA)")
    p.add_argument("--image-size", type=int, default=None,
                   help="tiny preset: model input size in px, a multiple of 16 (default: 64); "
                        "larger sees the scene finer and trains slower")
    p.add_argument("--augment-shift", type=int, default=d.augment_shift, metavar="PX",
                   help="shift each training image by up to PX pixels (of the dataset's images) "
                        "at random, DrQ-style; 0: no augmentation")
    p.add_argument("--augment-background", type=float, default=d.augment_background, metavar="P",
                   help="semantic augmentation (ViTaL): replace the background of this share of "
                        "training images (all but the robot, tool and task objects) by a random "
                        "one; needs foreground masks in the dataset (simulated demos: "
                        "make_default_policy.py demos --masks); 0: none")
    p.add_argument("--augment-colour", type=float, default=d.augment_colour, metavar="P",
                   help="jitter the brightness, contrast and colour balance of this share of "
                        "training images (each camera apart), against lighting the "
                        "demonstrations never showed; 0: none")
    p.add_argument("--train-expert-only", action=argparse.BooleanOptionalAction, default=None,
                   help="freeze the whole VLM and train the action expert, as SmolVLA does on its "
                        "pretrained VLM (default: yes for --preset full, no for tiny, whose VLM is "
                        "random and must learn to see)")
    p.add_argument("--freeze-vision-encoder", action=argparse.BooleanOptionalAction, default=None,
                   help="with --no-train-expert-only: keep the vision encoder frozen and train the "
                        "text layers (default: the preset's: yes for full, no for tiny)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--save-every", type=int, default=d.save_every, help="checkpoint every N steps")
    p.add_argument("--keep-checkpoints", type=int, default=d.keep_checkpoints,
                   help="keep the newest N checkpoints (0: all)")
    p.add_argument("--resume", nargs="?", const="latest", default=None,
                   help="continue from the latest checkpoint in --out, or from the given checkpoint folder")
    p.add_argument("--num-workers", type=int, default=d.num_workers, help="DataLoader workers")
    p.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default=d.precision,
                   help="auto: bf16 autocast on CUDA, fp32 on CPU")
    p.add_argument("--vlm", default=None, help="VLM hub id or local folder (full preset)")
    p.add_argument("--init-smolvla", default=None,
                   help="initialise from a SmolVLA checkpoint (.safetensors file or folder)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    v = p.add_argument_group("ViTaL mode (docs/vital.md)")
    v.add_argument("--vital", action="store_true",
                   help="make a ViTaL checkpoint in --out: the local policy trained on --dataset "
                        "in its targets' frames, plus a scene localiser")
    v.add_argument("--localiser-dataset", default=None,
                   help="demonstrations the localiser learns the scene from (default: --dataset)")
    v.add_argument("--localiser-steps", type=int, default=2000)
    v.add_argument("--localiser-output", choices=("position", "pixel"), default="position",
                   help="position: regress the target's position in base; pixel: point at its "
                        "pixel, lifted with the scene camera's depth and calibration at run "
                        "time (needs episodes recorded with the camera's extrinsics)")
    add_frame_noise_args(p)
    return p


VITAL_ARGS = ("vital", "localiser_dataset", "localiser_steps", "localiser_output", *FRAME_NOISE_ARGS)


def config_from_args(argv: Optional[Sequence[str]] = None) -> TrainConfig:
    args = vars(build_arg_parser().parse_args(argv))
    return TrainConfig(**{k: v for k, v in args.items() if k not in VITAL_ARGS})


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = vars(build_arg_parser().parse_args(argv))
    cfg = TrainConfig(**{k: v for k, v in args.items() if k not in VITAL_ARGS})
    try:
        noise = frame_noise_from_args(args)
        if not args["vital"] and noise.changes_data:
            raise ValueError("--frame-noise-xy, --frame-noise-yaw and --frame-copies shape a "
                             "ViTaL local policy's data: they need --vital (or use `fdvla "
                             "dataset target-frame` and train on its output)")
        if args["vital"]:
            from .vital import train_vital

            out = train_vital(cfg, args["localiser_dataset"], args["localiser_steps"],
                              localiser_output=args["localiser_output"],
                              frame_noise=noise)
            print(f"ViTaL checkpoint in {out} (local policy {out / 'local' / 'policy'}, "
                  f"localiser {out / 'localiser'})")
            return 0
        result = train(cfg)
    except (DatasetError, OSError, ValueError) as e:  # bad input: a message, not a traceback
        print(f"fdvla train: error: {e}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        last = result.losses[-1] if result.losses else {}
        print(f"trained {cfg.variant} to step {result.final_step}; final loss "
              f"{last.get('loss', float('nan')):.4g}; policy in {result.out / 'policy'}")
    return 0
