"""Class-aware sampling (Shen, Lin and Huang, "Relay Backpropagation for Effective Learning of Deep
Convolutional Neural Networks", ECCV 2016), as in the official classifier-balancing code of Kang et al.
2020 (``ClassAwareSampler``, also used by TailCalibX's CBD and cRT).

Two cycled lists: the classes, reshuffled at every pass, and per class its images, reshuffled at
every pass (the code's ``RandomCycleIter``). Each visit to a class takes its next k images, so the
epoch is runs of k draws from one class; an epoch is n_max * C draws by default, as in that code.
"""

from __future__ import annotations

from typing import Sequence

import torch

from .base import SeededSampler, exclusive_cumsum, register, shuffle_within_groups
from .validation import check_every_class_present, check_int


@register("class_aware")
class ClassAwareSampler(SeededSampler):
    """Class-aware sampling: ``k`` images per class visit, ``num_samples`` draws (n_max * C if None)."""

    def __init__(self, labels: torch.Tensor | Sequence[int], num_classes: int, seed: int,
                 k: int = 4, num_samples: int | None = None) -> None:
        self.k = check_int(self.name, "k", k, minimum=1)
        if num_samples is not None:
            num_samples = check_int(self.name, "num_samples", num_samples, minimum=1)
        super().__init__(labels, num_classes, seed)
        check_every_class_present(self.name, self.class_counts)
        self.epoch_length = (int(self.class_counts.max()) * self.num_classes
                             if num_samples is None else num_samples)

    def draw_key(self, epoch: int) -> str:
        return f"{self.name}(k={self.k},num_samples={self.epoch_length})"

    def num_samples(self, epoch: int) -> int:
        return self.epoch_length

    def _draw(self, epoch: int, generator: torch.Generator) -> torch.Tensor:
        num_classes, k = self.num_classes, self.k
        visits = -(-self.epoch_length // k)
        # The class of every visit: the C classes in a fresh random order per pass.
        class_passes = -(-visits // num_classes)
        pass_of_slot = torch.arange(class_passes).repeat_interleave(num_classes)
        slot_class = torch.arange(num_classes).repeat(class_passes)
        visit_class = slot_class[shuffle_within_groups(pass_of_slot, generator)][:visits]

        # How many earlier visits went to the same class (0 for its first visit).
        visits_per_class = torch.bincount(visit_class, minlength=num_classes)
        by_class = torch.argsort(visit_class, stable=True)
        visit_rank = torch.empty_like(by_class)
        visit_rank[by_class] = (torch.arange(visits)
                                - exclusive_cumsum(visits_per_class)[visit_class[by_class]])

        # Each class's image stream: enough fresh shuffles of its images for its k * visits draws,
        # laid out class after class.
        counts = self.class_counts
        image_passes = -(-(visits_per_class * k) // counts)
        stream_start = exclusive_cumsum(image_passes * counts)
        pass_class = torch.arange(num_classes).repeat_interleave(image_passes)
        pass_length = counts[pass_class]
        element_pass = torch.arange(len(pass_class)).repeat_interleave(pass_length)
        offset = torch.arange(len(element_pass)) - exclusive_cumsum(pass_length)[element_pass]
        images = self.by_class[self.class_starts[pass_class[element_pass]] + offset]
        stream = images[shuffle_within_groups(element_pass, generator)]

        # Visit v takes the next k images of its class's stream.
        first = stream_start[visit_class] + visit_rank * k
        positions = first.unsqueeze(1) + torch.arange(k)
        return stream[positions.flatten()[: self.epoch_length]]
