"""Random-shift augmentation of training images (train/augment.py)."""

import pytest
import torch

from fdvla_model.photometric import jitter_cameras
from fdvla_model.train.augment import random_shift, shift_cameras


def test_each_sample_is_the_image_moved_by_at_most_pad_pixels():
    images = torch.rand(8, 3, 12, 16)
    out = random_shift(images, 3, torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    padded = torch.nn.functional.pad(images, (3, 3, 3, 3), mode="replicate")
    shifts = []
    for i in range(8):
        found = [(dy, dx) for dy in range(7) for dx in range(7)
                 if torch.equal(out[i], padded[i, :, dy:dy + 12, dx:dx + 16])]
        assert found, f"sample {i} is not a crop of the padded image"
        shifts.append(found[0])
    assert len(set(shifts)) > 1  # samples are shifted independently


def test_no_shift_is_the_identity_and_cameras_are_shifted_independently():
    images = torch.rand(4, 3, 8, 8)
    assert random_shift(images, 0, torch.Generator()) is images
    out = shift_cameras({"a": images, "b": images.clone()}, 2, torch.Generator().manual_seed(1))
    assert set(out) == {"a", "b"} and not torch.equal(out["a"], out["b"])


def test_semantic_augmentation_keeps_the_foreground_and_replaces_the_background():
    from fdvla_model.train.augment import paste_cameras, paste_on_random_backgrounds

    images = torch.randint(0, 256, (6, 3, 10, 12), dtype=torch.uint8)
    masks = torch.zeros(6, 10, 12, dtype=torch.bool)
    masks[:, 3:7, 4:9] = True  # the "object"
    out = paste_on_random_backgrounds(images, masks, 1.0, torch.Generator().manual_seed(0))
    assert out.dtype == torch.uint8 and out.shape == images.shape
    fg = masks.unsqueeze(1).expand_as(images)
    assert torch.equal(out[fg], images[fg])  # the object's pixels are untouched
    changed = (out != images).any(dim=1) & ~masks
    assert changed.float().mean() > 0.9 * (~masks).float().mean()  # the rest is new
    assert not torch.equal(out[0][~fg[0]], out[1][~fg[1]])  # a background per sample
    floats = images.float() / 255
    out_f = paste_on_random_backgrounds(floats, masks, 1.0, torch.Generator().manual_seed(0))
    assert out_f.dtype == torch.float32 and 0.0 <= out_f.min() and out_f.max() <= 1.0
    # Probability: none, some, and cameras without masks pass through.
    assert paste_on_random_backgrounds(images, masks, 0.0, torch.Generator()) is images
    many = images.repeat(8, 1, 1, 1)
    half = paste_on_random_backgrounds(many, masks.repeat(8, 1, 1), 0.5,
                                       torch.Generator().manual_seed(3))
    kept = [torch.equal(half[i], many[i]) for i in range(len(many))]
    assert any(kept) and not all(kept)
    both = paste_cameras({"wrist": images, "kinect": images}, {"wrist": masks}, 1.0,
                         torch.Generator().manual_seed(0))
    assert both["kinect"] is images and not torch.equal(both["wrist"], images)
    with pytest.raises(ValueError, match="do not fit"):
        paste_on_random_backgrounds(images, masks[:, :5], 1.0, torch.Generator())


def test_colour_jitter_changes_only_the_chosen_samples_keeps_dtype_and_is_seeded():
    g = torch.Generator().manual_seed(0)
    images = {"wrist": torch.randint(20, 236, (64, 3, 8, 8), generator=g, dtype=torch.uint8),
              "kinect": torch.rand(64, 3, 8, 8, generator=g)}
    out = jitter_cameras(images, 0.5, torch.Generator().manual_seed(3))
    again = jitter_cameras(images, 0.5, torch.Generator().manual_seed(3))
    for cam, img in images.items():
        assert out[cam].dtype == img.dtype and out[cam].shape == img.shape
        assert torch.equal(out[cam], again[cam])
        changed = (out[cam].float() != img.float()).flatten(1).any(dim=1)
        assert 16 < int(changed.sum()) < 48  # about half of the 64 samples
    assert float(out["kinect"].min()) >= 0.0 and float(out["kinect"].max()) <= 1.0
    # The two cameras draw their samples apart.
    changed = {c: (out[c].float() != images[c].float()).flatten(1).any(dim=1) for c in images}
    assert not torch.equal(changed["wrist"], changed["kinect"])
    assert jitter_cameras(images, 0.0, torch.Generator()) is images
