"""Synthetic image data for tests and smoke runs, in memory and written in the real on-disk formats.

Each class has its own colour and stripe pattern (period and orientation), plus seeded noise, so a tiny
CNN separates the classes in a few steps while no two images are equal. The writers produce the real
formats (CIFAR python pickles, PNG image folders, iNaturalist-style json + JPEGs), so tests exercise
the real loading code (SPEC 1, "Synthetic data").
"""

from __future__ import annotations

import colorsys
import json
import os
import pickle
import struct
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from .bundle import ImageSplit, LongTailedData
from .cifar import cifar_release
from .inaturalist import json_name
from .longtail import FullData, make_long_tailed

NOISE_STD = 16.0


def make_images(labels: Sequence[int] | np.ndarray, num_classes: int, image_size: int = 32,
                seed: int = 0) -> np.ndarray:
    """uint8 [N, 3, S, S] images: class c's colour (hue c / C) on stripes of period 2 + c % 4, horizontal
    for even ``c // 4`` and vertical otherwise, plus Gaussian noise (std 16) from ``default_rng(seed)``."""
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    grid = np.arange(image_size)
    patterns = np.empty((num_classes, 3, image_size, image_size), dtype=np.float64)
    for c in range(num_classes):
        colour = np.array(colorsys.hsv_to_rgb(c / num_classes, 0.8, 0.9)) * 255.0
        period = 2 + c % 4
        stripes = (grid % period < period / 2).astype(np.float64)
        rows = np.tile(stripes[:, None], (1, image_size))
        plane = rows if (c // 4) % 2 == 0 else rows.T
        patterns[c] = colour[:, None, None] * (0.35 + 0.65 * plane)
    noisy = patterns[labels] + rng.normal(0.0, NOISE_STD, size=(len(labels), 3, image_size, image_size))
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def make_split(per_class: Sequence[int], image_size: int = 32, seed: int = 0) -> ImageSplit:
    """An ImageSplit with ``per_class[c]`` images of class c, classes interleaved in a seeded order."""
    labels = np.repeat(np.arange(len(per_class)), per_class)
    labels = np.random.default_rng([seed, 0]).permutation(labels)
    images = make_images(labels, len(per_class), image_size, seed)
    return ImageSplit(torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)))


def make_synthetic_lt(num_classes: int = 10, n_max: int = 100, imbalance_factor: float = 10.0,
                      profile: str = "exp", selection: str = "random", selection_seed: int = 0,
                      val_per_class: int = 0, test_per_class: int = 20, image_size: int = 32,
                      seed: int = 0) -> LongTailedData:
    """An in-memory long-tailed dataset: ``n_max`` images per class drawn, then cut to the profile with
    the same code as CIFAR (:func:`.longtail.make_long_tailed`); a balanced test set."""
    full = FullData(train=make_split([n_max] * num_classes, image_size, seed),
                    test=make_split([test_per_class] * num_classes, image_size, seed + 1),
                    class_names=[f"class_{c}" for c in range(num_classes)], source="synthetic")
    data = make_long_tailed("synthetic", full, imbalance_factor=imbalance_factor, profile=profile,
                            selection=selection, selection_seed=selection_seed, val_per_class=val_per_class)
    data.identity.update(image_size=image_size, data_seed=seed, test_per_class=test_per_class)
    return data


