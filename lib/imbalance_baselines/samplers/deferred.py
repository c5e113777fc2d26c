"""Deferred re-sampling (DRS): instance sampling first, a re-balancing sampler from a later epoch on.

Cao, Wei, Gaidon, Arechiga and Ma, "Learning Imbalanced Datasets with Label-Distribution-Aware Margin
Loss", NeurIPS 2019, Section 3.3 (deferred re-balancing schedule; DRS is its re-sampling form, the
paper's CIFAR schedule switching at epoch 160 of 200).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from .base import SAMPLERS, EpochSampler, register
from .online import InstanceSampler
from .validation import check_epoch, check_int, invalid

_SHARED_ARGUMENTS = ("labels", "num_classes", "seed")


@register("drs")
class DeferredSampler(EpochSampler):
    """``instance`` sampling for epochs < ``start_epoch``, then the registered sampler ``then``.

    Each phase *is* its sampler (same labels and seed): before the switch ``indices`` and
    ``phase_key`` equal those of ``instance``, from the switch on those of ``then`` built with
    ``then_params``, so a run with DRS shares its prefix with a plain run draw for draw.
    """

    def __init__(self, labels: torch.Tensor | Sequence[int], num_classes: int, seed: int,
                 start_epoch: int, then: str = "class_balanced",
                 then_params: Mapping[str, Any] | None = None) -> None:
        self.start_epoch = check_int(self.name, "start_epoch", start_epoch, minimum=0)
        then_params = {} if then_params is None else then_params
        if not isinstance(then_params, Mapping) or set(then_params) & set(_SHARED_ARGUMENTS):
            raise invalid(self.name, "then_params", then_params,
                          f"a mapping of parameters of {then!r} other than "
                          f"{', '.join(_SHARED_ARGUMENTS)} (drs passes those)")
        factory = SAMPLERS.get(then)  # an unknown name raises the registry's error
        self.before = InstanceSampler(labels, num_classes, seed)
        self.after: EpochSampler = factory(labels=labels, num_classes=num_classes, seed=seed,
                                           **then_params)

    def phase(self, epoch: int) -> EpochSampler:
        """The sampler that draws epoch ``epoch``."""
        return self.before if check_epoch(self.name, epoch) < self.start_epoch else self.after

    def indices(self, epoch: int) -> torch.Tensor:
        return self.phase(epoch).indices(epoch)

    def num_samples(self, epoch: int) -> int:
        return self.phase(epoch).num_samples(epoch)

    def phase_key(self, epoch: int) -> str:
        return self.phase(epoch).phase_key(epoch)
