"""mini-ImageNet-LT as TailCalibX defines it (Vigneswaran et al. 2021), built as split files.

Vigneswaran, Law, Balasubramanian and Tapaswi, "Feature Generation for Long-tail Classification",
ICVGIP 2021 (TailCalibX), notebook ``Create_mini-ImageNet-LT.ipynb``: the 100 classes of mini-ImageNet
(Vinyals et al. 2016, split of Ravi & Larochelle 2017; ``resources/mini_imagenet_classes.txt``), from
the ImageNet train folder; per class 500 training, 100 validation and 100 test images; then the
exponential profile (Cui et al. 2019) over the training part, IF 100: 500 down to 5 images, 10,847 in
all. Labels are the classes in sorted-wnid order (the notebook's ``np.unique``), label 0 the head.

Two defects of the notebook are not reproduced: its val and test images of some classes come from
independent permutations and can overlap with train, and nothing is seeded. Here ONE seeded
permutation per class (``np.random.default_rng(seed)``, classes in label order) is cut into train /
val / test, so the three are disjoint by construction, and the build records the split files' sha256.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import DatasetError
from .file_list_checks import sha256_file
from .profiles import counts
from .split_files import BUILD_RECORD, HOW_TO_GET, SPLITS, split_file_name

BENCHMARK = "mini_imagenet_lt"
SPLIT_SIZES = (500, 100, 100)  # train, val, test images drawn per class
IMAGE_SUFFIXES = (".jpeg", ".jpg")


def mini_imagenet_classes() -> list[str]:
    """The 100 mini-ImageNet WordNet ids, in the order of the shipped list (comment lines skipped)."""
    text = resources.files("imbalance_baselines").joinpath("resources/mini_imagenet_classes.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _class_images(train_dir: Path, wnid: str) -> list[str]:
    """A class's JPEG file names, sorted (hidden files skipped)."""
    return sorted(p.name for p in (train_dir / wnid).iterdir()
                  if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file())


def _check_classes(train_dir: Path, classes: Sequence[str]) -> None:
    repeated = sorted(w for w in set(classes) if list(classes).count(w) > 1)
    if repeated:
        raise DatasetError(f"the class list repeats wnids: {repeated}")
    if not train_dir.is_dir():
        raise DatasetError(f"ImageNet train folder {train_dir} is missing; {HOW_TO_GET[BENCHMARK]}")
    missing = [w for w in classes if not (train_dir / w).is_dir()]
    if missing:
        raise DatasetError(f"{train_dir} lacks {len(missing)} of the {len(classes)} mini-ImageNet classes, "
                           f"e.g. {', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}; "
                           f"{HOW_TO_GET[BENCHMARK]}")


def build_mini_imagenet_lt(imagenet_root: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                           imbalance_factor: float = 100.0, seed: int = 0,
                           classes: Sequence[str] | None = None,
                           split_sizes: Sequence[int] = SPLIT_SIZES) -> dict[str, Any]:
    """Write ``mini_ImageNet_LT_{train,val,test}.txt`` and the build record into ``out_dir``.

    ``imagenet_root`` holds ``train/<wnid>/*.JPEG``; split-file paths are ``train/<wnid>/<file>``,
    relative to it, so :func:`~.split_files.load_split_file_dataset` reads the build with
    ``root=imagenet_root, benchmark="mini_imagenet_lt", split_dir=out_dir``. ``classes`` (default the
    100 wnids) and ``split_sizes`` (train, val, test per class; default 500/100/100) exist for small
    test trees. Per class, in label order, one permutation from ``default_rng(seed)`` of the class's
    sorted file names gives train = the first n_train, val = the next n_val, test = the next n_test;
    class c keeps the first ``counts(n_train, C, imbalance_factor)[c]`` of its train part.
    Returns the record (also written as ``mini_ImageNet_LT_build.json``): the settings, the wnid of
    each label, the per-class counts of each split and each split file's sha256.
    """
    classes = list(mini_imagenet_classes() if classes is None else classes)
    n_train, n_val, n_test = (int(n) for n in split_sizes)
    train_dir = Path(imagenet_root) / "train"
    _check_classes(train_dir, classes)
    wnids = sorted(classes)
    train_counts = counts(n_train, len(wnids), imbalance_factor)
    rng = np.random.default_rng(seed)
    lines: dict[str, list[str]] = {split: [] for split in SPLITS}
    for label, wnid in enumerate(wnids):
        files = _class_images(train_dir, wnid)
        if len(files) < n_train + n_val + n_test:
            raise DatasetError(f"{train_dir / wnid} has {len(files)} images; mini-ImageNet-LT needs "
                               f"{n_train + n_val + n_test} per class ({n_train} train, {n_val} val, "
                               f"{n_test} test)")
        order = rng.permutation(len(files))
        parts = {"train": order[:train_counts[label]], "val": order[n_train:n_train + n_val],
                 "test": order[n_train + n_val:n_train + n_val + n_test]}
        for split, picked in parts.items():
            lines[split] += [f"train/{wnid}/{files[i]} {label}" for i in sorted(picked.tolist())]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sha256 = {}
    for split in SPLITS:
        path = out / split_file_name(BENCHMARK, split)
        path.write_text("\n".join(lines[split]) + "\n", encoding="utf-8")
        sha256[split] = sha256_file(path)
    record: dict[str, Any] = {
        "benchmark": BENCHMARK, "definition": "Vigneswaran et al. 2021 (TailCalibX), disjoint seeded splits",
        "imbalance_factor": float(imbalance_factor), "profile": "exp", "seed": seed,
        "split_sizes": [n_train, n_val, n_test], "classes": wnids,
        "counts": {"train": train_counts, "val": [n_val] * len(wnids), "test": [n_test] * len(wnids)},
        "split_files": {split: split_file_name(BENCHMARK, split) for split in SPLITS},
        "sha256": sha256,
    }
    (out / BUILD_RECORD).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return record
