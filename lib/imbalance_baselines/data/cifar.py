"""CIFAR-10 / CIFAR-100 (Krizhevsky 2009) and their long-tailed versions (Cui et al. 2019; Cao et al. 2019).

Two on-disk formats: the official python-pickle release (``cifar-10-batches-py/``,
``cifar-100-python/``; read with a restricted unpickler, checked for truncation and array sizes) and an
image-folder tree (:mod:`.image_folder`). Both decode once into the decode cache (:mod:`.cache`) and
go through the same long-tailed step (:func:`.longtail.make_long_tailed`).

The official md5 sums are checked only on archives this module downloads: the shared development copy
holds the official pixels in another image order, so its pickle files have other md5 sums.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torchvision.datasets import utils as tv_utils

from .bundle import LongTailedData
from .cache import cached_arrays
from .errors import DatasetError
from .image_folder import find_image_folder, read_image_folder
from .longtail import FullData, make_long_tailed

SOURCES = ("auto", "pickle", "folder")
HOW_TO_GET = ("pass download=True (needs internet), or unpack the shared lossless copy with "
              "`python3 shared/data/unpack_cifar.py DATA_DIR`")


@dataclass(frozen=True)
class CifarRelease:
    """Where and how the official python release of one CIFAR dataset is laid out."""

    folder: str
    url: str
    archive: str
    md5: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str
    names_key: str
    labels_key: str

    @property
    def files(self) -> tuple[str, ...]:
        """Every file of the release folder."""
        return (*self.train_files, *self.test_files, self.meta_file)


RELEASES = {
    "cifar10": CifarRelease(
        folder="cifar-10-batches-py", url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        archive="cifar-10-python.tar.gz", md5="c58f30108f718f92721af3b95e74349a",
        train_files=tuple(f"data_batch_{i}" for i in range(1, 6)), test_files=("test_batch",),
        meta_file="batches.meta", names_key="label_names", labels_key="labels"),
    "cifar100": CifarRelease(
        folder="cifar-100-python", url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        archive="cifar-100-python.tar.gz", md5="eb9058c3a382ffc7106e4002c42a8d85",
        train_files=("train",), test_files=("test",), meta_file="meta",
        names_key="fine_label_names", labels_key="fine_labels"),
}


def cifar_release(name: str) -> CifarRelease:
    """The official release layout of ``"cifar10"`` or ``"cifar100"``."""
    if name not in RELEASES:
        raise DatasetError(f"unknown CIFAR dataset name {name!r}; expected one of {', '.join(RELEASES)}")
    return RELEASES[name]


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only plain containers and numpy arrays (what the CIFAR files hold), nothing executable."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}")
        return super().find_class(module, name)


def _text(value: object) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else str(value)


def _unpickle(path: Path) -> dict[str, object]:
    """A CIFAR pickle file as a dict with str keys; a truncated or corrupted file raises DatasetError."""
    try:
        with open(path, "rb") as f:
            content = _ArrayUnpickler(f, encoding="latin1").load()
    # Unpickling damaged bytes can raise almost any exception type (pickle module docs).
    except Exception as error:
        raise DatasetError(f"CIFAR file {path} is truncated or corrupted ({type(error).__name__}: "
                           f"{error}); delete it and {HOW_TO_GET}") from error
    if not isinstance(content, dict):
        raise DatasetError(f"CIFAR file {path} holds a {type(content).__name__}, expected a dict")
    return {_text(key): value for key, value in content.items()}


def _read_batches(folder: Path, files: tuple[str, ...], labels_key: str,
                  num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [N, 3, 32, 32] images and int64 labels of the given batch files, concatenated."""
    images, labels = [], []
    for file in files:
        path = folder / file
        batch = _unpickle(path)
        data = batch.get("data")
        if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
                and data.shape[1] == 3072):
            got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
            raise DatasetError(f"CIFAR file {path}: field 'data' must be uint8 (N, 3072), got {got}")
        if labels_key not in batch:
            raise DatasetError(f"CIFAR file {path} has no field {labels_key!r}")
        y = np.asarray(batch[labels_key], dtype=np.int64)
        if y.shape != (len(data),) or (len(y) and (y.min() < 0 or y.max() >= num_classes)):
            raise DatasetError(f"CIFAR file {path}: field {labels_key!r} must hold {len(data)} labels in "
                               f"0..{num_classes - 1}, got {y.shape[0]} in "
                               f"{y.min(initial=0)}..{y.max(initial=0)}")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels)


