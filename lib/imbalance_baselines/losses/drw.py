"""Deferred re-weighting (DRW) for any unweighted loss; registers ``ce_drw`` and ``ldam_drw``.

Cao et al. 2019, Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss, Sec. 3.3
and Algorithm 1: train unweighted, then from ``drw_epoch`` on weight each sample by the
class-balanced w_{y_i} (Cui et al. 2019, beta = 0.9999) with the weighted-mean reduction of the
authors' ``nn.CrossEntropyLoss(weight=w)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from .base import LOSSES, Loss
from .checks import check_number
from .margin import LDAM
from .softmax import SoftmaxCrossEntropy


class DeferredReweighting(Loss):
    """Wraps an unweighted ``inner`` loss: ``inner`` itself before ``drw_epoch``, re-weighted after.

    Before the switch, ``forward`` is ``inner.forward`` (bit-identical to the plain loss, same phase
    key); from ``drw_epoch`` on, ``inner.per_sample`` reduced with class-balanced weights by
    weighted mean. ``set_epoch`` switches; it may be called with any epoch (resuming).
    """

    def __init__(self, inner: Loss, drw_epoch: int, beta: float) -> None:
        super().__init__(inner.name, inner.class_counts)
        if inner.class_weights is not None:
            raise ValueError(f"{inner.name}: the loss to re-weight is already weighted "
                             f"({inner.weights_key}); allowed: an unweighted loss")
        self.drw_epoch = check_number(inner.name, "drw_epoch", drw_epoch, minimum=0, integer=True)
        self.inner = inner
        self.use_class_balanced_weights(beta, weighted_mean=True)
        self.epoch = 0

    def reweighted_at(self, epoch: int) -> bool:
        """Whether the class-balanced weights apply at ``epoch``."""
        return epoch >= self.drw_epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.inner.set_epoch(epoch)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        if not self.reweighted_at(self.epoch):
            return self.inner(logits, target)
        return super().forward(logits, target)

    def per_sample(self, logits: Tensor, target: Tensor) -> Tensor:
        return self.inner.per_sample(logits, target)

    def phase_key(self, epoch: int) -> str:
        return super().phase_key(epoch) if self.reweighted_at(epoch) else self.inner.phase_key(epoch)

    def classifier_bias_init(self) -> float | None:
        return self.inner.classifier_bias_init()


@LOSSES.register("ce_drw")
def ce_drw(*, class_counts: Sequence[int], drw_epoch: int = 160, beta: float = 0.9999) -> Loss:
    """Cross-entropy with deferred re-weighting (Cao et al. 2019)."""
    return DeferredReweighting(SoftmaxCrossEntropy("ce_drw", class_counts), drw_epoch, beta)


@LOSSES.register("ldam_drw")
def ldam_drw(*, class_counts: Sequence[int], drw_epoch: int = 160, beta: float = 0.9999,
             max_margin: float = 0.5, scale: float = 30.0) -> Loss:
    """LDAM with deferred re-weighting (Cao et al. 2019, LDAM-DRW)."""
    return DeferredReweighting(LDAM("ldam_drw", class_counts, max_margin, scale), drw_epoch, beta)
