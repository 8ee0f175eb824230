"""Random-shift augmentation of training images (train/augment.py)."""

import torch

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
