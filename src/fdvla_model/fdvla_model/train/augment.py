"""Image augmentation for training: random shifts.

A policy trained from scratch on a few hundred demonstrations otherwise memorises the exact
pixels of each placement instead of where the object is. A random shift of a few pixels (pad by
replicating the border, crop back at a random offset, per sample) is the augmentation DrQ
(Kostrikov et al., 2020) found sufficient for pixel-based control; Diffusion Policy's random crop
does the same job. Evaluation and inference never augment.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_shift(images: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H, W), each sample shifted by up to `pad` px in x and y."""
    if pad <= 0:
        return images
    b, _, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad), mode="replicate")
    offsets = torch.randint(0, 2 * pad + 1, (b, 2), generator=generator).tolist()
    return torch.stack([padded[i, :, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offsets)])


def shift_cameras(images: dict, pad: int, generator: torch.Generator) -> dict:
    """Every camera's batch shifted independently (the cameras move independently on a robot)."""
    return {cam: random_shift(img, pad, generator) for cam, img in images.items()}
