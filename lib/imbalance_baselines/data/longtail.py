"""From a full (balanced) dataset to a long-tailed one: the step every image loader shares.

Readers (CIFAR pickle, image folder, synthetic) return a :class:`FullData`; :func:`make_long_tailed`
applies the profile, the selection rule and the validation split, and records the identity.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .bundle import ImageSplit, LongTailedData, channel_stats, indices_hash
from .errors import DatasetError
from .profiles import counts, select_subset, split_validation


@dataclass
class FullData:
    """A dataset as read from disk: full training and test splits, class names, source format."""

    train: ImageSplit
    test: ImageSplit
    class_names: list[str]
    source: str

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], class_names: list[str], source: str) -> FullData:
        """From decoded arrays ``{train,test}_images`` (uint8 [N, 3, H, W]) and ``{train,test}_labels``."""
        train, test = (ImageSplit(torch.from_numpy(arrays[f"{split}_images"]),
                                  torch.from_numpy(arrays[f"{split}_labels"])) for split in ("train", "test"))
        return cls(train=train, test=test, class_names=class_names, source=source)


def images_hash(split: ImageSplit) -> str:
    """A short hash of a split's pixels and labels: tells apart equal indices of differently ordered files
    (the shared CIFAR copy and the official release)."""
    digest = hashlib.sha256(memoryview(split.images.contiguous().numpy()).cast("B"))
    digest.update(memoryview(split.labels.contiguous().numpy()).cast("B"))
    return digest.hexdigest()[:16]


def _take(split: ImageSplit, indices: np.ndarray) -> ImageSplit:
    index = torch.from_numpy(indices)
    return ImageSplit(split.images.index_select(0, index), split.labels.index_select(0, index))


def make_long_tailed(name: str, full: FullData, imbalance_factor: float = 100.0, profile: str = "exp",
                     selection: str = "random", selection_seed: int = 0, val_per_class: int = 0,
                     n_max: int | None = None) -> LongTailedData:
    """The long-tailed training subset of ``full.train`` with a validation split and the balanced test set.

    ``n_max`` defaults to the smallest class of ``full.train`` (5,000 for CIFAR-10, 500 for CIFAR-100).
    Class counts follow :func:`~.profiles.counts`, images are chosen by
    :func:`~.profiles.select_subset`, validation images by :func:`~.profiles.split_validation`.
    ``mean``/``std`` are the training subset's channel statistics.
    """
    num_classes = len(full.class_names)
    labels = full.train.labels.numpy()
    available = np.bincount(labels, minlength=num_classes)
    if n_max is None:
        n_max = int(available.min())
    if n_max < 1:
        raise DatasetError(f"{name}: class {int(available.argmin())} "
                           f"({full.class_names[int(available.argmin())]!r}) has no training images")
    per_class = counts(n_max, num_classes, imbalance_factor, profile)
    kept = select_subset(labels, per_class, selection, selection_seed)
    train_idx, val_idx, taken = split_validation(labels, kept, num_classes, val_per_class, selection_seed)
    train = _take(full.train, train_idx)
    val = _take(full.train, val_idx) if val_per_class > 0 else None
    mean, std = channel_stats(train.images)
    identity: dict[str, Any] = {
        "dataset": name,
        "source": full.source,
        "profile": profile,
        "imbalance_factor": float(imbalance_factor),
        "n_max": n_max,
        "selection": selection,
        "selection_seed": selection_seed,
        "val_per_class": val_per_class,
        "indices_hash": indices_hash(train_idx),
        "train_images_hash": images_hash(train),
        "train_counts": train.class_counts(num_classes),
        "val_taken_from_train": taken,
        "val_indices_hash": indices_hash(val_idx),
        "test_size": len(full.test),
        "normalisation": "training-subset mean/std",
    }
    return LongTailedData(name=f"{name}_lt", class_names=list(full.class_names), train=train,
                          test=full.test, val=val, mean=mean, std=std, identity=identity)
