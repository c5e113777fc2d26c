"""Batched augmentation against torchvision's per-image reference transforms."""

import torch
import torchvision.transforms.v2.functional as TF

from imbalance_baselines.data.augment import BatchAugment

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


def images(n=16, seed=0):
    return torch.randint(0, 256, (n, 3, 32, 32), generator=torch.Generator().manual_seed(seed),
                         dtype=torch.uint8)


def test_centre_offset_without_flip_is_the_normalised_original():
    x = images()
    augment = BatchAugment(MEAN, STD)
    out = augment.apply(x, torch.full((16, 2), 4), torch.zeros(16, dtype=torch.bool))
    expected = TF.normalize(x.float() / 255, MEAN, STD)
    torch.testing.assert_close(out, expected)


def test_each_image_equals_torchvision_pad_crop_flip():
    x = images(8)
    augment = BatchAugment(MEAN, STD)
    offsets, flips = augment.draw(8, torch.Generator().manual_seed(3))
    out = augment.apply(x, offsets, flips)
    for i in range(8):
        padded = TF.pad(x[i], [4, 4, 4, 4], fill=0)
        crop = TF.crop(padded, int(offsets[i, 0]), int(offsets[i, 1]), 32, 32)
        if flips[i]:
            crop = TF.horizontal_flip(crop)
        torch.testing.assert_close(out[i], TF.normalize(crop.float() / 255, MEAN, STD))


def test_shape_dtype_flip_rate_and_offset_range():
    augment = BatchAugment(MEAN, STD)
    out = augment(images(), torch.Generator().manual_seed(0))
    assert out.shape == (16, 3, 32, 32) and out.dtype == torch.float32
    offsets, flips = augment.draw(10000, torch.Generator().manual_seed(1))
    # Binomial(10000, 0.5): 4 standard deviations are 200.
    assert abs(int(flips.sum()) - 5000) < 200
    assert offsets.min() == 0 and offsets.max() == 8


def test_same_generator_state_same_augmentation():
    augment = BatchAugment(MEAN, STD)
    x = images()
    a = augment(x, torch.Generator().manual_seed(5))
    b = augment(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
