"""ImageNet-LT, Places-LT (Liu et al. 2019) and mini-ImageNet-LT (Vigneswaran et al. 2021) as split files.

Liu, Miao, Zhan, Wang, Gong and Yu, "Large-Scale Long-Tailed Recognition in an Open World", CVPR 2019
(OLTR, arXiv 1904.05160) published each benchmark as three text files of ``relative/path label`` lines,
``ImageNet_LT_{train,val,test}.txt`` and ``Places_LT_{train,val,test}.txt``, read against the image
root; mini-ImageNet-LT (TailCalibX) uses the same form, built by :mod:`.mini_imagenet`. Loading checks,
each failure one :class:`DatasetError` naming the file: every listed image exists, labels are 0..C-1,
every class has training images, and (``check_counts``) the class counts are what the split is known to
hold (:data:`KNOWN_COUNTS`).

The figures and what was verified (see :data:`KNOWN_COUNTS`):

- ImageNet-LT: train 115,846 images of 1,000 classes, 1,280 to 5 per class; val 20 and test 50 per
  class (Liu et al. 2019; the TensorFlow Datasets ``imagenet_lt`` card gives the same: train 115,846,
  validation 20,000, test 50,000, 1,280 to 5 per class). The test figure was also checked against the
  published ``ImageNet_LT_test.txt`` (facebookresearch/classifier-balancing, data/ImageNet_LT): its
  lines are fixed width, and its size, 2,344,500 characters, is exactly 50 lines per label 0..999.
- Places-LT: train 62,500 images of 365 classes, 4,980 to 5 per class; val 20 and test 100 per class.
  The OLTR paper's dataset paragraph could not be read with the tools at hand. The train figures are
  as later work quotes Liu et al. 2019 ("62.5K images from 365 classes, with class sizes ranging from
  a maximum of 4980 to a minimum of 5"; one dataset card says "184.5K samples", not the training
  split) and were NOT counted in the split file. Val and test were checked against the published
  ``Places_LT_{val,test}.txt`` (classifier-balancing): with the 365 Places365 category names, their
  sizes, 253,480 and 1,705,400 characters, are exactly what 20 and 100 lines per class make. A first load of
  the real files confirms the train figures or stops with the counts it found.
- mini-ImageNet-LT: 100 classes, train the exponential profile 500 to 5 (IF 100, 10,847 images), val
  and test 100 per class; a build's own record (``mini_ImageNet_LT_build.json``) replaces these.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import DatasetError
from .file_list_checks import (check_every_class_has_images, check_files_exist, check_label_range,
                               sha256_file)
from .inaturalist import FileListSplit
from .profiles import counts

BENCHMARKS = ("imagenet_lt", "places_lt", "mini_imagenet_lt")
SPLITS = ("train", "val", "test")
FILE_PREFIX = {"imagenet_lt": "ImageNet_LT", "places_lt": "Places_LT", "mini_imagenet_lt": "mini_ImageNet_LT"}
TITLE = {"imagenet_lt": "ImageNet-LT", "places_lt": "Places-LT", "mini_imagenet_lt": "mini-ImageNet-LT"}
BUILD_RECORD = "mini_ImageNet_LT_build.json"
HOW_TO_GET = {
    "imagenet_lt": "the split files come with OLTR (github.com/zhmiao/OpenLongTailRecognition-OLTR, "
                   "data/ImageNet_LT); the images are ILSVRC-2012 (image-net.org), the root holding train/<wnid>/ "
                   "and the validation images sorted into val/<wnid>/",
    "places_lt": "the split files come with OLTR (github.com/zhmiao/OpenLongTailRecognition-OLTR, "
                 "data/Places_LT); the images are Places365-Standard (places2.csail.mit.edu), arranged as the "
                 "split files list them (train/<category>/, val/<category>/)",
    "mini_imagenet_lt": "build the split files with build_mini_imagenet_lt(imagenet_root, out_dir) from the "
                        "ImageNet train folder (image-net.org)",
}


@dataclass(frozen=True)
class KnownCounts:
    """What a split is known to hold: image and class totals, the largest and smallest class, and
    (when known) every class's count; ``source`` says where the figures come from."""

    num_images: int
    num_classes: int
    max_per_class: int
    min_per_class: int
    source: str
    per_class: tuple[int, ...] | None = None

    @classmethod
    def balanced(cls, per_class: int, num_classes: int, source: str) -> KnownCounts:
        return cls(per_class * num_classes, num_classes, per_class, per_class, source, (per_class,) * num_classes)

    @classmethod
    def exact(cls, per_class: list[int], source: str) -> KnownCounts:
        return cls(sum(per_class), len(per_class), max(per_class), min(per_class), source, tuple(per_class))


