"""Shared fixtures: small synthetic CIFAR-like splits written in the real on-disk formats."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from imbalance_baselines.data.bundle import ImageSplit
from imbalance_baselines.data.synthetic import make_split, write_cifar_pickle, write_image_folder

# TensorBoard event files are written only by the test that checks them (study.events).
os.environ.setdefault("IMBALANCE_TENSORBOARD", "0")

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


def stored_runs(specs, data, config, root, keep_weights=True):
    """Train ``specs`` together with the engine and store their records (``study.store``) under ``root``."""
    from imbalance_baselines.study.store import Store
    from imbalance_baselines.train.engine import train

    store = Store(root)
    outcomes = train(list(specs), data, config, "cpu", progress=False)
    return [store.save(outcomes[spec.name], data, config, "cpu", keep_weights) for spec in specs]


def record_entry(method, seed, top1, epochs=200, factor=100, dataset="cifar10_lt", status="finished",
                 precision="fp32", capability="AVX512", test=None, history=None, key=None, images=None):
    """A study file's run entry (a schema-2 record plus method, seed, folder) written by hand."""
    from imbalance_baselines.study.record import RunRecord, Stretch

    record = RunRecord(
        status=status, name=f"{method} [seed {seed}]", key=key or f"{method}-{seed}-{epochs}-{dataset}",
        run={"seed": seed, "model": "resnet32", "model_params": {}}, config={"epochs": epochs},
        data={"name": dataset, "imbalance_factor": factor, "train_counts": [10, 5]},
        history=history or [], stretches=[Stretch(0, epochs, 1800.0, precision, threads=2, cpu_capability=capability)],
        test=test or ({"top1": top1, "many_shot": 0.9, "medium_shot": None, "few_shot": 0.3, "ece": 0.1}
                      if status == "finished" else None),
        error=None if status == "finished" else "loss is not finite", code={"commit": "abc"})
    return {"method": method, "seed": seed, "folder": f"runs/{method}-{seed}", "images": images, **record.to_dict()}
