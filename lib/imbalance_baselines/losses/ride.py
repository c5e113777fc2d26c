"""The RIDE loss: a distribution-aware loss per expert plus a diversity term (registers ``ride``).

Wang, Lian, Miao, Liu, Yu, "Long-tailed Recognition by Routing Diverse Distribution-Aware Experts",
ICLR 2021, Sec. 3 (distribution-aware diversity loss), in the form of the official code
(frank-xwang/RIDE-LongTailRecognition, ``model/loss.py``, ``RIDELoss``; values from
``configs/config_imbalance_cifar100_ride.json``). For K experts with logits z_k [B, C] (already
scaled by the model, s = 30 on cosine logits) and their mean z_bar (the network's output)::

    L = sum_k [ LDAM-DRW(z_k, y) + f * mean(T)^2 * KL(softmax(z_bar / T) || softmax(z_k / T)) ]

- LDAM-DRW (Cao et al. 2019): cross-entropy on z_k with the true-class logit lowered by s * m_y,
  m_y = C' / n_y^(1/4), largest margin 0.5; before ``drw_epoch`` the batch mean, from it on the
  class-balanced weighted mean (Cui et al. 2019, beta = 0.9999), as ``F.cross_entropy(weight=w)``.
- Diversity: KL divergence of each expert from the (detached) ensemble, summed over classes and
  divided by B ("batchmean"), with f = ``diversity_factor`` = -0.45 (negative: the loss rewards
  experts that differ from the ensemble). Before ``drw_epoch`` T = ``temperature`` (1.0); from it on
  a per-class temperature T_c = temperature * v_c / max(v), v_c = C * pi_c * r + 1 - r with the
  training prior pi_c = n_c / N and r = ``reweight_factor`` = 0.05 (head classes get the higher
  temperature), and the factor is mean_c(T_c)^2.

The switch is at 0-based epoch 160 (the code re-weights when its 1-based epoch exceeds 160).
Deviation: with f = 0 the official code replaces every expert's logits by the mean's in the LDAM
term; here f = 0 simply drops the diversity term.

The loss needs each expert's logits: call ``loss(logits, target, expert_logits=E)`` with E [B, K, C]
of the same forward (the RIDE model keeps them in ``model.expert_logits``); ``needs_expert_logits``
marks losses that take them, e.g. for a training loop that binds them with ``functools.partial``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import LOSSES, Loss, one_hot
from .checks import check_number
from .weights import class_balanced_weights, ldam_margins


def diversity_temperatures(class_counts: Sequence[int], reweight_factor: float) -> Tensor:
    """v_c / max(v) with v_c = C * pi_c * r + 1 - r, pi_c = n_c / N (RIDE's code, ``RIDELoss``)."""
    n = torch.tensor(class_counts, dtype=torch.float64)
    v = len(n) * (n / n.sum()) * reweight_factor + 1.0 - reweight_factor
    return (v / v.max()).float()


class RIDELoss(Loss):
    """Sum over experts of LDAM(-DRW) plus ``diversity_factor`` times the tempered KL divergence
    from the ensemble (module docstring). ``per_sample`` is one expert's LDAM term."""

    #: Tells a training loop to pass ``expert_logits`` (the model's) with every call.
    needs_expert_logits = True

    margins: Tensor
    drw_weights: Tensor
    drw_temperatures: Tensor

    def __init__(self, name: str, class_counts: Sequence[int], drw_epoch: int, beta: float,
                 max_margin: float, scale: float, diversity_factor: float, temperature: float,
                 reweight_factor: float) -> None:
        super().__init__(name, class_counts)
        self.drw_epoch = check_number(name, "drw_epoch", drw_epoch, minimum=0, integer=True)
        self.max_margin = check_number(name, "max_margin", max_margin, minimum=0, min_open=True)
        self.scale = check_number(name, "scale", scale, minimum=0, min_open=True)
        if (isinstance(diversity_factor, bool) or not isinstance(diversity_factor, numbers.Real)
                or not math.isfinite(diversity_factor)):
            raise ValueError(f"{name}: diversity_factor={diversity_factor!r} is not a finite number; "
                             f"allowed: a finite number (negative rewards diverse experts)")
        self.diversity_factor = float(diversity_factor)
        self.temperature = check_number(name, "temperature", temperature, minimum=0, min_open=True)
        reweight_factor = check_number(name, "reweight_factor", reweight_factor, minimum=0, maximum=1)
        beta = check_number(name, "beta", beta, minimum=0, maximum=1, max_open=True)
        self.register_buffer("margins", ldam_margins(self.class_counts, self.max_margin) * self.scale,
                             persistent=False)
        self.register_buffer("drw_weights", class_balanced_weights(self.class_counts, beta),
                             persistent=False)
        self.register_buffer("drw_temperatures", self.temperature * diversity_temperatures(
            self.class_counts, reweight_factor), persistent=False)
        self.epoch = 0

    def reweighted_at(self, epoch: int) -> bool:
        """Whether the class-balanced weights and per-class temperatures apply at ``epoch``."""
        return epoch >= self.drw_epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def per_sample(self, logits: Tensor, target: Tensor) -> Tensor:
        """One expert's LDAM losses [B]: cross-entropy with z_y lowered by s * m_y."""
        lowered = torch.where(one_hot(target, logits).bool(),
                              logits - self.margins[target].unsqueeze(1), logits)
        return F.cross_entropy(lowered, target, reduction="none")

    def forward(self, logits: Tensor, target: Tensor,  # type: ignore[override]
                expert_logits: Tensor | None = None) -> Tensor:
        """The RIDE loss of the ensemble logits [B, C] and the experts' logits [B, K, C]."""
        self.check_batch(logits, target)
        if expert_logits is None or expert_logits.dim() != 3 or expert_logits.shape[0] != logits.shape[0] \
                or expert_logits.shape[2] != logits.shape[1]:
            shape = None if expert_logits is None else tuple(expert_logits.shape)
            raise ValueError(f"{self.name}: expert_logits of shape {shape}; allowed: the experts' "
                             f"logits [{logits.shape[0]}, K, {logits.shape[1]}] of the same forward")
        reweighted = self.reweighted_at(self.epoch)
        temperature = self.drw_temperatures if reweighted else self.temperature
        factor = self.diversity_factor * (self.drw_temperatures.mean() if reweighted
                                          else self.temperature) ** 2
        ensemble = F.softmax(logits.detach().float() / temperature, dim=1)
        total = logits.new_zeros((), dtype=torch.float32)
        for z in expert_logits.float().unbind(dim=1):
            losses = self.per_sample(z, target)
            if reweighted:
                w = self.drw_weights[target]
                total = total + (w * losses).sum() / w.sum()
            else:
                total = total + losses.mean()
            divergence = F.kl_div(F.log_softmax(z / temperature, dim=1), ensemble, reduction="batchmean")
            total = total + factor * divergence
        return total

    def phase_key(self, epoch: int) -> str:
        return f"{self.sample_key()}|{'drw' if self.reweighted_at(epoch) else 'plain'}"


@LOSSES.register("ride")
def ride(*, class_counts: Sequence[int], drw_epoch: int = 160, beta: float = 0.9999,
         max_margin: float = 0.5, scale: float = 30.0, diversity_factor: float = -0.45,
         temperature: float = 1.0, reweight_factor: float = 0.05) -> Loss:
    """RIDE (Wang et al. 2021) with the official CIFAR-100-LT settings; needs ``expert_logits``."""
    return RIDELoss("ride", class_counts, drw_epoch, beta, max_margin, scale, diversity_factor,
                    temperature, reweight_factor)
