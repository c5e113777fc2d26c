"""Offline re-sampling: the training list is changed once, then each epoch shuffles that fixed list.

Random over-sampling and random under-sampling, the classical re-sampling baselines (e.g. Buda, Maki
and Mazurowski, "A systematic study of the class imbalance problem in convolutional neural networks",
Neural Networks 2018), as defined in SPEC section 2:

- over-sampling tops every class up to L = int(n_max * ratio) images: floor(L / n_c) whole copies
  of the class, then a random subset of L mod n_c of its images (distinct); classes with n_c >= L
  are unchanged;
- under-sampling cuts every class to U = int(n_min / ratio) images, a random subset; classes with
  n_c <= U are unchanged.

The list is drawn from ``seed`` alone (not the epoch); epoch e is a fresh permutation of it.
"""

from __future__ import annotations

from typing import Callable, ClassVar, Sequence

import torch

from .base import SeededSampler, exclusive_cumsum, make_generator, register, shuffle_within_groups
from .validation import check_every_class_present, check_labels, check_real, invalid


def resize_classes(labels: torch.Tensor, targets: torch.Tensor,
                   generator: torch.Generator) -> torch.Tensor:
    """Sorted indices with exactly ``targets[c]`` images of each class c.

    Every image of class c appears floor(targets[c] / n_c) times, plus once more for a random subset
    of targets[c] mod n_c of them (drawn without replacement). ``labels`` int64 [N], every class
    present; ``targets`` int64 [C].
    """
    counts = torch.bincount(labels, minlength=len(targets))
    copies, extra = targets // counts, targets % counts
    by_class = shuffle_within_groups(labels, generator)  # grouped by class, random within a class
    rank = torch.arange(len(labels)) - exclusive_cumsum(counts)[labels[by_class]]
    chosen = by_class[rank < extra[labels[by_class]]]
    whole = torch.arange(len(labels)).repeat_interleave(copies[labels])
    return torch.sort(torch.cat([whole, chosen])).values


def _class_counts(sampler: str, labels: torch.Tensor | Sequence[int], num_classes: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked labels and their class counts, every class present."""
    labels, num_classes = check_labels(sampler, labels, num_classes)
    counts = torch.bincount(labels, minlength=num_classes)
    check_every_class_present(sampler, counts)
    return labels, counts


def oversample_indices(labels: torch.Tensor | Sequence[int], num_classes: int, ratio: float,
                       generator: torch.Generator) -> torch.Tensor:
    """Random over-sampling (SPEC 2): every class topped up to L = int(n_max * ratio) images."""
    ratio = check_real("oversample", "ratio", ratio, 0.0, low_open=True)
    labels, counts = _class_counts("oversample", labels, num_classes)
    target = int(int(counts.max()) * ratio)
    return resize_classes(labels, counts.clamp(min=target), generator)


def undersample_indices(labels: torch.Tensor | Sequence[int], num_classes: int, ratio: float,
                        generator: torch.Generator) -> torch.Tensor:
    """Random under-sampling (SPEC 2): every class cut to U = int(n_min / ratio) images."""
    ratio = check_real("undersample", "ratio", ratio, 0.0, low_open=True)
    labels, counts = _class_counts("undersample", labels, num_classes)
    n_min = int(counts.min())
    target = int(n_min / ratio)
    if target < 1:
        raise invalid("undersample", "ratio", ratio,
                      f"a number in (0, {n_min}] (n_min = {n_min}), so that int(n_min / ratio) >= 1")
    return resize_classes(labels, counts.clamp(max=target), generator)


class OfflineSampler(SeededSampler):
    """Shuffles a training list that ``resample`` changed once (``index_list``, sorted)."""

    resample: ClassVar[Callable[..., torch.Tensor]]

    def __init__(self, labels: torch.Tensor | Sequence[int], num_classes: int, seed: int,
                 ratio: float = 1.0) -> None:
        self.ratio = check_real(self.name, "ratio", ratio, 0.0, low_open=True)
        super().__init__(labels, num_classes, seed)
        # Seeded by the seed and the (epoch-independent) key only: one list for the whole run.
        list_generator = make_generator(self.seed, self.phase_key(0))
        self.index_list = self.resample(self.labels, self.num_classes, self.ratio,
                                         list_generator)

    def draw_key(self, epoch: int) -> str:
        return f"{self.name}(ratio={self.ratio!r})"

    def num_samples(self, epoch: int) -> int:
        return len(self.index_list)

    def _draw(self, epoch: int, generator: torch.Generator) -> torch.Tensor:
        return self.index_list[torch.randperm(len(self.index_list), generator=generator)]


@register("oversample")
class OversampleSampler(OfflineSampler):
    """Random over-sampling to L = int(n_max * ratio) per class, then shuffling (SPEC 2)."""

    resample = staticmethod(oversample_indices)


@register("undersample")
class UndersampleSampler(OfflineSampler):
    """Random under-sampling to U = int(n_min / ratio) per class, then shuffling (SPEC 2)."""

    resample = staticmethod(undersample_indices)
