"""Online samplers: instance shuffling and the class-probability samplers of Kang et al. 2020.

Kang, Xie, Rohrbach, Yan, Gordo, Feng, Kalantidis, "Decoupling Representation and Classifier for
Long-Tailed Recognition", ICLR 2020, Section 3.1: a draw picks class j with probability p_j, then an
image of class j uniformly; an epoch is N draws (with replacement).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Sequence

import torch

from .base import SAMPLERS, SeededSampler, register
from .validation import check_epoch, check_every_class_present, check_int, check_real


@register("instance")
class InstanceSampler(SeededSampler):
    """Instance-balanced sampling (q = 1 in Kang et al. 2020, Eq. 1) as standard shuffling: every
    epoch is a random permutation of all N images, so each image is drawn exactly once."""

    def draw_key(self, epoch: int) -> str:
        return "instance"

    def num_samples(self, epoch: int) -> int:
        return len(self.labels)

    def _draw(self, epoch: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randperm(len(self.labels), generator=generator)


class ClassProbabilitySampler(SeededSampler):
    """Draw a class from ``class_probabilities(epoch)``, then an image of that class uniformly.

    Both steps use float64 uniforms: the class by inverse CDF (``searchsorted`` on the cumulative
    probabilities), the image as ``floor(u * n_c)`` within the class, so classes of probability 0
    are never drawn and no draw is a Python loop. An epoch is N draws.
    """

    def __init__(self, labels: torch.Tensor | Sequence[int], num_classes: int, seed: int) -> None:
        super().__init__(labels, num_classes, seed)
        check_every_class_present(self.name, self.class_counts)

    @abstractmethod
    def class_probabilities(self, epoch: int) -> torch.Tensor:
        """float64 [C]: the probability that a draw of epoch ``epoch`` is from class j."""

    def num_samples(self, epoch: int) -> int:
        return len(self.labels)

    def _draw(self, epoch: int, generator: torch.Generator) -> torch.Tensor:
        draws = len(self.labels)
        cdf = torch.cumsum(self.class_probabilities(epoch), 0)
        # u * cdf[-1] < cdf[-1] for u < 1, so the class index is at most C - 1.
        u_class = torch.rand(draws, dtype=torch.float64, generator=generator) * cdf[-1]
        classes = torch.searchsorted(cdf, u_class, right=True)
        u_image = torch.rand(draws, dtype=torch.float64, generator=generator)
        offsets = (u_image * self.class_counts[classes]).long()
        return self.by_class[self.class_starts[classes] + offsets]


@register("class_balanced")
class ClassBalancedSampler(ClassProbabilitySampler):
    """Kang et al. 2020, Eq. 1: p_j = n_j^q / sum_i n_i^q.

    q = 0 is class-balanced, q = 1/2 square-root sampling (registered as ``square_root``), q = 1
    instance-balanced in expectation (but drawn with replacement, unlike ``instance``).
    """

    def __init__(self, labels: torch.Tensor | Sequence[int], num_classes: int, seed: int,
                 q: float = 0.0) -> None:
        self.q = check_real(self.name, "q", q, 0.0, 1.0)
        super().__init__(labels, num_classes, seed)

    def draw_key(self, epoch: int) -> str:
        return f"{self.name}(q={self.q!r})"

    def class_probabilities(self, epoch: int) -> torch.Tensor:
        weights = self.class_counts.to(torch.float64) ** self.q
        return weights / weights.sum()


def square_root(labels: torch.Tensor | Sequence[int], num_classes: int, seed: int,
                q: float = 0.5) -> ClassBalancedSampler:
    """Square-root sampling (Kang et al. 2020, Eq. 1 with q = 1/2): ``class_balanced`` with q = 0.5."""
    return ClassBalancedSampler(labels, num_classes, seed, q=q)


SAMPLERS.register("square_root")(square_root)


@register("progressive")
class ProgressiveSampler(ClassProbabilitySampler):
    """Progressively-balanced sampling, Kang et al. 2020, Section 3.1 (the equation after Eq. 1):
    p_j(t) = (1 - r) * n_j / N + r / C, with r = t / (T - 1) for the 0-based epoch t < T (Kang's
    ``np.linspace(0, 1, T)``) and r = 1 for t >= T: the first epoch is instance-balanced, epoch
    T - 1 and every later one exactly class-balanced. (T = 1, like ``np.linspace(0, 1, 1) == [0]``,
    gives r = 0 at epoch 0 and r = 1 from epoch 1.)
    """

    def __init__(self, labels: torch.Tensor | Sequence[int], num_classes: int, seed: int,
                 total_epochs: int) -> None:
        self.total_epochs = check_int(self.name, "total_epochs", total_epochs, minimum=1)
        super().__init__(labels, num_classes, seed)

    def mixing(self, epoch: int) -> float:
        """r(t): the weight of the class-balanced distribution at epoch t."""
        epoch = check_epoch(self.name, epoch)
        if epoch >= self.total_epochs:
            return 1.0
        return epoch / (self.total_epochs - 1) if self.total_epochs > 1 else 0.0

    def draw_key(self, epoch: int) -> str:
        return f"{self.name}(r={self.mixing(epoch)!r})"

    def class_probabilities(self, epoch: int) -> torch.Tensor:
        r = self.mixing(epoch)
        instance = self.class_counts.to(torch.float64) / len(self.labels)
        return (1.0 - r) * instance + r / self.num_classes
