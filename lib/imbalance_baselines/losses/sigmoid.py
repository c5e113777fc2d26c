"""Sigmoid (one-vs-all) cross-entropy and the sigmoid focal loss, plain and class-balanced.

Registers ``sigmoid_ce``, ``focal``, ``cb_sigmoid`` and ``cb_focal``. All four ask for the classifier
bias -log((1 - pi) / pi), pi = 1/C (SPEC section 3).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import LOSSES, Loss, one_hot
from .checks import check_number
from .weights import sigmoid_bias_init


class SigmoidFocal(Loss):
    """C binary focal terms against the one-hot label, summed over classes.

    Lin et al. 2017, Focal Loss for Dense Object Detection, Eq. 4, in the sigmoid form of Cui et
    al. 2019 (Sec. 4, class-balanced focal loss, and their code): for every class c,
    FL = -(1 - p_t)^gamma log p_t with p_t = sigmoid(z_c) for the true class and 1 - sigmoid(z_c)
    for the others. The modulator is computed as exp(gamma * logsigmoid(-s z_c)), s = +1 for the
    true class and -1 otherwise, which is (1 - p_t)^gamma with finite gradients everywhere.
    gamma = 0 skips it: plain sigmoid cross-entropy.
    """

    def __init__(self, name: str, class_counts: Sequence[int], gamma: float) -> None:
        super().__init__(name, class_counts)
        self.gamma = check_number(name, "gamma", gamma, minimum=0)

    def per_sample(self, logits: Tensor, target: Tensor) -> Tensor:
        labels = one_hot(target, logits)
        terms = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
        if self.gamma != 0:
            sign = 2.0 * labels - 1.0
            terms = torch.exp(self.gamma * F.logsigmoid(-sign * logits)) * terms
        return terms.sum(dim=1)

    def classifier_bias_init(self) -> float:
        return sigmoid_bias_init(self.num_classes)


@LOSSES.register("sigmoid_ce")
def sigmoid_ce(*, class_counts: Sequence[int]) -> Loss:
    """Sigmoid cross-entropy: C binary cross-entropies, summed over classes, / B."""
    return SigmoidFocal("sigmoid_ce", class_counts, gamma=0.0)


@LOSSES.register("focal")
def focal(*, class_counts: Sequence[int], gamma: float = 2.0) -> Loss:
    """Sigmoid focal loss (Lin et al. 2017, Eq. 4; Cui et al. 2019's form), / B."""
    return SigmoidFocal("focal", class_counts, gamma)


@LOSSES.register("cb_sigmoid")
def cb_sigmoid(*, class_counts: Sequence[int], beta: float = 0.9999) -> Loss:
    """Class-balanced sigmoid cross-entropy (Cui et al. 2019, Sec. 4): sum_i w_{y_i} l_i / B."""
    return SigmoidFocal("cb_sigmoid", class_counts, gamma=0.0).use_class_balanced_weights(beta)


@LOSSES.register("cb_focal")
def cb_focal(*, class_counts: Sequence[int], beta: float = 0.9999, gamma: float = 2.0) -> Loss:
    """Class-balanced sigmoid focal loss (Cui et al. 2019, Sec. 4): sum_i w_{y_i} l_i / B."""
    return SigmoidFocal("cb_focal", class_counts, gamma).use_class_balanced_weights(beta)
