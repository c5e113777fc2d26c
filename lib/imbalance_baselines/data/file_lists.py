"""Large long-tailed datasets as file lists (ImageNet-LT, Places-LT, mini-ImageNet-LT, iNaturalist).

Their images are far too many to hold in memory: ``FileListData`` keeps the three splits as
``FileListSplit``s (paths + labels) and offers what the engine and the study need from a dataset
(class names and counts, identity, a cache ``key``), like ``LongTailedData`` does for tensors.
Built by name from ``data.DATASETS`` ("imagenet_lt", "places_lt", "mini_imagenet_lt",
"inaturalist2017", "inaturalist2018", and "synthetic_split_files" for smoke runs and tests).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .inaturalist import FileListSplit, annotation_path, load_inaturalist
from .split_files import BENCHMARKS, load_split_file_dataset, split_file_name, split_file_paths
from .split_fixtures import write_split_file_fixture


@dataclass
class FileListData:
    """A long-tailed dataset as file lists (too large for memory), with the LongTailedData interface
    the engine and the study use: ``train``/``val``/``test`` splits, class names, identity, key()."""

    name: str
    class_names: list[str]
    train: FileListSplit
    test: FileListSplit
    val: FileListSplit | None = None
    identity: dict[str, Any] = field(default_factory=dict)
    image_size: int = 224
    workers: int = 2

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def class_counts(self) -> list[int]:
        return torch.bincount(self.train.labels, minlength=self.num_classes).tolist()

    def key(self) -> dict[str, Any]:
        """What results depend on: each split's identity (its file's hash) and the image size."""
        return {"dataset": self.name, "image_size": self.image_size,
                **{split: getattr(self, split).identity for split in ("train", "val", "test")
                   if getattr(self, split) is not None}}


def _from_splits(name: str, splits: dict[str, FileListSplit | None], image_size: int, workers: int,
                 **identity: Any) -> FileListData:
    train = splits["train"]
    return FileListData(name, list(train.class_names), train, splits["test"], splits.get("val"),
                        identity={"dataset": name, "train_counts": train.class_counts(),
                                  "num_classes": train.num_classes, "image_size": image_size, **identity},
                        image_size=image_size, workers=workers)


def split_file_data(root: str | os.PathLike[str], benchmark: str, split_dir: str | None = None,
                    check_counts: bool = True, image_size: int = 224, workers: int = 2) -> FileListData:
    """ImageNet-LT / Places-LT / mini-ImageNet-LT from their split files (Liu et al. 2019 layout)."""
    splits = {split: load_split_file_dataset(root, benchmark, split, split_dir, check_counts)
              for split in ("train", "val", "test")}
    return _from_splits(benchmark, splits, image_size, workers, source="split files")


def inaturalist_data(root: str | os.PathLike[str], year: int, image_size: int = 224,
                     workers: int = 2) -> FileListData:
    """iNaturalist: train on the train json, evaluate on the val json (the test json has no labels);
    no separate validation split (post-hoc choices need one carved from train: not offered)."""
    splits = {"train": load_inaturalist(root, year, "train"), "test": load_inaturalist(root, year, "val")}
    return _from_splits(f"inaturalist{year}", splits, image_size, workers, source="coco json")


def synthetic_split_files(root: str | os.PathLike[str], class_counts: Sequence[int] = (24, 12, 6, 3),
                          val_per_class: int = 2, test_per_class: int = 4, file_size: int = 32,
                          image_size: int = 64, workers: int = 0, seed: int = 0) -> FileListData:
    """A tiny ImageNet-LT-layout fixture (JPEGs + split files) written under ``root`` once, then read
    by the real split-file loader: the large-scale path end to end in seconds (smoke runs, tests)."""
    folder = Path(root) / f"synthetic_split_files-{'-'.join(map(str, class_counts))}-{seed}"
    if not (folder / split_file_name("imagenet_lt", "test")).exists():
        write_split_file_fixture(folder, "imagenet_lt", class_counts, val_per_class, test_per_class,
                                 file_size, seed)
    data = split_file_data(folder, "imagenet_lt", check_counts=False, image_size=image_size, workers=workers)
    data.name = data.identity["dataset"] = "synthetic_split_files"
    return data


def check_present(name: str, root: str | os.PathLike[str], split_dir: str | None = None, **_: Any) -> None:
    """Before any work: the files a file-list dataset is read from (split files, annotation json) exist
    under ``root``; otherwise one :class:`DatasetError` naming the first missing path and how to obtain
    the data. Other datasets (CIFAR downloads itself, synthetic sets are written) need nothing here."""
    if name in BENCHMARKS:
        split_file_paths(name, Path(root) if split_dir is None else Path(split_dir))
    elif name.startswith("inaturalist") and name[-4:].isdigit():
        for split in ("train", "val"):
            annotation_path(Path(root), int(name[-4:]), split)
