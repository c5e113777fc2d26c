"""iNaturalist 2017 / 2018 (Van Horn et al. 2018) as file lists, from the official COCO-style json files.

``images[].{id, file_name}`` and ``annotations[].{image_id, category_id}`` are joined BY IMAGE ID,
never by list position (a defect of the seed code, SPEC 9); labels are the category ids remapped to
0..C-1 in sorted id order, with the mapping kept. Train on ``train<year>.json``, evaluate on
``val<year>.json``; the public ``test<year>.json`` has no annotations and is refused. Images (about
580k / 460k) stay on disk: :class:`FileListDataset` opens each with PIL when it is indexed.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .errors import DatasetError

YEARS = (2017, 2018)
EXPECTED_CLASSES = {2017: 5089, 2018: 8142}
SPLITS = ("train", "val")
HOW_TO_GET = "get the images and json files from https://github.com/visipedia/inat_comp"


def json_name(year: int, split: str) -> str:
    """The official annotation file name, e.g. ``train2018.json``."""
    return f"{split}{year}.json"


@dataclass
class FileListSplit:
    """One split as a file list: ``paths`` relative to ``root``, ``labels`` int64 in 0..C-1.

    ``category_ids[label]`` is the original category id, ``class_names[label]`` its name.
    """

    root: Path
    paths: list[str]
    labels: torch.Tensor
    category_ids: list[int]
    class_names: list[str]
    identity: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def num_classes(self) -> int:
        return len(self.category_ids)

    def class_counts(self) -> list[int]:
        """Images per class, classes 0..C-1."""
        return torch.bincount(self.labels, minlength=self.num_classes).tolist()


def annotation_path(root: Path, year: int, split: str) -> Path:
    """``root/<split><year>.json``; a :class:`DatasetError` names it and how to get it when missing."""
    path = Path(root) / json_name(year, split)
    if not path.is_file():
        raise DatasetError(f"iNaturalist annotation file {path} is missing; {HOW_TO_GET}")
    return path


class FileListDataset(Dataset):
    """A :class:`FileListSplit` as a torch Dataset: ``(transform(RGB PIL image), label)`` per index."""

    def __init__(self, split: FileListSplit, transform: Callable[[Image.Image], Any] | None = None) -> None:
        self.split = split
        self.transform = transform

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        with Image.open(self.split.root / self.split.paths[index]) as image:
            rgb = image.convert("RGB")
        label = int(self.split.labels[index])
        return (self.transform(rgb) if self.transform is not None else rgb), label


def _field(entry: Any, key: str, where: str, path: Path) -> Any:
    if not isinstance(entry, dict) or key not in entry:
        raise DatasetError(f"{path}: an entry of {where!r} has no field {key!r}")
    return entry[key]


def read_coco_split(path: Path) -> tuple[list[str], np.ndarray, list[int], list[str]]:
    """``(file names, category id per image, sorted category ids, their names)`` of one json file.

    Every image needs exactly one annotation; an annotation of an unknown image id or category id,
    or a json without ``annotations``, raises DatasetError.
    """
    try:
        with open(path, encoding="utf-8") as f:
            content = json.load(f)
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path} is not valid json ({error}); {HOW_TO_GET}") from error
    if not isinstance(content, dict):
        raise DatasetError(f"{path} holds a json {type(content).__name__}, expected an object")
    if "annotations" not in content:
        raise DatasetError(f"{path} has no 'annotations' (the public test json is unlabelled); "
                           f"train on train<year>.json and evaluate on val<year>.json")
    for key in ("images", "categories"):
        if key not in content:
            raise DatasetError(f"{path} has no {key!r} list")
    image_ids = [_field(e, "id", "images", path) for e in content["images"]]
    files = [_field(e, "file_name", "images", path) for e in content["images"]]
    position = {image_id: i for i, image_id in enumerate(image_ids)}
    if len(position) != len(image_ids):
        raise DatasetError(f"{path}: 'images' repeats an image id")
    categories = sorted((_field(e, "id", "categories", path), str(e.get("name", e["id"])))
                        for e in content["categories"])
    known_categories = {cat_id for cat_id, _ in categories}
    image_category = np.full(len(image_ids), -1, dtype=np.int64)
    for annotation in content["annotations"]:
        image_id = _field(annotation, "image_id", "annotations", path)
        category_id = _field(annotation, "category_id", "annotations", path)
        if image_id not in position:
            raise DatasetError(f"{path}: an annotation references image_id {image_id!r}, not in 'images'")
        if category_id not in known_categories:
            raise DatasetError(f"{path}: an annotation references category_id {category_id!r}, "
                               f"not in 'categories'")
        if image_category[position[image_id]] != -1:
            raise DatasetError(f"{path}: image_id {image_id!r} has more than one annotation")
        image_category[position[image_id]] = category_id
    unlabelled = np.flatnonzero(image_category == -1)
    if len(unlabelled):
        raise DatasetError(f"{path}: {len(unlabelled)} images have no annotation, e.g. image_id "
                           f"{image_ids[unlabelled[0]]!r}")
    return files, image_category, [c for c, _ in categories], [n for _, n in categories]


def load_inaturalist(root: str | os.PathLike[str], year: int = 2018, split: str = "train") -> FileListSplit:
    """The ``split`` ("train" or "val") of iNaturalist ``year`` under ``root`` as a file list.

    Reads ``root/<split><year>.json``; image paths are its ``file_name`` values, relative to ``root``.
    A category count other than 5,089 (2017) / 8,142 (2018) gives a warning, not an error, so
    subsets (and test fixtures) load; results on them are not comparable with published numbers.
    """
    if year not in YEARS:
        raise DatasetError(f"unknown iNaturalist year {year!r}; expected one of {YEARS}")
    if split not in SPLITS:
        raise DatasetError(f"iNaturalist split {split!r} is not usable; expected one of {SPLITS} "
                           f"(the public test json has no labels: evaluate on 'val')")
    root = Path(root)
    path = annotation_path(root, year, split)
    files, image_category, category_ids, class_names = read_coco_split(path)
    labels = np.searchsorted(np.asarray(category_ids, dtype=np.int64), image_category)
    if len(category_ids) != EXPECTED_CLASSES[year]:
        warnings.warn(f"{path} has {len(category_ids)} categories, iNaturalist {year} has "
                      f"{EXPECTED_CLASSES[year]}: results are not comparable with published ones",
                      stacklevel=2)
    digest = hashlib.sha256(json.dumps([files, labels.tolist()]).encode()).hexdigest()[:16]
    identity = {"dataset": f"inaturalist{year}", "split": split, "json": path.name,
                "num_images": len(files), "num_classes": len(category_ids), "files_hash": digest}
    return FileListSplit(root=root, paths=list(files), labels=torch.from_numpy(labels.astype(np.int64)),
                         category_ids=category_ids, class_names=class_names, identity=identity)
