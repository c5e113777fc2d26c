"""Label smoothing and label-aware smoothing; registers ``label_smoothing_ce`` and
``label_aware_smoothing``.

Label smoothing (Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer Vision",
Sec. 7): cross-entropy against q = (1 - eps) one_hot(y) + eps / K (the uniform share includes the
true class, as ``F.cross_entropy(label_smoothing=eps)``), i.e. per sample
l_i = (1 - eps) (-log p_{y_i}) + eps * mean_c(-log p_c); reduction sum / B; eps = 0 is cross-entropy.

Label-aware smoothing (Zhong et al. 2021, "Improving Calibration for Long-Tailed Recognition",
CVPR, Sec. 4.1, Eq. 3-4, MiSLAS): the same with a per-class eps_y = f(n_y) between eps_1 (the head,
n_1 = max n) and eps_K (the tail, n_K = min n), t = (n_y - n_K) / (n_1 - n_K):

- concave: f = eps_K + (eps_1 - eps_K) sin(pi t / 2)  (the code's default, used by every config);
- linear:  f = eps_K + (eps_1 - eps_K) t;
- convex:  f = eps_1 + (eps_1 - eps_K) sin(3 pi / 2 + pi t / 2).

The target is the authors' code's (dvlab-research/MiSLAS ``methods.py``, ``LabelAwareSmoothing``:
(1 - eps_y) nll + eps_y mean_c(-log p_c), i.e. eps_y / K on every class, the true one included), the
form behind the published numbers. The code's extra "exp" form is not in the paper and is left out.
Its CIFAR settings (``config/cifar*/*_stage2_mislas.yaml``; (eps_1, eps_K)): CIFAR-10-LT IF 100 / 50
/ 10: (0.3, 0.0), (0.2, 0.0), (0.1, 0.0); CIFAR-100-LT: (0.4, 0.1), (0.3, 0.0), (0.2, 0.0). The defaults
here are CIFAR-100-LT IF 100's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import LOSSES, Loss, one_hot
from .checks import check_choice, check_number

SMOOTHING_SHAPES = ("concave", "linear", "convex")


class SmoothedCrossEntropy(Loss):
    """Cross-entropy against (1 - eps_y) one_hot(y) + eps_y / K, eps_y = ``epsilons[y]``."""

    def __init__(self, name: str, class_counts: Sequence[int], epsilons: Sequence[float]) -> None:
        super().__init__(name, class_counts)
        self.register_buffer("epsilons", torch.tensor(list(epsilons), dtype=torch.float32),
                             persistent=False)

    def targets(self, target: Tensor) -> Tensor:
        """The smoothed target distributions [B, K] (each row sums to 1)."""
        eps = self.epsilons.to(target.device)[target].unsqueeze(1)
        hard = one_hot(target, torch.empty(len(target), self.num_classes, device=target.device))
        return (1.0 - eps) * hard + eps / self.num_classes

    def per_sample(self, logits: Tensor, target: Tensor) -> Tensor:
        log_p = F.log_softmax(logits, dim=1)
        nll = -log_p.gather(1, target.unsqueeze(1)).squeeze(1)
        eps = self.epsilons[target]
        return (1.0 - eps) * nll + eps * (-log_p.mean(dim=1))


class LabelSmoothingCE(SmoothedCrossEntropy):
    """Label smoothing with one ``epsilon`` for every class (Szegedy et al. 2016)."""

    def __init__(self, name: str, class_counts: Sequence[int], epsilon: float) -> None:
        epsilon = check_number(name, "epsilon", epsilon, minimum=0, maximum=1, max_open=True)
        super().__init__(name, class_counts, [epsilon] * len(class_counts))
        self.epsilon = epsilon


def label_aware_epsilons(class_counts: Sequence[int], smooth_head: float, smooth_tail: float,
                         shape: str = "concave", owner: str = "label_aware_smoothing") -> list[float]:
    """eps_y = f(n_y) of Zhong et al. 2021, Eq. 4, for every class (module docstring)."""
    head = check_number(owner, "smooth_head", smooth_head, minimum=0, maximum=1, max_open=True)
    tail = check_number(owner, "smooth_tail", smooth_tail, minimum=0, maximum=1, max_open=True)
    shape = check_choice(owner, "shape", shape, SMOOTHING_SHAPES)
    n_1, n_K = max(class_counts), min(class_counts)
    if n_1 == n_K:
        raise ValueError(f"{owner}: class_counts are all {n_1}; allowed: counts with max > min "
                         f"(eps_y interpolates between the head and the tail)")
    epsilons = []
    for n in class_counts:
        t = (n - n_K) / (n_1 - n_K)
        if shape == "concave":
            epsilons.append(tail + (head - tail) * math.sin(math.pi * t / 2))
        elif shape == "linear":
            epsilons.append(tail + (head - tail) * t)
        else:
            epsilons.append(head + (head - tail) * math.sin(1.5 * math.pi + math.pi * t / 2))
    return epsilons


class LabelAwareSmoothing(SmoothedCrossEntropy):
    """Label-aware smoothing (Zhong et al. 2021): eps_y from ``smooth_head`` to ``smooth_tail``."""

    def __init__(self, name: str, class_counts: Sequence[int], smooth_head: float, smooth_tail: float,
                 shape: str = "concave") -> None:
        super().__init__(name, class_counts,
                         label_aware_epsilons(class_counts, smooth_head, smooth_tail, shape, name))


@LOSSES.register("label_smoothing_ce")
def label_smoothing_ce(*, class_counts: Sequence[int], epsilon: float = 0.1) -> Loss:
    """Label smoothing, sum / B (Szegedy et al. 2016, Sec. 7; their eps = 0.1)."""
    return LabelSmoothingCE("label_smoothing_ce", class_counts, epsilon)


@LOSSES.register("label_aware_smoothing")
def label_aware_smoothing(*, class_counts: Sequence[int], smooth_head: float = 0.4,
                          smooth_tail: float = 0.1, shape: str = "concave") -> Loss:
    """Label-aware smoothing, sum / B (Zhong et al. 2021, Eq. 3-4; CIFAR-100-LT IF 100 defaults)."""
    return LabelAwareSmoothing("label_aware_smoothing", class_counts, smooth_head, smooth_tail, shape)
