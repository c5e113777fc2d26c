"""Softmax cross-entropy on (optionally adjusted) logits, and the softmax focal loss.

Registers ``ce``, ``softmax_focal``, ``cb_ce`` and ``cost_sensitive_ce``. Losses that change the
logits before a softmax cross-entropy (LDAM, logit adjustment) subclass ``SoftmaxCrossEntropy`` and
override ``adjust``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import LOSSES, Loss, one_hot
from .checks import check_number


class SoftmaxCrossEntropy(Loss):
    """l_i = -log softmax(a(z_i, y_i))_{y_i}, with a the logit adjustment (identity here)."""

    def adjust(self, logits: Tensor, target: Tensor) -> Tensor:
        """The logits the softmax sees; the identity for plain cross-entropy."""
        return logits

    def per_sample(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(self.adjust(logits, target), target, reduction="none")


class SoftmaxFocal(SoftmaxCrossEntropy):
    """Softmax focal loss l_i = -(1 - p_{y_i})^gamma log p_{y_i}.

    Lin et al. 2017, Focal Loss for Dense Object Detection, Eq. 4, with the softmax probability of
    the true class (the multi-class variant of SPEC section 3). log(1 - p_y) is computed as
    logsumexp_{c != y} z_c - logsumexp_c z_c, finite with finite gradients even where p_y rounds to
    1 (where (1 - p_y)^gamma would give NaN gradients for gamma < 1). gamma = 0 is plain
    cross-entropy, computed exactly as ``SoftmaxCrossEntropy``.
    """

    def __init__(self, name: str, class_counts: Sequence[int], gamma: float) -> None:
        super().__init__(name, class_counts)
        self.gamma = check_number(name, "gamma", gamma, minimum=0)

    def per_sample(self, logits: Tensor, target: Tensor) -> Tensor:
        ce = super().per_sample(logits, target)
        if self.gamma == 0:
            return ce
        z = self.adjust(logits, target)
        others = z.masked_fill(one_hot(target, z).bool(), float("-inf"))
        log_one_minus_p = others.logsumexp(dim=1) - z.logsumexp(dim=1)
        return torch.exp(self.gamma * log_one_minus_p) * ce


@LOSSES.register("ce")
def ce(*, class_counts: Sequence[int]) -> Loss:
    """Softmax cross-entropy, sum / B."""
    return SoftmaxCrossEntropy("ce", class_counts)


@LOSSES.register("softmax_focal")
def softmax_focal(*, class_counts: Sequence[int], gamma: float = 2.0) -> Loss:
    """Softmax focal loss (Lin et al. 2017, Eq. 4), sum / B."""
    return SoftmaxFocal("softmax_focal", class_counts, gamma)


@LOSSES.register("cb_ce")
def cb_ce(*, class_counts: Sequence[int], beta: float = 0.9999) -> Loss:
    """Class-balanced softmax cross-entropy (Cui et al. 2019, Sec. 4): sum_i w_{y_i} l_i / B."""
    return SoftmaxCrossEntropy("cb_ce", class_counts).use_class_balanced_weights(beta)


@LOSSES.register("cost_sensitive_ce")
def cost_sensitive_ce(*, class_counts: Sequence[int]) -> Loss:
    """Cross-entropy weighted by min n / n_c, weighted mean (Bag of Tricks, Zhang et al. 2021)."""
    return SoftmaxCrossEntropy("cost_sensitive_ce", class_counts).use_cost_sensitive_weights()
