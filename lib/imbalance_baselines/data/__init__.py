"""Datasets: long-tailed CIFAR-10/100, iNaturalist 2017/2018 file lists, synthetic data (SPEC 1).

Image datasets are built by name from :data:`DATASETS` and return a :class:`LongTailedData`::

    data = DATASETS.build("cifar10_lt", root="data", imbalance_factor=100, val_per_class=100)

The large benchmarks (ImageNet-LT, Places-LT, mini-ImageNet-LT, iNaturalist) build a
:class:`FileListData` instead: file lists streamed by the JPEG pipeline, their images being too many
for memory.
"""

from __future__ import annotations

import os
from functools import partial

from ..registry import Registry
from .bundle import ImageSplit, LongTailedData, channel_stats, indices_hash
from .cifar import download_cifar, load_cifar_lt, read_cifar, read_cifar_pickle
from .errors import DatasetError
from .image_folder import read_image_folder
from .inaturalist import FileListDataset, FileListSplit, load_inaturalist
from .longtail import FullData, make_long_tailed
from .profiles import counts, select_subset, split_validation
from .synthetic import (make_images, make_split, make_synthetic_lt, write_cifar_pickle, write_image_folder,
                        write_inaturalist_fixture)
from .file_lists import FileListData, inaturalist_data, split_file_data, synthetic_split_files
from .jpeg_pipeline import JpegDataset, JpegLoader, eval_transform, make_loader, train_transform
from .mini_imagenet import build_mini_imagenet_lt, mini_imagenet_classes
from .split_files import KNOWN_COUNTS, load_split_file_dataset
from .split_fixtures import write_imagenet_train_tree, write_split_file_fixture

DATASETS = Registry("dataset")


for _release in ("cifar10", "cifar100"):  # CIFAR-10-LT / CIFAR-100-LT: parameters as load_cifar_lt
    DATASETS.register(f"{_release}_lt")(partial(load_cifar_lt, name=_release))


@DATASETS.register("synthetic_lt")
def synthetic_lt(root: str | os.PathLike[str] | None = None, num_classes: int = 10, n_max: int = 100,
                 imbalance_factor: float = 10.0, profile: str = "exp", selection: str = "random",
                 selection_seed: int = 0, val_per_class: int = 0, test_per_class: int = 20,
                 image_size: int = 32, seed: int = 0) -> LongTailedData:
    """Synthetic long-tailed data in memory (:func:`make_synthetic_lt`); ``root`` is accepted for a
    uniform call and not used."""
    return make_synthetic_lt(num_classes, n_max, imbalance_factor, profile, selection, selection_seed,
                             val_per_class, test_per_class, image_size, seed)


for _benchmark in ("imagenet_lt", "places_lt", "mini_imagenet_lt"):
    DATASETS.register(_benchmark)(partial(split_file_data, benchmark=_benchmark))
for _year in (2017, 2018):
    DATASETS.register(f"inaturalist{_year}")(partial(inaturalist_data, year=_year))
DATASETS.register("synthetic_split_files")(synthetic_split_files)

__all__ = [
    "DATASETS", "DatasetError", "FileListData", "FileListDataset", "FileListSplit", "FullData", "ImageSplit",
    "JpegDataset", "JpegLoader", "KNOWN_COUNTS", "LongTailedData", "build_mini_imagenet_lt", "channel_stats",
    "counts", "download_cifar", "eval_transform", "indices_hash", "inaturalist_data", "load_cifar_lt",
    "load_inaturalist", "load_split_file_dataset", "make_images", "make_loader", "make_long_tailed",
    "make_split", "make_synthetic_lt", "mini_imagenet_classes", "read_cifar", "read_cifar_pickle",
    "read_image_folder", "select_subset", "split_file_data", "split_validation", "synthetic_split_files",
    "train_transform", "write_cifar_pickle", "write_image_folder", "write_imagenet_train_tree",
    "write_inaturalist_fixture", "write_split_file_fixture",
]
