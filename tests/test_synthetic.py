"""Synthetic data: class-dependent, seeded, learnable, and cut by the shared long-tailed code."""

from __future__ import annotations

import numpy as np
import torch

from imbalance_baselines.data import counts, make_images, make_synthetic_lt


def test_images_are_uint8_seeded_and_class_dependent() -> None:
    labels = np.repeat(np.arange(8), 30)
    images = make_images(labels, 8, image_size=32, seed=0)
    assert images.dtype == np.uint8 and images.shape == (240, 3, 32, 32)
    assert np.array_equal(images, make_images(labels, 8, seed=0))
    assert not np.array_equal(images, make_images(labels, 8, seed=1))
    assert len({bytes(x) for x in images}) == 240  # noise makes every image distinct


def test_classes_are_separable_by_nearest_class_mean() -> None:
    data = make_synthetic_lt(num_classes=10, n_max=20, imbalance_factor=5.0, test_per_class=10)
    train = data.train.images.float().flatten(1)
    means = torch.stack([train[data.train.labels == c].mean(0) for c in range(10)])
    predicted = torch.cdist(data.test.images.float().flatten(1), means).argmin(1)
    assert (predicted == data.test.labels).float().mean() > 0.95


def test_synthetic_lt_follows_the_profile_and_records_identity() -> None:
    data = make_synthetic_lt(num_classes=6, n_max=40, imbalance_factor=8.0, val_per_class=4, seed=3)
    expected = counts(40, 6, 8.0)
    assert data.identity["val_taken_from_train"] == [4, 0, 0, 0, 0, 0]
    assert data.class_counts == [expected[0] - 4, *expected[1:]]
    assert data.val.class_counts(6) == [4] * 6 and data.test.class_counts(6) == [20] * 6
    assert data.identity["source"] == "synthetic" and data.identity["data_seed"] == 3
    assert data.name == "synthetic_lt" and data.train.images.shape[1:] == (3, 32, 32)


def test_synthetic_lt_is_reproducible_and_step_profile_works() -> None:
    a = make_synthetic_lt(num_classes=4, n_max=10, imbalance_factor=5.0, profile="step", image_size=8)
    b = make_synthetic_lt(num_classes=4, n_max=10, imbalance_factor=5.0, profile="step", image_size=8)
    assert torch.equal(a.train.images, b.train.images) and a.identity == b.identity
    assert a.class_counts == [10, 10, 2, 2] and a.train.images.shape[2:] == (8, 8)
