"""Photometric augmentation of training images: colour jitter.

The simulation's lighting split (and a real cell's afternoon sun) changes the brightness,
contrast and colour of everything a camera sees, never its geometry. Both the scene localiser
and the policies train with the same jitter against it (`colour_jitter`); evaluation and
inference never augment.
"""

from __future__ import annotations

import torch


def colour_jitter(images: torch.Tensor, generator: torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """float (B, 3, H, W) in [0, 1] -> the same, per sample: brightness x U(0.65, 1.35), contrast
    about the image's mean grey x U(0.65, 1.35), a gain per channel x U(0.85, 1.15) (white
    balance, a hue shift of sorts), Gaussian pixel noise (sigma 0.015)."""
    b = images.shape[0]

    def uniform(shape, half):
        return 1.0 + (torch.rand(shape, generator=generator) * 2 - 1) * half * strength

    x = images * uniform((b, 1, 1, 1), 0.35)
    grey = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - grey) * uniform((b, 1, 1, 1), 0.35) + grey
    x = x * uniform((b, 3, 1, 1), 0.15)
    x = x + torch.randn(x.shape, generator=generator) * 0.015 * strength
    return x.clamp_(0.0, 1.0)


def jitter_cameras(images: dict, probability: float, generator: torch.Generator) -> dict:
    """Every camera's (B, 3, H, W) batch (uint8, or float in [0, 1]) with `colour_jitter` on the
    samples chosen with `probability`, each camera drawn apart (its own exposure and white
    balance, as two real cameras have)."""
    if probability <= 0.0:
        return images
    out = {}
    for cam, img in images.items():
        chosen = torch.rand(img.shape[0], generator=generator) < probability
        if not bool(chosen.any()):
            out[cam] = img
            continue
        x = img.float().div(255.0) if img.dtype == torch.uint8 else img
        # The generator is a CPU one (seeded per step for resumable runs): jitter there.
        jittered = colour_jitter(x[chosen].cpu(), generator).to(img.device)
        if img.dtype == torch.uint8:
            jittered = (jittered * 255.0).round_().to(torch.uint8)
        new = img.clone()
        new[chosen] = jittered.to(img.dtype)
        out[cam] = new
    return out
