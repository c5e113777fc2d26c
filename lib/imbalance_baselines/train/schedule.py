"""Learning-rate schedules of the CIFAR-LT protocol (SPEC 7), as pure functions of the epoch.

Warm-up is per epoch, as LDAM-DRW's ``adjust_learning_rate``: lr = base * (e + 1) / warmup for the
first ``warmup`` epochs (e 0-based). Then either step decay, multiplying by ``factors[i]`` from
``milestones[i]`` on (LDAM-DRW and Cui et al.: factors 0.01 and 0.0001 at epochs 160 and 180; the
seed's variant: 0.1 and 0.01), or cosine decay to zero over the remaining epochs.

When the total batch changes (another GPU count, a smaller per-GPU batch), the base learning rate
follows the linear scaling rule (``linear_scaled_lr``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

SCHEDULES = ("step", "cosine")


def learning_rate(epoch: int, epochs: int, base_lr: float, warmup_epochs: int = 5,
                  schedule: str = "step", milestones: Sequence[int] = (160, 180),
                  factors: Sequence[float] = (0.01, 0.0001)) -> float:
    """The learning rate of 0-based ``epoch`` of ``epochs``."""
    if epoch < warmup_epochs:
        return base_lr * (epoch + 1) / warmup_epochs
    if schedule == "cosine":
        progress = (epoch - warmup_epochs) / max(1, epochs - warmup_epochs)
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    factor = 1.0
    for milestone, milestone_factor in zip(milestones, factors):
        if epoch >= milestone:
            factor = milestone_factor
    return base_lr * factor


def linear_scaled_lr(base_lr: float, total_batch: int, reference_batch: int) -> float:
    """The linear scaling rule (Goyal et al. 2017, "Accurate, Large Minibatch SGD", Sec. 2.1): a
    recipe's ``base_lr`` for a total batch of ``reference_batch`` becomes
    base_lr * total_batch / reference_batch (e.g. Kang et al. 2020: 0.2 at 512 -> 0.1 at 256)."""
    if total_batch < 1 or reference_batch < 1:
        raise ValueError(f"total_batch={total_batch}, reference_batch={reference_batch}; allowed: both >= 1")
    return base_lr * total_batch / reference_batch
