"""The sampler interface, the registry, and the seeding every sampler shares.

A sampler answers one question: which training images, in which order, does epoch ``e`` draw?
``indices(e)`` is a pure function of the construction arguments, the seed and ``e``: each call seeds a
fresh ``torch.Generator`` from ``(seed, e, phase_key(e))`` and keeps no state between calls, so a
resumed run recomputes any epoch exactly, and two samplers whose phase keys agree at ``e`` draw the
same sequence (deferred re-sampling before its switch *is* instance sampling, draw for draw).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import Callable, ClassVar, Sequence, TypeVar

import torch

from ..registry import Registry
from .validation import check_epoch, check_int, check_labels

SAMPLERS = Registry("sampler")

S = TypeVar("S", bound=type)


def register(name: str) -> Callable[[S], S]:
    """Class decorator: register a sampler under ``name`` and use ``name`` in its messages and keys."""

    def add(cls: S) -> S:
        cls.name = name
        return SAMPLERS.register(name)(cls)

    return add


def make_generator(seed: int, *salt: object) -> torch.Generator:
    """A CPU generator seeded by a 63-bit hash of ``(seed, *salt)`` (stable across processes)."""
    text = "|".join(str(part) for part in (seed, *salt))
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)


def exclusive_cumsum(counts: torch.Tensor) -> torch.Tensor:
    """Where each group starts when groups of ``counts`` sizes are laid end to end."""
    return torch.cumsum(counts, 0) - counts


def shuffle_within_groups(group_ids: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Positions of ``group_ids`` ordered by group, in uniformly random order within each group.

    A random permutation followed by a *stable* sort on the group id: ties keep their random order.
    """
    shuffled = torch.randperm(len(group_ids), generator=generator)
    return shuffled[torch.argsort(group_ids[shuffled], stable=True)]


class EpochSampler(ABC):
    """What the training engine asks of a sampler, epoch by epoch."""

    name: ClassVar[str] = "sampler"

    @abstractmethod
    def indices(self, epoch: int) -> torch.Tensor:
        """The epoch's draw sequence: an int64 tensor of indices into the training set."""

    @abstractmethod
    def num_samples(self, epoch: int) -> int:
        """The length of ``indices(epoch)``."""

    @abstractmethod
    def phase_key(self, epoch: int) -> str:
        """What the epoch draws: equal keys and equal seeds give equal ``indices(epoch)``."""


class SeededSampler(EpochSampler):
    """A sampler over one labelled training set, drawing from a generator seeded per epoch.

    Subclasses describe their draw in ``draw_key`` (e.g. ``"class_balanced(q=0.5)"``) and implement
    ``_draw``; the phase key appends a 32-bit digest of the labels, so keys of different data differ.
    Attributes: ``labels`` (int64 [N]), ``class_counts`` (int64 [C]), ``by_class`` (image indices
    grouped by class, ascending within a class) and ``class_starts`` (where each class begins in it).
    """

    def __init__(self, labels: torch.Tensor | Sequence[int], num_classes: int, seed: int) -> None:
        self.labels, self.num_classes = check_labels(self.name, labels, num_classes)
        self.seed = check_int(self.name, "seed", seed)
        self.class_counts = torch.bincount(self.labels, minlength=self.num_classes)
        self.by_class = torch.argsort(self.labels, stable=True)
        self.class_starts = exclusive_cumsum(self.class_counts)
        data = self.labels.numpy().tobytes() + str(self.num_classes).encode()
        self._data_key = hashlib.blake2b(data, digest_size=4).hexdigest()

    @abstractmethod
    def draw_key(self, epoch: int) -> str:
        """Canonical description of what epoch ``epoch`` draws, without the data."""

    @abstractmethod
    def _draw(self, epoch: int, generator: torch.Generator) -> torch.Tensor:
        """The epoch's sequence, every random number taken from ``generator``."""

    def phase_key(self, epoch: int) -> str:
        return f"{self.draw_key(check_epoch(self.name, epoch))}|labels={self._data_key}"

    def indices(self, epoch: int) -> torch.Tensor:
        key = self.phase_key(epoch)
        return self._draw(epoch, make_generator(self.seed, epoch, key))
