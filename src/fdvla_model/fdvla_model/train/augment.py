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


# --- Semantic augmentation (ViTaL) -------------------------------------------------------------
# ViTaL pastes the segmented task objects onto random backgrounds so that its local policy
# ignores the surroundings. Here the sim's segmentation (<camera>.mask.npy: robot, tool and task
# objects) keeps those pixels and the rest (the table, the void) is replaced by a procedural
# background: a random colour pair in a random pattern (flat, checker, stripes at any angle)
# with pixel noise, unlike anything the demonstrations showed.

def random_backgrounds(n: int, h: int, w: int, generator: torch.Generator) -> torch.Tensor:
    """(n, 3, h, w) float backgrounds in [0, 1]."""
    u = lambda *shape: torch.rand(*shape, generator=generator)  # noqa: E731
    colours = u(n, 2, 3, 1, 1)
    ys = torch.linspace(0.0, 1.0, h).view(1, h, 1)
    xs = torch.linspace(0.0, 1.0, w).view(1, 1, w)
    angle = u(n, 1, 1) * torch.pi
    period = 0.05 + 0.3 * u(n, 1, 1)
    along = (xs * torch.cos(angle) + ys * torch.sin(angle)) / period
    across = (-xs * torch.sin(angle) + ys * torch.cos(angle)) / period
    stripes = torch.floor(along) % 2
    checker = (torch.floor(along) + torch.floor(across)) % 2
    kind = torch.randint(0, 3, (n, 1, 1), generator=generator)
    pattern = torch.where(kind == 0, torch.zeros_like(checker), torch.where(kind == 1, stripes, checker))
    pattern = pattern.unsqueeze(1)  # (n, 1, h, w)
    image = colours[:, 0] * (1 - pattern) + colours[:, 1] * pattern
    image = image + 0.08 * u(n, 1, 1, 1) * torch.randn(n, 3, h, w, generator=generator)
    return image.clamp_(0.0, 1.0)


def paste_on_random_backgrounds(images: torch.Tensor, masks: torch.Tensor, probability: float,
                                generator: torch.Generator) -> torch.Tensor:
    """(B, 3, H, W) images (uint8 or float in [0, 1]) and (B, H, W) bool foreground masks ->
    the images with, in each sample chosen with `probability`, every background pixel replaced
    by a random background."""
    if probability <= 0.0:
        return images
    b, _, h, w = images.shape
    if masks.shape != (b, h, w):
        raise ValueError(f"masks {tuple(masks.shape)} do not fit images {tuple(images.shape)}")
    chosen = torch.rand(b, generator=generator) < probability
    if not bool(chosen.any()):
        return images
    backgrounds = random_backgrounds(int(chosen.sum()), h, w, generator).to(images.device)
    if images.dtype == torch.uint8:
        backgrounds = (backgrounds * 255.0).round_().to(torch.uint8)
    out = images.clone()
    keep = masks[chosen].to(images.device).unsqueeze(1)
    out[chosen] = torch.where(keep, images[chosen], backgrounds.to(images.dtype))
    return out


def paste_cameras(images: dict, masks: dict, probability: float, generator: torch.Generator) -> dict:
    """Semantic augmentation of every camera that has masks (each sample and camera drawn apart)."""
    return {cam: paste_on_random_backgrounds(img, masks[cam], probability, generator)
            if cam in masks else img for cam, img in images.items()}


# --- Force-history dropout (extension) ---------------------------------------------------------
# A policy that reads past wrenches can learn to continue what the history shows it was doing
# (the copycat problem of behaviour cloning from observation histories: de Haan et al. 2019,
# Wen et al. 2020); in closed loop a stall then explains itself. ChauffeurNet (Bansal et al.
# 2018) dropped the past from half of its training samples against it. Here a dropped window
# holds the newest reading in every row: what a constant force looks like, paired with whatever
# the demonstration did next, so a steady history stops predicting "keep still".

def drop_force_history(wrench: torch.Tensor, probability: float,
                       generator: torch.Generator) -> torch.Tensor:
    """(B, K, 6) wrench windows (oldest first) -> the same with, in each sample chosen with
    `probability`, every row replaced by the newest one. (B, 6) or K = 1: unchanged."""
    if probability <= 0.0 or wrench.dim() != 3 or wrench.shape[1] < 2:
        return wrench
    chosen = (torch.rand(wrench.shape[0], generator=generator) < probability).to(wrench.device)
    if not bool(chosen.any()):
        return wrench
    newest = wrench[:, -1:, :].expand_as(wrench)
    return torch.where(chosen.view(-1, 1, 1), newest, wrench)
