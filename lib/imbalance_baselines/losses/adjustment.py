"""Logit adjustment by the label prior: Balanced Softmax, the logit-adjusted loss, post-hoc.

Registers ``balanced_softmax`` and ``logit_adjusted``. Balanced Softmax is the logit-adjusted loss
with tau = 1, so both build the same class and compute identical values (and phase keys) there.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from .base import LOSSES, Loss
from .checks import check_number
from .softmax import SoftmaxCrossEntropy
from .weights import log_prior


class LogitAdjusted(SoftmaxCrossEntropy):
    """Cross-entropy on z + tau * log pi, pi_c = n_c / N; predict with plain z.

    Menon et al. 2021, Long-Tail Learning via Logit Adjustment, Sec. 5 (logit-adjusted softmax
    cross-entropy); with tau = 1 it is Ren et al. 2020, Balanced Meta-Softmax for Long-Tailed
    Visual Recognition, Sec. 3.1 (Balanced Softmax).
    """

    log_prior: Tensor

    def __init__(self, name: str, class_counts: Sequence[int], tau: float) -> None:
        super().__init__(name, class_counts)
        self.tau = check_number(name, "tau", tau, minimum=0)
        self.register_buffer("log_prior", log_prior(self.class_counts), persistent=False)

    def adjust(self, logits: Tensor, target: Tensor) -> Tensor:
        return logits + self.tau * self.log_prior


def posthoc_logit_adjustment(logits: Tensor, class_counts: Sequence[int], tau: float = 1.0) -> Tensor:
    """Logits for prediction, z - tau * log pi (float32), for a model trained with plain cross-entropy.

    Menon et al. 2021, Long-Tail Learning via Logit Adjustment, Sec. 4 (post-hoc logit
    adjustment): argmax_y z_y - tau log pi_y moves predictions toward rare classes.
    """
    tau = check_number("posthoc_logit_adjustment", "tau", tau, minimum=0)
    prior = log_prior(class_counts)
    if logits.shape[-1] != len(prior):
        raise ValueError(f"posthoc_logit_adjustment: logits have {logits.shape[-1]} classes but "
                         f"class_counts has {len(prior)}; allowed: logits of shape [..., {len(prior)}]")
    return logits.float() - tau * prior.to(logits.device)


@LOSSES.register("balanced_softmax")
def balanced_softmax(*, class_counts: Sequence[int]) -> Loss:
    """Balanced Softmax (Ren et al. 2020): cross-entropy on z + log pi, sum / B."""
    return LogitAdjusted("balanced_softmax", class_counts, tau=1.0)


@LOSSES.register("logit_adjusted")
def logit_adjusted(*, class_counts: Sequence[int], tau: float = 1.0) -> Loss:
    """Logit-adjusted loss (Menon et al. 2021): cross-entropy on z + tau log pi, sum / B."""
    return LogitAdjusted("logit_adjusted", class_counts, tau)
