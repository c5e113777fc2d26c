"""The in-memory form every image dataset of the suite is loaded into.

Small datasets (CIFAR, synthetic) live as one uint8 tensor per split, so the training engine can keep
them on the device and augment whole batches there (no per-image Python).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass
class ImageSplit:
    """One split: ``images`` uint8 [N, 3, H, W] (RGB, NCHW), ``labels`` int64 [N] in 0..C-1."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4 or self.images.shape[1] != 3:
            raise ValueError(f"images must be uint8 [N, 3, H, W], got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels must be int64 [{self.images.shape[0]}], got "
                             f"{self.labels.dtype} {tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def class_counts(self, num_classes: int) -> list[int]:
        """Images per class, classes 0..num_classes-1."""
        return torch.bincount(self.labels, minlength=num_classes).tolist()


@dataclass
class LongTailedData:
    """A long-tailed training split with its validation and balanced test splits.

    ``identity`` holds everything that defines which images are in ``train``/``val``/``test``
    (source, profile, imbalance factor, selection rule and seed, hash of the kept indices, ...);
    it is recorded with every result so that two results are comparable only on the same subset.
    ``mean``/``std`` are per-channel statistics of the training images as fractions of 255.
    """

    name: str
    class_names: list[str]
    train: ImageSplit
    test: ImageSplit
    val: ImageSplit | None = None
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.25, 0.25, 0.25)
    identity: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    # The identity fields that decide what a model trained on this data computes: the training
    # pixels and labels (in order), the validation subset and the normalisation rule. Cache keys
    # use only these, so that adding descriptive fields to ``identity`` never orphans results.
    KEY_FIELDS = ("dataset", "train_images_hash", "val_indices_hash", "normalisation", "test_size")

    def key(self) -> dict[str, Any]:
        """The part of ``identity`` that results depend on (see ``KEY_FIELDS``)."""
        return {name: self.identity.get(name) for name in self.KEY_FIELDS}

    @property
    def class_counts(self) -> list[int]:
        """Training images per class (the long-tailed profile actually used)."""
        return self.train.class_counts(self.num_classes)


def indices_hash(indices: np.ndarray | torch.Tensor | list[int]) -> str:
    """A short, stable hash of an index list (which images a subset kept)."""
    array = np.asarray(indices, dtype=np.int64)
    return hashlib.sha256(array.tobytes()).hexdigest()[:16]


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Per-channel mean and standard deviation of uint8 [N, 3, H, W] images, as fractions of 255.

    Computed exactly from each channel's 256-bin histogram (no float copy of the images: ~10x faster
    and 8x less memory than converting them to float64).
    """
    hist = torch.stack([torch.bincount(images[:, c].reshape(-1), minlength=256) for c in range(3)])
    hist = hist.to(torch.float64)
    value = torch.arange(256, dtype=torch.float64) / 255.0
    total = hist.sum(dim=1)
    mean = (hist * value).sum(dim=1) / total
    var = (hist * (value - mean[:, None]) ** 2).sum(dim=1) / total
    return tuple(mean.tolist()), tuple(var.sqrt().tolist())  # type: ignore[return-value]
