"""Training the scene localiser on an episode dataset.

    python -m fdvla_model.localise.train_localiser --dataset DATA --out OUT --steps 2000

Samples scene-camera frames from the first `config.frame_fraction` of every labelled episode
(before the arm covers the target), with colour jitter (brightness, contrast, per-channel gain,
pixel noise: the simulation's lighting and background evaluation splits change colours, never the
camera's pose, so nothing geometric is augmented), holds out 10 % of the episodes (at least one)
for the validation error, and writes the model (`config.json` + `model.safetensors`) and
`metrics.json` into OUT. CPU-friendly: one intra-op thread by default, frames cached at the
network's input size.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from fdvla_model.dataset import DatasetError, load_episode_images, load_meta
from fdvla_model.photometric import colour_jitter

from .calibration import check_pixel_labels, target_pixels
from .configuration_localiser import MIN_POSITION_STD, LocaliserConfig
from fdvla_model.dataset.target_label import CONTACT_FORCE, dataset_targets
from .modeling_localiser import (SceneLocaliser, encode_yaw, pixel_to_normalised, save_localiser,
                                 yaw_error)

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
HOLDOUT_FRACTION = 0.1
#: Frames per batch when the cached frames are resized and evaluated.
_CHUNK = 64


def episode_window(length: int, fraction: float) -> int:
    """Frames 0..n-1 of an episode of `length` rows are used: n = ceil(fraction * length), >= 1."""
    return max(1, min(length, int(math.ceil(fraction * length - 1e-9))))


def split_labelled(count: int, holdout_fraction: float, seed: int) -> tuple[list, list]:
    """(train, validation) positions into a list of `count` labelled episodes: a seeded shuffle,
    round(holdout_fraction * count) held out, at least one, at least one left to train on."""
    if count < 2:
        raise DatasetError(f"the localiser needs at least 2 labelled episodes (one to hold out), "
                           f"found {count}")
    n_val = min(count - 1, max(1, int(round(holdout_fraction * count))))
    order = np.random.default_rng(seed).permutation(count)
    return sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())


def _resized_frames(frames: np.ndarray, size: tuple) -> np.ndarray:
    """uint8 (N, H, W, 3) -> uint8 (N, h, w, 3) resized exactly as the model resizes its input."""
    if frames.shape[1:3] == tuple(size):
        return np.ascontiguousarray(frames)
    out = []
    for i in range(0, len(frames), _CHUNK):
        x = torch.from_numpy(np.array(frames[i:i + _CHUNK])).permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
        out.append(x.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy())
    return np.concatenate(out)


class _Frames:
    """The cached frames of a set of episodes: uint8 (N, h, w, 3), which episode each is from,
    and the per-episode labels."""

    def __init__(self, frames: np.ndarray, episode_of_frame: np.ndarray, positions: np.ndarray,
                 yaws: np.ndarray, episodes: list, image_hw: tuple, points: bool = False,
                 pixel_of=None, camera: str = ""):
        self.frames = frames
        self.episode_of_frame = episode_of_frame
        self.positions = positions  # (E, 3)
        self.image_hw = image_hw  # the dataset camera's (height, width)
        #: (E, 2) the targets' pixels in [-1, 1] of the image (pointers only): from
        #: `pixel_of`, else each episode's recorded calibration of the camera
        self.pixels = None
        if points and pixel_of is not None:
            self.pixels = pixel_to_normalised(
                np.asarray(pixel_of(positions), dtype=np.float64).reshape(-1, 2), image_hw)
        elif points:
            self.pixels = target_pixels(episodes, positions, camera)
        self.yaws = yaws  # (E,)
        self.names = [Path(ep).name for ep in episodes]  # episode folder names
        self.by_episode = [np.flatnonzero(episode_of_frame == e) for e in range(len(episodes))]


def _load_frames(entries: list, camera: str, config: LocaliserConfig, image_hw: tuple,
                 pixel_of=None) -> _Frames:
    frames, owner = [], []
    for e, (ep_dir, _label) in enumerate(entries):
        images = load_episode_images(ep_dir, camera)
        n = episode_window(len(images), config.frame_fraction)
        frames.append(_resized_frames(np.asarray(images[:n]), config.image_size))
        owner.append(np.full(n, e))
    return _Frames(np.concatenate(frames), np.concatenate(owner),
                   np.stack([lab.position for _, lab in entries]),
                   np.array([lab.yaw for _, lab in entries]),
                   [ep for ep, _ in entries], image_hw, config.points, pixel_of, camera)


def _targets(model: SceneLocaliser, data: _Frames, episodes: np.ndarray) -> torch.Tensor:
    cfg = model.config
    if cfg.points:
        parts = [data.pixels[episodes]]
    else:
        parts = [(data.positions[episodes] - np.asarray(cfg.position_mean))
                 / np.asarray(cfg.position_std)]
    if cfg.predicts_yaw:
        parts.append(encode_yaw(data.yaws[episodes], cfg.yaw_symmetry))
    return torch.as_tensor(np.concatenate(parts, axis=1), dtype=torch.float32)


def _batch_images(data: _Frames, frame_idx: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(data.frames[frame_idx]).permute(0, 3, 1, 2).float().div_(255.0)


@torch.no_grad()
def evaluate(model: SceneLocaliser, data: _Frames, max_frames: Optional[int] = None) -> dict:
    """Mean position error (mm; 3D and in the xy plane; a pointer: its pixel error instead, in
    pixels of the dataset's images) and yaw error (deg, modulo the symmetry) over the cached
    frames (or `max_frames` of them, spread evenly)."""
    idx = np.arange(len(data.frames))
    if max_frames is not None and len(idx) > max_frames:
        idx = np.linspace(0, len(idx) - 1, max_frames).round().astype(int)
    pos, yaw = [], []
    for i in range(0, len(idx), _CHUNK):
        p, y = model.decode(model(_batch_images(data, idx[i:i + _CHUNK])))
        pos.append(p)
        if y is not None:
            yaw.append(y)
    pos = np.concatenate(pos)
    ep = data.episode_of_frame[idx]
    out = {"position_error_mm": None, "xy_error_mm": None, "pixel_error_px": None,
           "yaw_error_deg": None, "frames": int(len(idx))}
    if model.config.points:
        out["pixel_error_px"] = _pixel_error(pos - data.pixels[ep], data.image_hw)
    else:
        err = pos - data.positions[ep]
        out["position_error_mm"] = float(np.linalg.norm(err, axis=1).mean() * 1e3)
        out["xy_error_mm"] = float(np.linalg.norm(err[:, :2], axis=1).mean() * 1e3)
    if yaw:
        e = yaw_error(np.concatenate(yaw), data.yaws[ep], model.config.yaw_symmetry)
        out["yaw_error_deg"] = float(np.degrees(e).mean())
    return out


def _pixel_error(diff_normalised: np.ndarray, image_hw: tuple) -> float:
    """Mean distance in pixels of the image of (height, width) `image_hw` of (N, 2) differences
    in [-1, 1] coordinates."""
    h, w = image_hw
    return float(np.linalg.norm(diff_normalised * [w / 2.0, h / 2.0], axis=1).mean())


def train_localiser(dataset_dir, out_dir, steps: int, batch_size: int = 32, lr: float = 1e-3,
                    seed: int = 0, config: Optional[LocaliserConfig] = None, *,
                    holdout_fraction: float = HOLDOUT_FRACTION, contact_force: float = CONTACT_FORCE,
                    progress: bool = True, num_threads: Optional[int] = 1,
                    pixel_of: Optional[Callable[[np.ndarray], np.ndarray]] = None) -> dict:
    """Train a SceneLocaliser on `dataset_dir`'s labelled episodes; write it and metrics.json to
    `out_dir`; return the metrics (errors in mm / deg, train and held-out; a pointer's in
    pixels).

    A pointer (`config.output == "pixel"`) learns each target's pixel in the calibration its
    episode was recorded with (`extra.calibration`, localise.calibration), or through
    `pixel_of`, when given: target positions (N, 3) in `base` -> their pixels (N, 2) (u, v) in
    the dataset camera's images (a caller that knows the camera, e.g. a bench)."""
    if steps < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(f"steps, batch_size and lr must be positive (got {steps}, {batch_size}, {lr})")
    config = config or LocaliserConfig()
    if pixel_of is not None and not config.points:
        raise ValueError("pixel_of (the camera's projection) is for a pointer (output 'pixel'); "
                         "a position localiser learns positions")
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    meta = load_meta(dataset_dir)
    spec = meta.camera(config.camera)  # DatasetError naming the cameras it has
    image_hw = (int(spec.height), int(spec.width))
    labels = dataset_targets(dataset_dir, contact_force)
    counts = labels.counts()
    logger.info("localiser labels in %s: %d recorded, %d first contact, %d episodes skipped "
                "(no extra.target and no contact above %.1f N)", dataset_dir, counts["recorded"],
                counts["first_contact"], counts["skipped"], contact_force)
    if labels.skipped:
        logger.warning("skipped %d of %d episodes without a target label: %s", len(labels.skipped),
                       len(labels.skipped) + len(labels.labelled),
                       ", ".join(p.name for p in labels.skipped[:10])
                       + (" ..." if len(labels.skipped) > 10 else ""))
    if config.points and pixel_of is None:
        check_pixel_labels(dataset_dir, config.camera, contact_force)
    train_pos, val_pos = split_labelled(len(labels.labelled), holdout_fraction, seed)
    names = sorted({lab.name for _, lab in labels.labelled})

    old_threads = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(int(num_threads))
    try:
        train_entries = [labels.labelled[i] for i in train_pos]
        val_entries = [labels.labelled[i] for i in val_pos]
        train_data = _load_frames(train_entries, config.camera, config, image_hw, pixel_of)
        val_data = _load_frames(val_entries, config.camera, config, image_hw, pixel_of)
        mean = train_data.positions.mean(axis=0)
        std = np.maximum(train_data.positions.std(axis=0), MIN_POSITION_STD)
        config = config.replace(position_mean=tuple(mean), position_std=tuple(std),
                                target_name=names[0] if len(names) == 1 else ",".join(names))

        torch.manual_seed(seed)
        model = SceneLocaliser(config)
        optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
        warmup = max(1, steps // 20)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda s: min(1.0, (s + 1) / warmup)
            * 0.5 * (1.0 + math.cos(math.pi * min(s, steps) / steps)))
        generator = torch.Generator().manual_seed(seed)
        rng = np.random.default_rng(seed)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, desc="train localiser", unit="step", dynamic_ncols=True,
                       file=sys.stderr)
        losses = []
        model.train()
        for step in range(steps):
            # Episodes uniformly, then a frame of each: long episodes do not dominate.
            episodes = rng.integers(0, len(train_entries), batch_size)
            frame_idx = np.array([rng.choice(train_data.by_episode[e]) for e in episodes])
            images = colour_jitter(_batch_images(train_data, frame_idx), generator)
            loss = F.mse_loss(model(images), _targets(model, train_data, episodes))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"localiser loss is {loss.item()} at step {step}")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
            if bar is not None:
                bar.update(1)
                if step % 10 == 0 or step == steps - 1:
                    bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        if bar is not None:
            bar.close()
        model.eval()
        train_eval = evaluate(model, train_data, max_frames=512)
        val_eval = evaluate(model, val_data)
        # The baseline every number is read against: always answering the training mean.
        mean_err = np.linalg.norm(val_data.positions[val_data.episode_of_frame] - mean, axis=1).mean()
        mean_pixel_err = None if not config.points else _pixel_error(
            val_data.pixels[val_data.episode_of_frame] - train_data.pixels.mean(axis=0), image_hw)
    finally:
        torch.set_num_threads(old_threads)

    metrics = {
        "steps": int(steps), "batch_size": int(batch_size), "lr": float(lr), "seed": int(seed),
        "camera": config.camera, "target_name": config.target_name, "output": config.output,
        "yaw_symmetry": config.yaw_symmetry,
        "train_position_error_mm": train_eval["position_error_mm"],
        "train_xy_error_mm": train_eval["xy_error_mm"],
        "train_yaw_error_deg": train_eval["yaw_error_deg"],
        "val_position_error_mm": val_eval["position_error_mm"],
        "val_xy_error_mm": val_eval["xy_error_mm"],
        "val_yaw_error_deg": val_eval["yaw_error_deg"],
        "val_mean_predictor_error_mm": float(mean_err * 1e3),
        "train_pixel_error_px": train_eval["pixel_error_px"],
        "val_pixel_error_px": val_eval["pixel_error_px"],
        "val_mean_predictor_pixel_error_px": mean_pixel_err,
        "final_loss": float(np.mean(losses[-20:])),
        "train_frames": int(len(train_data.frames)), "val_frames": int(len(val_data.frames)),
        "label_counts": counts,
        "train_episodes": train_data.names, "val_episodes": val_data.names,
        "skipped_episodes": [p.name for p in labels.skipped],
    }
    save_localiser(model, out_dir)
    (out_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    yaw_note = "" if metrics["val_yaw_error_deg"] is None \
        else f", yaw error {metrics['val_yaw_error_deg']:.1f} deg"
    if config.points:
        logger.info("pointer: held-out pixel error %.2f px (mean predictor %.1f px)%s; saved to %s",
                    metrics["val_pixel_error_px"], mean_pixel_err, yaw_note, out_dir)
    else:
        logger.info("localiser: held-out position error %.1f mm (mean predictor %.1f mm)%s; "
                    "saved to %s", metrics["val_position_error_mm"],
                    metrics["val_mean_predictor_error_mm"], yaw_note, out_dir)
    return metrics


def main(argv: Optional[Sequence[str]] = None) -> int:
    defaults = LocaliserConfig()
    parser = argparse.ArgumentParser(
        prog="python -m fdvla_model.localise.train_localiser",
        description="Train the ViTaL scene localiser (scene image -> target pose) on an episode "
                    "dataset whose episodes carry extra.target or a first contact (docs/vital.md).")
    parser.add_argument("--dataset", required=True, type=Path, help="episode dataset folder")
    parser.add_argument("--out", required=True, type=Path, help="output folder (model + metrics.json)")
    parser.add_argument("--steps", required=True, type=int)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--camera", default=defaults.camera, help="scene camera name (default %(default)s)")
    parser.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), default=defaults.image_size)
    parser.add_argument("--yaw-symmetry", type=int, default=defaults.yaw_symmetry,
                        help="0: no yaw (button); k: yaw modulo 2*pi/k (plug socket 4, wipe board 2)")
    parser.add_argument("--output", choices=("position", "pixel"), default=defaults.output,
                        help="position: regress it; pixel: point at it (needs episodes recorded "
                             "with the camera's calibration)")
    parser.add_argument("--frame-fraction", type=float, default=defaults.frame_fraction,
                        help="use the first this fraction of each episode's frames (default %(default)s)")
    parser.add_argument("--holdout-fraction", type=float, default=HOLDOUT_FRACTION)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    config = LocaliserConfig(camera=args.camera, image_size=tuple(args.image_size),
                             yaw_symmetry=args.yaw_symmetry, frame_fraction=args.frame_fraction,
                             output=args.output)
    try:
        metrics = train_localiser(args.dataset, args.out, args.steps, args.batch_size, args.lr,
                                  args.seed, config, holdout_fraction=args.holdout_fraction,
                                  progress=not args.no_progress, num_threads=args.threads)
    except (DatasetError, ValueError) as e:
        print(f"train_localiser: {e}", file=sys.stderr)
        return 2
    summary = {k: v for k, v in metrics.items() if not k.endswith("_episodes")}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