def download_cifar(root: str | os.PathLike[str], name: str = "cifar10") -> Path:
    """Download and extract the official release into ``root`` unless its files are all present.

    Uses torchvision's ``download_and_extract_archive`` with the official URL and md5; a failed, truncated
    or md5-mismatching download raises DatasetError naming the archive.
    """
    release = cifar_release(name)
    folder = Path(root) / release.folder
    if all((folder / f).is_file() for f in release.files):
        return folder
    archive = Path(root) / release.archive
    try:
        tv_utils.download_and_extract_archive(release.url, str(root), filename=release.archive,
                                              md5=release.md5)
    # torchvision raises RuntimeError("File not found or corrupted.") on an md5 mismatch;
    # network failures are URLError, an OSError.
    except (RuntimeError, OSError) as error:
        raise DatasetError(f"download of {release.url} to {archive} failed or does not match md5 "
                           f"{release.md5} ({error}); delete {archive} and retry, or unpack the shared copy "
                           f"with `python3 shared/data/unpack_cifar.py {root}`") from error
    return folder


def read_cifar_pickle(root: str | os.PathLike[str], name: str = "cifar10", cache: bool = True) -> FullData:
    """Full train and test splits of the official python release under ``root/<release folder>``."""
    release = cifar_release(name)
    folder = Path(root) / release.folder
    for file in release.files:
        if not (folder / file).is_file():
            raise DatasetError(f"CIFAR file {folder / file} is missing; {HOW_TO_GET}")
    meta = _unpickle(folder / release.meta_file)
    if release.names_key not in meta:
        raise DatasetError(f"CIFAR file {folder / release.meta_file} has no field {release.names_key!r}")
    class_names = [_text(n) for n in meta[release.names_key]]  # type: ignore[union-attr]

    def decode() -> dict[str, np.ndarray]:
        arrays = {}
        for split, split_files in (("train", release.train_files), ("test", release.test_files)):
            arrays[f"{split}_images"], arrays[f"{split}_labels"] = _read_batches(
                folder, split_files, release.labels_key, len(class_names))
        return arrays

    arrays = cached_arrays(folder, f"{name}-pickle", [folder / f for f in release.files], decode, enabled=cache)
    return FullData.from_arrays(arrays, class_names, source="pickle")


def read_cifar(root: str | os.PathLike[str], name: str = "cifar10", source: str = "auto",
               download: bool = False, cache: bool = True) -> FullData:
    """Full train and test splits from either format.

    ``source="auto"`` reads the pickle release if ``root/<release folder>`` exists, else an image-folder
    tree ``root/{train,test}/<class>/``. ``download=True`` fetches the official release when neither
    is present (or when ``source="pickle"`` and its files are missing).
    """
    release = cifar_release(name)
    if source not in SOURCES:
        raise DatasetError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    if source == "auto":
        if (Path(root) / release.folder).is_dir():
            source = "pickle"
        elif find_image_folder(root):
            source = "folder"
        elif download:
            source = "pickle"
        else:
            raise DatasetError(f"no {name} data under {root}: expected {Path(root) / release.folder}/ "
                               f"(python release) or {root}/{{train,test}}/<class>/ (image folder); "
                               f"{HOW_TO_GET}")
    if source == "folder":
        return read_image_folder(root, cache=cache)
    if download:
        download_cifar(root, name)
    return read_cifar_pickle(root, name, cache=cache)


def load_cifar_lt(root: str | os.PathLike[str], name: str = "cifar10", imbalance_factor: float = 100.0,
                  profile: str = "exp", selection: str = "random", selection_seed: int = 0,
                  val_per_class: int = 0, source: str = "auto", download: bool = False,
                  cache: bool = True) -> LongTailedData:
    """CIFAR-10-LT / CIFAR-100-LT: the long-tailed training subset, validation split and balanced test set.

    Profile and selection as in SPEC 1 (:mod:`.profiles`); n_max is 5,000 (CIFAR-10) or 500 (CIFAR-100).
    Note: on the shared lossless copy, whose image order is not the official one, ``selection="first"``
    (and any seeded subset) keeps other images than on the official files; ``identity`` records
    ``train_images_hash`` to tell them apart.
    """
    full = read_cifar(root, name, source=source, download=download, cache=cache)
    return make_long_tailed(name, full, imbalance_factor=imbalance_factor, profile=profile,
                            selection=selection, selection_seed=selection_seed, val_per_class=val_per_class)