_OLTR = "Liu et al. 2019"
_MINI = "Vigneswaran et al. 2021 (TailCalibX), IF 100"
KNOWN_COUNTS: dict[tuple[str, str], KnownCounts] = {
    ("imagenet_lt", "train"): KnownCounts(115_846, 1000, 1280, 5, _OLTR),
    ("imagenet_lt", "val"): KnownCounts.balanced(20, 1000, _OLTR),
    ("imagenet_lt", "test"): KnownCounts.balanced(50, 1000, _OLTR),
    ("places_lt", "train"): KnownCounts(62_500, 365, 4980, 5, _OLTR),
    ("places_lt", "val"): KnownCounts.balanced(20, 365, _OLTR),
    ("places_lt", "test"): KnownCounts.balanced(100, 365, _OLTR),
    ("mini_imagenet_lt", "train"): KnownCounts.exact(counts(500, 100, 100), _MINI),
    ("mini_imagenet_lt", "val"): KnownCounts.balanced(100, 100, _MINI),
    ("mini_imagenet_lt", "test"): KnownCounts.balanced(100, 100, _MINI),
}


def split_file_name(benchmark: str, split: str) -> str:
    """The published file name, e.g. ``ImageNet_LT_train.txt``."""
    return f"{FILE_PREFIX[benchmark]}_{split}.txt"


def read_split_file(path: Path) -> tuple[list[str], torch.Tensor, list[int]]:
    """``(relative paths, int64 labels, line numbers)`` of a ``relative/path label`` file (blank lines
    skipped; the label is the last field, so a path may contain spaces)."""
    paths, labels, lines = [], [], []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            fields = line.rsplit(maxsplit=1)
            if len(fields) != 2:
                raise DatasetError(f"{path}, line {number}: expected 'relative/path label', got {line!r}")
            try:
                labels.append(int(fields[1]))
            except ValueError:
                raise DatasetError(f"{path}, line {number}: label {fields[1]!r} is not an integer") from None
            paths.append(fields[0])
            lines.append(number)
    if not paths:
        raise DatasetError(f"{path} lists no images")
    return paths, torch.tensor(labels, dtype=torch.int64), lines


def known_counts(benchmark: str, split: str, split_dir: Path) -> KnownCounts:
    """The counts ``split`` is known to hold; for mini-ImageNet-LT, a build record in ``split_dir``
    (written by :func:`~.mini_imagenet.build_mini_imagenet_lt`) gives its own exact counts."""
    record = split_dir / BUILD_RECORD
    if benchmark == "mini_imagenet_lt" and record.is_file():
        built = json.loads(record.read_text(encoding="utf-8"))
        return KnownCounts.exact(built["counts"][split], f"the build record {record}")
    return KNOWN_COUNTS[(benchmark, split)]


