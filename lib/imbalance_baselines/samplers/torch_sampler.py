"""A ``torch.utils.data.Sampler`` over an EpochSampler, for code that trains with a DataLoader."""

from __future__ import annotations

from typing import Iterator

from torch.utils.data import Sampler

from .base import EpochSampler
from .validation import check_epoch, invalid


class TorchSampler(Sampler[int]):
    """Yields ``sampler.indices(epoch)``; call ``set_epoch`` before each epoch, as with
    ``DistributedSampler`` (wrap a ``DistributedShard`` for data-parallel loaders)."""

    name = "torch_sampler"

    def __init__(self, sampler: EpochSampler, epoch: int = 0) -> None:
        super().__init__()
        if not isinstance(sampler, EpochSampler):
            raise invalid(self.name, "sampler", sampler, "an EpochSampler")
        self.sampler = sampler
        self.epoch = check_epoch(self.name, epoch)

    def set_epoch(self, epoch: int) -> None:
        """Draw epoch ``epoch`` on the next iteration."""
        self.epoch = check_epoch(self.name, epoch)

    def __iter__(self) -> Iterator[int]:
        return iter(self.sampler.indices(self.epoch).tolist())

    def __len__(self) -> int:
        return self.sampler.num_samples(self.epoch)
