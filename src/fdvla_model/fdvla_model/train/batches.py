"""The stream of training samples (a resumable, rank-aware sampler) and moving batches to the
device."""

from __future__ import annotations

import torch

from fdvla_model.dataset import images_to_float


class ResumableSampler(torch.utils.data.Sampler):
    """An endless stream of sample indices: a fresh seeded permutation every epoch.

    The stream is a pure function of (seed, position), so a resumed run starts exactly where
    the interrupted one stopped. Under DDP, rank r takes every world_size-th index of the same
    global stream, so the ranks see disjoint samples.
    """

    def __init__(self, num_samples: int, seed: int, start: int = 0, rank: int = 0, world_size: int = 1):
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.start = int(start)  # position in this rank's stream
        self.rank = rank
        self.world_size = world_size

    def _permutation(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.num_samples, generator=g)

    def __iter__(self):
        local = self.start
        cached_epoch, perm = -1, None
        while True:
            g = local * self.world_size + self.rank
            epoch, j = divmod(g, self.num_samples)
            if epoch != cached_epoch:
                cached_epoch, perm = epoch, self._permutation(epoch)
            yield int(perm[j])
            local += 1


def _to_device(batch: dict, device: torch.device) -> dict:
    """Move a collated batch to the device; uint8 images become float [0, 1] there."""
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            out[key] = value.to(device, non_blocking=True)
        elif isinstance(value, dict):
            out[key] = _to_device(value, device)
        else:
            out[key] = value
    if "images" in out:
        out["images"] = {cam: images_to_float(img) for cam, img in out["images"].items()}
    return out
