"""Data-parallel training: each process draws a disjoint share of every epoch (SPEC 2).

The share follows ``torch.utils.data.DistributedSampler``: the epoch's sequence is padded to a
multiple of ``world_size`` by repeating its head, and rank r takes positions r, r + W, r + 2W, ...
Every rank computes the same sequence from (seed, epoch), so ranks agree without communication; the
shares are disjoint by position, and their union is the epoch's sequence plus at most W - 1 repeated
draws (its first ones), so its class distribution is the epoch's.
"""

from __future__ import annotations

import torch

from .base import EpochSampler
from .validation import check_int, invalid


def shard_positions(length: int, rank: int, world_size: int) -> torch.Tensor:
    """Positions in a ``length``-long epoch sequence that rank ``rank`` draws: rank::world_size of
    the sequence padded (by repeating its head) to a multiple of ``world_size``."""
    padded_length = -(-length // world_size) * world_size
    return torch.arange(rank, padded_length, world_size) % length


class DistributedShard(EpochSampler):
    """Rank ``rank``'s share (positions rank::world_size of the padded epoch) of ``sampler``."""

    name = "distributed_shard"

    def __init__(self, sampler: EpochSampler, rank: int, world_size: int) -> None:
        if not isinstance(sampler, EpochSampler):
            raise invalid(self.name, "sampler", sampler, "an EpochSampler")
        self.world_size = check_int(self.name, "world_size", world_size, minimum=1)
        self.rank = check_int(self.name, "rank", rank, minimum=0)
        if self.rank >= self.world_size:
            raise invalid(self.name, "rank", rank, f"an integer in [0, {self.world_size})")
        self.sampler = sampler

    def num_samples(self, epoch: int) -> int:
        return -(-self.sampler.num_samples(epoch) // self.world_size)

    def indices(self, epoch: int) -> torch.Tensor:
        sequence = self.sampler.indices(epoch)
        return sequence[shard_positions(len(sequence), self.rank, self.world_size)]

    def phase_key(self, epoch: int) -> str:
        return (f"shard(rank={self.rank},world_size={self.world_size})/"
                f"{self.sampler.phase_key(epoch)}")
