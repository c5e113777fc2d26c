"""A dataset's parameters checked before anything is loaded: names, types, ranges, files present.

``check_options(name, options)`` compares ``options`` with the signature of the registered loader
(unknown name, wrong type) and with the ranges below; ``planned_train_counts`` gives the training
images per class the loader will produce (SPEC 1: the exponential or step profile, minus the head
images a validation split takes), without reading an image; ``check_present`` says, before any
work, which file is missing and how to get it. Every refusal is one line naming the field, its value
and what is allowed.
"""

from __future__ import annotations

import inspect
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import DatasetError
from .profiles import PROFILES, counts

Check = tuple[Callable[[Any], bool], str]


def _integer(minimum: int) -> Check:
    return (lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum,
            f"an integer >= {minimum}")


def _number(minimum: float) -> Check:
    return (lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool) and v >= minimum,
            f"a number >= {minimum:g}")


def _one_of(*choices: str) -> Check:
    return (lambda v: v in choices, " or ".join(repr(c) for c in choices))


# Ranges of loader parameters, by name (a name means the same thing for every loader).
RANGES: dict[str, Check] = {
    "imbalance_factor": _number(1),
    "n_max": _integer(1),
    "num_classes": _integer(2),
    "val_per_class": _integer(0),
    "test_per_class": _integer(1),
    "selection_seed": _integer(0),
    "seed": _integer(0),
    "image_size": _integer(8),
    "file_size": _integer(8),
    "workers": _integer(0),
    "profile": _one_of(*PROFILES),
    "selection": _one_of("random", "first"),
    "source": _one_of("auto", "pickle", "folder"),
    "class_counts": (lambda v: isinstance(v, (list, tuple)) and len(v) >= 2 and all(
        isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1 for n in v),
        "a list of at least 2 positive integers"),
}
# Images per class in the official training sets (n_max of the long-tailed profile).
CIFAR_SIZES = {"cifar10_lt": (10, 5000, "cifar10"), "cifar100_lt": (100, 500, "cifar100")}


def loader_parameters(name: str) -> dict[str, Any]:
    """The registered loader's keyword parameters and defaults (``root`` excluded)."""
    from . import DATASETS

    signature = inspect.signature(DATASETS.get(name))
    return {p.name: p.default for p in signature.parameters.values()
            if p.name not in ("root", "name", "benchmark", "year") and p.default is not inspect.Parameter.empty}


def same_kind(value: Any, default: Any) -> bool:
    """Whether ``value`` may replace ``default`` (ints pass for floats; None defaults take anything)."""
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, numbers.Real)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def check_options(name: str, options: Mapping[str, Any]) -> None:
    """Unknown option, wrong type or out-of-range value of dataset ``name``: one ``DatasetError``."""
    allowed = loader_parameters(name)
    for key, value in options.items():
        if key not in allowed:
            raise DatasetError(f"dataset.{key}={value!r} is not a parameter of {name}; "
                               f"allowed: {', '.join(sorted(allowed))}")
        if not same_kind(value, allowed[key]):
            raise DatasetError(f"dataset.{key}={value!r} has type {type(value).__name__}; "
                               f"allowed: {type(allowed[key]).__name__}")
        if key in RANGES and not RANGES[key][0](value):
            raise DatasetError(f"dataset.{key}={value!r} is out of range; allowed: {RANGES[key][1]}")


def _profile_counts(available: Sequence[int], n_max: int, num_classes: int, options: Mapping[str, Any],
                    defaults: Mapping[str, Any]) -> list[int]:
    """Kept images per class minus those the validation split takes from the kept ones (SPEC 1)."""
    get = lambda key: options.get(key, defaults.get(key))  # noqa: E731
    kept = counts(n_max, num_classes, float(get("imbalance_factor")), get("profile"))
    val = int(get("val_per_class") or 0)
    return [k - max(0, val - (a - k)) for k, a in zip(kept, available)]


def planned_train_counts(name: str, options: Mapping[str, Any]) -> list[int] | None:
    """Training images per class the loader will give (CIFAR-LT and synthetic sets); None when only
    the files can tell (split-file benchmarks, iNaturalist)."""
    defaults = loader_parameters(name)
    if name in CIFAR_SIZES:
        num_classes, n_max, _ = CIFAR_SIZES[name]
        return _profile_counts([n_max] * num_classes, n_max, num_classes, options, defaults)
    if name == "synthetic_lt":
        num_classes = int(options.get("num_classes", defaults["num_classes"]))
        n_max = int(options.get("n_max", defaults["n_max"]))
        return _profile_counts([n_max] * num_classes, n_max, num_classes, options, defaults)
    if name == "synthetic_split_files":
        return list(options.get("class_counts", defaults["class_counts"]))
    return None


def check_present(name: str, root: str | os.PathLike[str], options: Mapping[str, Any]) -> None:
    """The files dataset ``name`` reads exist under ``root``; else one ``DatasetError`` naming the
    first missing path and how to get the data. Synthetic sets need nothing."""
    from .cifar import HOW_TO_GET, cifar_release
    from .file_lists import check_present as file_lists_present
    from .image_folder import find_image_folder

    if name in CIFAR_SIZES:
        if options.get("download"):
            return
        release = cifar_release(CIFAR_SIZES[name][2])
        folder = Path(root) / release.folder
        source = options.get("source", "auto")
        if source in ("auto", "folder") and not folder.is_dir() and find_image_folder(root):
            return
        if source == "folder":
            raise DatasetError(f"DATA_DIR={root}: no image folder {root}/{{train,test}}/<class>/ for {name}")
        missing = [f for f in release.files if not (folder / f).is_file()]
        if missing:
            raise DatasetError(f"DATA_DIR={root}: {folder / missing[0]} is missing ({name}); {HOW_TO_GET}")
        return
    file_lists_present(name, root, **options)