class _Py2Pickler(pickle._Pickler):  # type: ignore[misc]
    """Pickles bytes as Python 2 str (protocol 2), as in the official (Python 2) CIFAR files: they load
    with str keys under ``encoding="latin1"`` and bytes keys under ``encoding="bytes"``."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def _save_py2_str(self, obj: bytes) -> None:
        n = len(obj)
        self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj if n < 256
                   else pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def _dump(obj: dict[bytes, Any], path: Path) -> None:
    with open(path, "wb") as f:
        _Py2Pickler(f, protocol=2).dump(obj)


def _batch(split: ImageSplit, labels_key: str, batch_label: str, ids: Sequence[int]) -> dict[bytes, Any]:
    return {b"batch_label": batch_label.encode(), labels_key.encode(): split.labels.tolist(),
            b"data": split.images.numpy().reshape(len(split), 3072),
            b"filenames": [f"synthetic_{i:06d}.png".encode() for i in ids]}


def write_cifar_pickle(root: str | os.PathLike[str], name: str, train: ImageSplit, test: ImageSplit,
                       class_names: Sequence[str]) -> Path:
    """Write 32x32 splits in the official python layout under ``root/<release folder>``; returns it.

    ``data`` uint8 (N, 3072) (R plane, G, B, row-major), ``labels`` (CIFAR-10, five ``data_batch_i`` of
    near-equal size, ``test_batch``, ``batches.meta`` with ``label_names``) or ``fine_labels`` and
    ``coarse_labels`` (CIFAR-100, ``train``, ``test``, ``meta`` with ``fine_label_names`` and
    ``coarse_label_names``; here coarse class = fine class * 20 // C).
    """
    release = cifar_release(name)
    folder = Path(root) / release.folder
    folder.mkdir(parents=True, exist_ok=True)
    names = [n.encode() for n in class_names]
    if name == "cifar10":
        parts = np.array_split(np.arange(len(train)), len(release.train_files))
        for i, (file, part) in enumerate(zip(release.train_files, parts)):
            index = torch.from_numpy(part)
            _dump(_batch(ImageSplit(train.images[index], train.labels[index]), "labels",
                         f"training batch {i + 1} of 5", part), folder / file)
        _dump(_batch(test, "labels", "testing batch 1 of 1", range(len(test))), folder / "test_batch")
        _dump({b"num_cases_per_batch": int(len(parts[0])), b"label_names": names, b"num_vis": 3072},
              folder / release.meta_file)
        return folder
    for file, split, label in (("train", train, "training"), ("test", test, "testing")):
        batch = _batch(split, "fine_labels", f"{label} batch 1 of 1", range(len(split)))
        batch[b"coarse_labels"] = (split.labels * 20 // len(class_names)).tolist()
        _dump(batch, folder / file)
    _dump({b"fine_label_names": names, b"coarse_label_names": [f"coarse_{k}".encode() for k in range(20)]},
          folder / release.meta_file)
    return folder


def write_image_folder(root: str | os.PathLike[str], train: ImageSplit, test: ImageSplit,
                       class_names: Sequence[str]) -> Path:
    """Write ``root/{train,test}/<class>/<index:06d>.png`` (index = position in the split); returns root.

    The folder reader returns images class by class, so a split sorted by label reads back in its order.
    """
    root = Path(root)
    for split_name, split in (("train", train), ("test", test)):
        for name in class_names:
            (root / split_name / name).mkdir(parents=True, exist_ok=True)
        for i, (image, label) in enumerate(zip(split.images.numpy(), split.labels.tolist())):
            path = root / split_name / class_names[label] / f"{i:06d}.png"
            Image.fromarray(image.transpose(1, 2, 0)).save(path)
    return root


def write_inaturalist_fixture(root: str | os.PathLike[str], year: int = 2018,
                              train_per_class: Sequence[int] = (6, 4, 2), val_per_class: int = 2,
                              test_images: int = 3, image_size: int = 16, seed: int = 0) -> Path:
    """A tiny iNaturalist tree: JPEGs and ``train/val/test<year>.json`` in the official COCO-style layout.

    Category ids are sparse and listed unsorted (class k has id ``1000 - 7 k``, so the remapped label
    of class k is C-1-k); image ids are random; annotations are listed in a shuffled order relative to
    the images; the test json has no annotations. Image folders follow the year's layout:
    ``train_val_images/<supercategory>/<name>/`` (2017), ``train_val2018/<supercategory>/<id>/`` (2018).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    num_classes = len(train_per_class)
    category_ids = [1000 - 7 * k for k in range(num_classes)]
    categories = [{"id": category_ids[k], "name": f"Species {k}", "supercategory": "Synthetica"}
                  for k in rng.permutation(num_classes)]
    base = "train_val_images" if year == 2017 else f"train_val{year}"
    image_ids = iter(rng.choice(10**6, size=num_classes * val_per_class + sum(train_per_class) + test_images,
                                replace=False).tolist())

    def write(split: str, per_class: Sequence[int]) -> dict[str, Any]:
        classes = np.repeat(np.arange(len(per_class)), per_class)
        images, annotations = [], []
        for k, pixels in zip(classes.tolist(), make_images(classes, num_classes, image_size, seed)):
            image_id = next(image_ids)
            species = f"Species {k}" if year == 2017 else str(category_ids[k])
            folder = f"test{year}" if split == "test" else f"{base}/Synthetica/{species}"
            file_name = f"{folder}/{image_id}.jpg"
            (root / file_name).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels.transpose(1, 2, 0)).save(root / file_name, quality=95)
            images.append({"id": image_id, "file_name": file_name, "width": image_size, "height": image_size})
            annotations.append({"id": len(annotations), "image_id": image_id, "category_id": category_ids[k]})
        content: dict[str, Any] = {"info": {"year": year, "description": "synthetic fixture"},
                                   "images": images, "categories": categories}
        if split != "test":
            content["annotations"] = [annotations[i] for i in rng.permutation(len(annotations))]
        return content

    for split, per_class in (("train", train_per_class), ("val", [val_per_class] * num_classes),
                             ("test", [test_images])):
        content = write(split, per_class)
        (root / json_name(year, split)).write_text(json.dumps(content), encoding="utf-8")
    return root
