"""Shared fixtures: small synthetic CIFAR-like splits written in the real on-disk formats."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from imbalance_baselines.data.bundle import ImageSplit
from imbalance_baselines.data.synthetic import make_split, write_cifar_pickle, write_image_folder

NUM_CLASSES = 10
TRAIN_PER_CLASS = 20
TEST_PER_CLASS = 4
CLASS_NAMES = [f"c{k}" for k in range(NUM_CLASSES)]


def _sorted_by_label(split: ImageSplit) -> ImageSplit:
    """Class-major order: the order the image-folder reader returns, so both formats compare equal."""
    order = torch.argsort(split.labels, stable=True)
    return ImageSplit(split.images[order], split.labels[order])


@pytest.fixture
def splits() -> tuple[ImageSplit, ImageSplit]:
    """(train, test): 20 / 4 synthetic 32x32 images per class, 10 classes, sorted by label."""
    train = _sorted_by_label(make_split([TRAIN_PER_CLASS] * NUM_CLASSES, seed=1))
    test = _sorted_by_label(make_split([TEST_PER_CLASS] * NUM_CLASSES, seed=2))
    return train, test


@pytest.fixture
def pickle_root(tmp_path: Path, splits: tuple[ImageSplit, ImageSplit]) -> Path:
    """A data dir holding ``cifar-10-batches-py/`` written from ``splits``."""
    root = tmp_path / "pickle"
    write_cifar_pickle(root, "cifar10", *splits, CLASS_NAMES)
    return root


@pytest.fixture
def folder_root(tmp_path: Path, splits: tuple[ImageSplit, ImageSplit]) -> Path:
    """An image-folder tree ``train/``, ``test/`` of PNGs written from ``splits``."""
    return write_image_folder(tmp_path / "folder", *splits, CLASS_NAMES)


@pytest.fixture
def kill_at_epoch(monkeypatch: pytest.MonkeyPatch):
    """``kill_at_epoch(e)``: training raises ``KeyboardInterrupt`` as epoch ``e`` (0-based) starts,
    as a process killed there would stop; ``kill_at_epoch(None)`` lets training run again."""
    from imbalance_baselines.train import engine

    real = engine.learning_rate

    def kill(doomed: int | None) -> None:
        def learning_rate(epoch: int, *args, **kwargs):
            if epoch == doomed:
                raise KeyboardInterrupt("simulated kill")
            return real(epoch, *args, **kwargs)

        monkeypatch.setattr(engine, "learning_rate", real if doomed is None else learning_rate)

    return kill
