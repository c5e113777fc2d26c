"""Small JPEG trees in the real on-disk layouts of the split-file benchmarks, for tests and smoke runs.

Pixels are :func:`.synthetic.make_images` patterns (class colour and stripes plus noise), so a model
can learn them; the layouts are those the published split files list (SPEC 1, "Synthetic data"):

- ImageNet-LT: ``train/<wnid>/<wnid>_<k>.JPEG`` (train and val splits, both drawn from the ImageNet
  train folder) and ``val/<wnid>/ILSVRC2012_val_<id:08d>.JPEG`` (test: the ImageNet validation images);
- Places-LT: ``train/<category>/<k:08d>.jpg`` and ``val/<category>/Places365_val_<id:08d>.jpg``;
- an ImageNet train folder ``train/<wnid>/<wnid>_<k>.JPEG`` for the mini-ImageNet-LT builder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from .errors import DatasetError
from .split_files import split_file_name
from .synthetic import make_images

FIXTURE_BENCHMARKS = ("imagenet_lt", "places_lt")


def fixture_class_name(benchmark: str, label: int) -> str:
    """A wnid-like name (``n9000000<k>``) for ImageNet-style trees, ``scene_<k>`` for Places-LT."""
    return f"scene_{label:03d}" if benchmark == "places_lt" else f"n{90_000_000 + label:08d}"


def _save(root: Path, relative: str, pixels: np.ndarray) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.transpose(1, 2, 0)).save(path, format="JPEG", quality=95)


def _file_name(benchmark: str, split: str, name: str, number: int) -> str:
    if split == "test":
        stem = "ILSVRC2012_val" if benchmark != "places_lt" else "Places365_val"
        return f"val/{name}/{stem}_{number:08d}.{'JPEG' if benchmark != 'places_lt' else 'jpg'}"
    return f"train/{name}/{name}_{number}.JPEG" if benchmark != "places_lt" else f"train/{name}/{number:08d}.jpg"


def write_split_file_fixture(root: str | os.PathLike[str], benchmark: str = "imagenet_lt",
                             class_counts: Sequence[int] = (12, 6, 3), val_per_class: int = 2,
                             test_per_class: int = 3, image_size: int = 32, seed: int = 0,
                             split_dir: str | os.PathLike[str] | None = None) -> Path:
    """JPEGs under ``root`` and the three split files (in ``split_dir``, default ``root``); returns root.

    Class c has ``class_counts[c]`` training, ``val_per_class`` validation and ``test_per_class`` test
    images; lines are grouped by class, as in the published files. Load it with
    ``load_split_file_dataset(root, benchmark, split, check_counts=False)``.
    """
    if benchmark not in FIXTURE_BENCHMARKS:
        raise DatasetError(f"unknown fixture benchmark {benchmark!r}; expected one of {FIXTURE_BENCHMARKS}")
    root = Path(root)
    out = root if split_dir is None else Path(split_dir)
    out.mkdir(parents=True, exist_ok=True)
    num_classes = len(class_counts)
    per_split = {"train": list(class_counts), "val": [val_per_class] * num_classes,
                 "test": [test_per_class] * num_classes}
    train_numbers = [0] * num_classes  # train and val share the train folder: number them on
    test_number = 0
    for offset, (split, per_class) in enumerate(per_split.items()):
        labels = np.repeat(np.arange(num_classes), per_class)
        pixels = make_images(labels, num_classes, image_size, seed + offset)
        lines = []
        for label, image in zip(labels.tolist(), pixels):
            name = fixture_class_name(benchmark, label)
            if split == "test":
                test_number += 1
                number = test_number
            else:
                number = train_numbers[label]
                train_numbers[label] += 1
            relative = _file_name(benchmark, split, name, number)
            _save(root, relative, image)
            lines.append(f"{relative} {label}")
        (out / split_file_name(benchmark, split)).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def write_imagenet_train_tree(root: str | os.PathLike[str], wnids: Sequence[str], per_class: int | Sequence[int],
                              image_size: int = 16, seed: int = 0) -> Path:
    """``root/train/<wnid>/<wnid>_<k>.JPEG`` with ``per_class`` images per class; returns root."""
    root = Path(root)
    sizes = [per_class] * len(wnids) if isinstance(per_class, int) else list(per_class)
    labels = np.repeat(np.arange(len(wnids)), sizes)
    for k, (label, image) in enumerate(zip(labels.tolist(), make_images(labels, len(wnids), image_size, seed))):
        _save(root, f"train/{wnids[label]}/{wnids[label]}_{k}.JPEG", image)
    return root
