"""Shared fixtures for the model tests: tiny-preset policies and batches."""

import pytest
import torch

from fdvla_model.model import FDVLAConfig, FDVLAPolicy


def _make_batch(config: FDVLAConfig, batch_size: int = 2, seed: int = 0, image_hw=(48, 64)) -> dict:
    generator = torch.Generator().manual_seed(seed)
    height, width = image_hw
    return {
        "images": {
            name: torch.rand(batch_size, 3, height, width, generator=generator) for name in config.camera_names
        },
        "state": torch.randn(batch_size, config.state_dim, generator=generator),
        "wrench": torch.randn(batch_size, 6, generator=generator) * 5.0,
        "task": ["press the emergency button", "wipe the whiteboard"][:batch_size]
        + ["insert the plug"] * max(0, batch_size - 2),
        "actions": torch.randn(batch_size, config.chunk_size, config.action_dim, generator=generator),
    }


@pytest.fixture
def make_batch():
    return _make_batch


@pytest.fixture
def make_policy():
    def build(variant: str = "fdvla", seed: int = 0, **overrides) -> FDVLAPolicy:
        torch.manual_seed(seed)
        return FDVLAPolicy(FDVLAConfig.tiny(variant=variant, **overrides)).eval()

    return build


@pytest.fixture
def fixed_noise():
    def build(config: FDVLAConfig, batch_size: int = 2, seed: int = 1) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        return torch.randn(batch_size, config.chunk_size, config.max_action_dim, generator=generator)

    return build
