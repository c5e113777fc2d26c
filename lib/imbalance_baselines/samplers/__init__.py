"""Samplers for long-tailed training (SPEC section 2), found by name in ``SAMPLERS``.

``SAMPLERS.build(name, labels=..., num_classes=C, seed=s, **params)`` gives an ``EpochSampler``
whose ``indices(epoch)`` is a pure function of its arguments, the seed and the epoch:

- ``instance``: a random permutation of the N images each epoch;
- ``oversample`` / ``undersample`` (ratio): a training list changed once, shuffled each epoch;
- ``class_balanced`` (q), ``square_root``, ``progressive`` (total_epochs): Kang et al. 2020;
- ``class_aware`` (k, num_samples): Shen et al. 2016;
- ``drs`` (start_epoch, then, then_params): Cao et al. 2019's deferred re-sampling.

Adapters: ``DistributedShard`` (one rank's share of each epoch) and ``TorchSampler`` (DataLoader).
"""

from .base import SAMPLERS, EpochSampler, SeededSampler
from .class_aware import ClassAwareSampler
from .deferred import DeferredSampler
from .distributed import DistributedShard, shard_positions
from .offline import (OfflineSampler, OversampleSampler, UndersampleSampler, oversample_indices,
                      undersample_indices)
from .online import (ClassBalancedSampler, ClassProbabilitySampler, InstanceSampler,
                     ProgressiveSampler)
from .torch_sampler import TorchSampler

__all__ = [
    "SAMPLERS", "EpochSampler", "SeededSampler", "InstanceSampler", "ClassProbabilitySampler",
    "ClassBalancedSampler", "ProgressiveSampler", "ClassAwareSampler", "OfflineSampler",
    "OversampleSampler", "UndersampleSampler", "oversample_indices", "undersample_indices",
    "DeferredSampler", "DistributedShard", "TorchSampler", "shard_positions",
]
