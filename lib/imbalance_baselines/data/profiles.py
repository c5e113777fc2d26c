"""Long-tailed class profiles, the choice of kept images, and the validation split.

The exponential profile is Cui et al. 2019 ("Class-Balanced Loss Based on Effective Number of
Samples", CVPR), adopted by Cao et al. 2019 ("Learning Imbalanced Datasets with Label-Distribution-Aware
Margin Loss", NeurIPS; LDAM-DRW) and every seed: ``n_i = int(n_max * IF ** (-i / (C - 1)))``, class 0
the head. The step profile is the other profile of Cao et al. 2019 (after Buda et al. 2018).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import DatasetError

PROFILES = ("exp", "step")
SELECTION_RULES = ("random", "first")
# Stream of the validation draw: apart from the subset draw, so neither changes the other.
_VAL_STREAM = 1


def counts(n_max: int, num_classes: int, imbalance_factor: float, profile: str = "exp") -> list[int]:
    """Images per class 0..C-1 of a long-tailed profile with ``IF = n_max / n_min``.

    ``"exp"``: ``n_i = int(n_max * IF ** (-i / (C - 1)))`` (Cui et al. 2019; Cao et al. 2019), e.g.
    CIFAR-10-LT IF 100 -> [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50].
    ``"step"``: the first ``C // 2`` classes keep ``n_max``, the other ``C - C // 2`` get
    ``int(n_max / IF)``; with an odd C the extra class goes to the tail.
    IF = 1 is the balanced set; a single class keeps ``n_max``.
    """
    if imbalance_factor < 1:
        raise DatasetError(f"imbalance_factor must be >= 1 (n_max / n_min), got {imbalance_factor}")
    if num_classes < 1 or n_max < 1:
        raise DatasetError(f"need num_classes >= 1 and n_max >= 1, got num_classes={num_classes}, "
                           f"n_max={n_max}")
    if profile == "exp":
        if num_classes == 1:
            result = [int(n_max)]
        else:
            result = [int(n_max * imbalance_factor ** (-i / (num_classes - 1)))
                      for i in range(num_classes)]
    elif profile == "step":
        head = num_classes // 2
        result = [int(n_max)] * head + [int(n_max / imbalance_factor)] * (num_classes - head)
    else:
        raise DatasetError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    empty = [c for c, n in enumerate(result) if n < 1]
    if empty:
        raise DatasetError(f"profile {profile!r} with n_max={n_max}, imbalance_factor={imbalance_factor} "
                           f"leaves classes {empty} with zero images; raise n_max or lower the factor")
    return result


def _class_indices(labels: np.ndarray, num_classes: int) -> list[np.ndarray]:
    """Indices of each class's images, in file order."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(num_classes + 1))
    return [order[bounds[c]:bounds[c + 1]] for c in range(num_classes)]


def select_subset(labels: np.ndarray | Sequence[int], class_counts: Sequence[int], rule: str = "random",
                  seed: int = 0) -> np.ndarray:
    """Indices of the images a long-tailed subset keeps: ``class_counts[c]`` of class c, sorted ascending.

    ``"random"``: per class, in class order, shuffle the class's indices with one
    ``np.random.default_rng(seed)`` and keep the first n_c (the LDAM-DRW procedure, Cao et al. 2019,
    with numpy's Generator instead of the legacy global ``np.random.seed``, so the subset is not the
    one LDAM-DRW's code draws). ``"first"``: the first n_c images of each class in file order.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if rule not in SELECTION_RULES:
        raise DatasetError(f"unknown selection rule {rule!r}; expected one of {', '.join(SELECTION_RULES)}")
    rng = np.random.default_rng(seed)
    kept = []
    for c, (idx, n) in enumerate(zip(_class_indices(labels, len(class_counts)), class_counts)):
        if len(idx) < n:
            raise DatasetError(f"class {c} has {len(idx)} images but the profile needs {n}")
        if rule == "random":
            idx = idx.copy()
            rng.shuffle(idx)
        kept.append(idx[:n])
    return np.sort(np.concatenate(kept)).astype(np.int64)


def split_validation(labels: np.ndarray | Sequence[int], kept: np.ndarray, num_classes: int,
                     val_per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """A balanced validation split of ``val_per_class`` images per class (SPEC 1).

    Drawn, seeded, from the images the subset ``kept`` did not keep; a class with too few left-over
    images (the head class keeps them all) gives up the rest from its kept images, which its training
    count loses. The generator is ``np.random.default_rng([seed, 1])``, a stream apart from the subset's.
    Returns ``(train_indices, val_indices, taken_from_train)``: both index arrays sorted ascending,
    ``taken_from_train[c]`` the number of class c's kept images moved to validation.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if val_per_class < 0:
        raise DatasetError(f"val_per_class must be >= 0, got {val_per_class}")
    if val_per_class == 0:
        return np.sort(kept), np.zeros(0, dtype=np.int64), [0] * num_classes
    rng = np.random.default_rng([seed, _VAL_STREAM])
    is_kept = np.zeros(len(labels), dtype=bool)
    is_kept[kept] = True
    val, taken = [], []
    for c, idx in enumerate(_class_indices(labels, num_classes)):
        spare = rng.permutation(idx[~is_kept[idx]])[:val_per_class]
        short = val_per_class - len(spare)
        own = idx[is_kept[idx]]
        if short >= len(own):
            raise DatasetError(f"val_per_class={val_per_class}: class {c} has {len(spare)} left-over and "
                               f"{len(own)} kept images, too few to keep any for training")
        from_train = rng.permutation(own)[:short]
        val += [spare, from_train]
        taken.append(int(short))
    val_idx = np.sort(np.concatenate(val)).astype(np.int64)
    train_idx = np.sort(np.setdiff1d(kept, val_idx)).astype(np.int64)
    return train_idx, val_idx, taken
