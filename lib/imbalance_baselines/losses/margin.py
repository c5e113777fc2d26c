"""LDAM: the label-distribution-aware margin loss (registers ``ldam``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import LOSSES, Loss, one_hot
from .checks import check_number
from .softmax import SoftmaxCrossEntropy
from .weights import ldam_margins


class LDAM(SoftmaxCrossEntropy):
    """Cross-entropy on s * (z - m_y e_y): the true-class logit lowered by m_y = C' / n_y^(1/4).

    Cao et al. 2019, Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss,
    Sec. 3.2 (LDAM loss, margins Delta_j = C / n_j^(1/4)); C' makes the largest margin
    ``max_margin`` and the logits are scaled by s = ``scale``, as in the authors' code
    (kaidic/LDAM-DRW, ``LDAMLoss``). Meant for a normalised (cosine) last layer.
    """

    margins: Tensor

    def __init__(self, name: str, class_counts: Sequence[int], max_margin: float,
                 scale: float) -> None:
        super().__init__(name, class_counts)
        self.max_margin = check_number(name, "max_margin", max_margin, minimum=0, min_open=True)
        self.scale = check_number(name, "scale", scale, minimum=0, min_open=True)
        self.register_buffer("margins", ldam_margins(self.class_counts, self.max_margin),
                             persistent=False)

    def adjust(self, logits: Tensor, target: Tensor) -> Tensor:
        true_class = one_hot(target, logits).bool()
        shifted = logits - self.margins[target].unsqueeze(1)
        return self.scale * torch.where(true_class, shifted, logits)


@LOSSES.register("ldam")
def ldam(*, class_counts: Sequence[int], max_margin: float = 0.5, scale: float = 30.0) -> Loss:
    """LDAM (Cao et al. 2019), sum / B."""
    return LDAM("ldam", class_counts, max_margin, scale)