def check_known_counts(class_counts: list[int], known: KnownCounts, title: str, source: Path) -> None:
    """The split's class counts match ``known``; the message names the expected figure and its source."""
    found = {"images": sum(class_counts), "classes": sum(1 for n in class_counts if n),
             "images in the largest class": max(class_counts), "images in the smallest class": min(class_counts)}
    expected = {"images": known.num_images, "classes": known.num_classes,
                "images in the largest class": known.max_per_class,
                "images in the smallest class": known.min_per_class}
    hint = "pass check_counts=False for a subset or a synthetic fixture"
    for what, value in found.items():
        if value != expected[what]:
            raise DatasetError(f"{source} holds {value:,} {what}, but {title} has {expected[what]:,} "
                               f"({known.source}); {hint}")
    if known.per_class is not None and tuple(class_counts) != known.per_class:
        wrong = [f"class {c}: {n} (expected {e})" for c, (n, e) in
                 enumerate(zip(class_counts, known.per_class)) if n != e]
        raise DatasetError(f"{source}: {len(wrong)} classes differ from {title} ({known.source}), "
                           f"e.g. {', '.join(wrong[:5])}; {hint}")


def split_file_paths(benchmark: str, split_dir: Path, splits: Iterable[str] = SPLITS) -> dict[str, Path]:
    """The split files of ``splits`` in ``split_dir``; a :class:`DatasetError` names the first missing
    one and how to obtain the data (checked before anything is read)."""
    files = {split: split_dir / split_file_name(benchmark, split) for split in SPLITS if split in set(splits)}
    for path in files.values():
        if not path.is_file():
            raise DatasetError(f"{TITLE[benchmark]} split file {path} is missing; {HOW_TO_GET[benchmark]}")
    return files


def load_split_file_dataset(root: str | os.PathLike[str], benchmark: str = "imagenet_lt", split: str = "train",
                            split_dir: str | os.PathLike[str] | None = None,
                            check_counts: bool = True) -> FileListSplit:
    """The ``split`` of ``benchmark`` as a file list over the images under ``root``.

    Split files are read from ``split_dir`` (default ``root``). The class count C is the benchmark's
    (1,000 / 365 / 100) with ``check_counts``, otherwise the training file's largest label + 1; the
    training file is always read, for the class names (each class's folder, e.g. the wnid) and the
    check that no class lacks training images. ``check_counts=False`` skips only the known-count check.
    ``identity`` records the split file's sha256.
    """
    if benchmark not in BENCHMARKS:
        raise DatasetError(f"unknown split-file benchmark {benchmark!r}; expected one of {', '.join(BENCHMARKS)}")
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    root = Path(root)
    split_dir = root if split_dir is None else Path(split_dir)
    files = split_file_paths(benchmark, split_dir, {"train", split})
    train_paths, train_labels, train_lines = read_split_file(files["train"])
    paths, labels, lines = (train_paths, train_labels, train_lines) if split == "train" \
        else read_split_file(files[split])

    num_classes = (known_counts(benchmark, "train", split_dir).num_classes if check_counts
                   else max(int(train_labels.max()) + 1, 1))
    check_label_range(train_labels, num_classes, files["train"], train_lines)
    check_label_range(labels, num_classes, files[split], lines)
    train_counts = torch.bincount(train_labels, minlength=num_classes).tolist()
    class_counts = torch.bincount(labels, minlength=num_classes).tolist()
    if check_counts:  # the training file first: it identifies the benchmark
        check_known_counts(train_counts, known_counts(benchmark, "train", split_dir),
                           f"{TITLE[benchmark]} train", files["train"])
        check_known_counts(class_counts, known_counts(benchmark, split, split_dir),
                           f"{TITLE[benchmark]} {split}", files[split])
    class_names = [""] * num_classes
    for path, label in zip(reversed(train_paths), reversed(train_labels.tolist())):
        class_names[label] = Path(path).parent.name  # the first image of each class names it
    check_every_class_has_images(train_counts, files["train"], class_names)
    check_files_exist(root, paths, files[split], HOW_TO_GET[benchmark])
    identity = {"dataset": benchmark, "split": split, "split_file": files[split].name,
                "split_file_sha256": sha256_file(files[split]), "num_images": len(paths),
                "num_classes": num_classes, "counts_checked": check_counts}
    return FileListSplit(root=root, paths=paths, labels=labels, category_ids=list(range(num_classes)),
                         class_names=class_names, identity=identity)
