"""Reader for an image-folder tree ``root/{train,test}/<class>/*.{png,jpg,jpeg}``.

Classes are the sorted folder names of ``train`` (hidden folders skipped); images within a class are
read in sorted file-name order. Every image must have the same size; it is converted to RGB and
decoded once into the decode cache (:mod:`.cache`), keyed by every image file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .cache import cached_arrays
from .errors import DatasetError
from .longtail import FullData

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
SPLITS = ("train", "test")


def _class_dirs(split_dir: Path) -> list[str]:
    return sorted(d.name for d in split_dir.iterdir() if d.is_dir() and not d.name.startswith("."))


def _list_split(split_dir: Path, class_names: list[str]) -> list[tuple[Path, int]]:
    """(image path, class index) for every image of a split, in class then file-name order."""
    files = []
    for label, name in enumerate(class_names):
        images = sorted(p for p in (split_dir / name).iterdir()
                        if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))
        if not images:
            raise DatasetError(f"class folder {split_dir / name} holds no "
                               f"{'/'.join(IMAGE_EXTENSIONS)} images")
        files += [(p, label) for p in images]
    return files


def _decode(files: list[tuple[Path, int]]) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [N, 3, H, W] RGB images and int64 labels."""
    first_size = None
    images = []
    for path, _ in files:
        try:
            with Image.open(path) as image:
                array = np.asarray(image.convert("RGB"))
        except (OSError, UnidentifiedImageError) as error:
            raise DatasetError(f"cannot decode image {path}: {error}") from error
        if first_size is None:
            first_size = array.shape
        elif array.shape != first_size:
            raise DatasetError(f"image {path} is {array.shape[1]}x{array.shape[0]}, expected "
                               f"{first_size[1]}x{first_size[0]} like {files[0][0]}")
        images.append(array)
    return (np.stack(images).transpose(0, 3, 1, 2).copy(),
            np.array([label for _, label in files], dtype=np.int64))


def find_image_folder(root: str | os.PathLike[str]) -> bool:
    """Whether ``root`` holds the ``train`` and ``test`` folders of an image-folder tree."""
    return all((Path(root) / split).is_dir() for split in SPLITS)


def read_image_folder(root: str | os.PathLike[str], cache: bool = True) -> FullData:
    """Full train and test splits of ``root/{train,test}/<class>/*``; the test split must have exactly
    the training classes."""
    root = Path(root)
    for split in SPLITS:
        if not (root / split).is_dir():
            raise DatasetError(f"image folder {root / split} is missing; expected "
                               f"{root}/{{train,test}}/<class>/*.png|jpg")
    class_names = _class_dirs(root / "train")
    if not class_names:
        raise DatasetError(f"{root / 'train'} has no class folders")
    test_classes = _class_dirs(root / "test")
    missing = [c for c in class_names if c not in test_classes]
    extra = [c for c in test_classes if c not in class_names]
    if missing or extra:
        raise DatasetError(f"{root / 'test'} must have the classes of {root / 'train'}: "
                           f"missing {missing}, not in train {extra}")
    files = {split: _list_split(root / split, class_names) for split in SPLITS}

    def decode() -> dict[str, np.ndarray]:
        arrays = {}
        for split in SPLITS:
            arrays[f"{split}_images"], arrays[f"{split}_labels"] = _decode(files[split])
        return arrays

    sources = [path for split in SPLITS for path, _ in files[split]]
    arrays = cached_arrays(root, "image-folder", sources, decode, enabled=cache)
    return FullData.from_arrays(arrays, class_names, source="folder")
