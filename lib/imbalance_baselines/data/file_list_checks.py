"""Checks every file-list dataset needs before training starts (images on disk, labels, classes).

A file list (:class:`~.inaturalist.FileListSplit`) names images relative to a root; these checks
turn the failures a long run would otherwise hit hours in (a missing image, a label past the
classifier, a class the model never sees) into one :class:`~.errors.DatasetError` at load time, naming
the list file and the offending entries. They are shared by the split-file datasets (ImageNet-LT,
Places-LT, mini-ImageNet-LT) and usable by any other file list (e.g. iNaturalist).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

import torch

from .errors import DatasetError

SHOW_FIRST = 5  # how many offending entries a message lists


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The full sha256 hex digest of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _first(items: Sequence[object]) -> str:
    shown = ", ".join(str(item) for item in items[:SHOW_FIRST])
    return shown + (", ..." if len(items) > SHOW_FIRST else "")


def check_files_exist(root: Path, paths: Sequence[str], source: str | os.PathLike[str],
                      how_to_get: str = "") -> None:
    """Every ``root / path`` is a file; otherwise one error with the count and the first missing ones."""
    missing = [p for p in paths if not os.path.isfile(os.path.join(root, p))]
    if missing:
        hint = f"; {how_to_get}" if how_to_get else ""
        raise DatasetError(f"{source}: {len(missing)} of {len(paths)} listed images are missing under "
                           f"{root}, e.g. {_first(missing)}{hint}")


def check_label_range(labels: torch.Tensor, num_classes: int, source: str | os.PathLike[str],
                      line_numbers: Sequence[int] | None = None) -> None:
    """Labels are integers in 0..num_classes-1; the message names the first bad lines."""
    bad = torch.nonzero((labels < 0) | (labels >= num_classes)).flatten().tolist()
    if bad:
        where = [f"line {line_numbers[i] if line_numbers else i + 1}: {int(labels[i])}" for i in bad]
        raise DatasetError(f"{source}: {len(bad)} labels are outside 0..{num_classes - 1} "
                           f"({num_classes} classes), e.g. {_first(where)}")


def check_every_class_has_images(class_counts: Sequence[int], source: str | os.PathLike[str],
                                 class_names: Sequence[str] | None = None) -> None:
    """No class of 0..C-1 is without (training) images: the model could never learn it."""
    empty = [c for c, n in enumerate(class_counts) if n == 0]
    if empty:
        named = [f"{c} ({class_names[c]})" if class_names and class_names[c] else str(c) for c in empty]
        raise DatasetError(f"{source}: {len(empty)} of {len(class_counts)} classes have no training "
                           f"image: {_first(named)}")
