"""Where the engine's batches come from: tensors resident on the device, or JPEG files streamed.

``TensorSource`` (CIFAR, synthetic): the training images are one uint8 tensor on the device;
augmentation (crop from 4-pixel padding, flip) is drawn for the whole epoch at once, one per
position of the draw sequence, and applied batch-wise on the device. A sample's augmentation thus
depends on (seed, epoch, position) only, not on the batch size or on how the epoch is shared
between processes.

``FileListSource`` (ImageNet-LT, Places-LT, mini-ImageNet-LT, iNaturalist): images stay on disk and
DataLoader workers decode and augment them (``data.jpeg_pipeline``); the run's sampler orders the
draws, sharded per process.

Both map a network over a split for evaluation and feature extraction (``map``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

from ..data.augment import BatchAugment
from ..data.bundle import LongTailedData
from ..data.jpeg_pipeline import make_loader
from ..data.file_lists import FileListData
from ..samplers import DistributedShard, EpochSampler, shard_positions
from .distributed import World
from .seeding import derive_seed, generator


Output = Callable[[Tensor], Tensor]


class TensorSource:
    """Batches of a LongTailedData whose images live as one uint8 tensor on ``device``."""

    def __init__(self, data: LongTailedData, device: torch.device, channels_last: bool) -> None:
        self.data, self.device, self.channels_last = data, device, channels_last
        self.augment = BatchAugment(data.mean, data.std)
        self.images = data.train.images.to(device)
        self.labels = data.train.labels.to(device)

    def _layout(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def batches(self, sampler: EpochSampler, seed: int, stream_key: str, epoch: int, batch_size: int,
                world: World) -> Iterator[tuple[Tensor, Tensor]]:
        """This process's augmented batches (x float, y int64) of the epoch's draw sequence."""
        sequence = sampler.indices(epoch)
        offsets, flips = self.augment.draw(len(sequence), generator(seed, epoch, "augment", stream_key))
        positions = shard_positions(len(sequence), world.rank, world.size)
        for batch, offset, flip in zip(*(t[positions].split(batch_size) for t in (sequence, offsets, flips))):
            batch = batch.to(self.device)
            yield self._layout(self.augment.apply(self.images[batch], offset, flip)), self.labels[batch]

    @torch.no_grad()
    def map(self, output: Output, split: str, precision: str, augment_seed: int | None = None,
            epoch: int = 0, batch_size: int = 1000) -> Tensor:
        """``output`` (e.g. a model, or its ``features``) over a split, float32 on the CPU, in order.
        With ``augment_seed``, training augmentation drawn from (seed, epoch) is applied first."""
        images = getattr(self.data, split).images
        stream = generator(augment_seed, epoch, "map-augment") if augment_seed is not None else None
        chunks = []
        for start in range(0, images.shape[0], batch_size):
            batch = images[start:start + batch_size].to(self.device)
            x = self.augment(batch, stream) if stream is not None else self.augment.normalize(batch)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                chunks.append(output(self._layout(x)).float().cpu())
        return torch.cat(chunks)


class FileListSource:
    """Batches of a FileListData streamed from disk by DataLoader workers."""

    def __init__(self, data: FileListData, device: torch.device, channels_last: bool) -> None:
        self.data, self.device, self.channels_last = data, device, channels_last
        self._loaders: dict[tuple, Any] = {}

    def _layout(self, x: Tensor) -> Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _loader(self, split: str, train: bool, sampler: EpochSampler | None, seed: int, batch_size: int):
        key = (split, train, id(sampler), seed, batch_size)
        if key not in self._loaders:  # kept: persistent workers survive across epochs
            self._loaders[key] = make_loader(getattr(self.data, split), train, batch_size, sampler,
                                             self.data.workers, self.data.image_size, seed)
        return self._loaders[key]

    def batches(self, sampler: EpochSampler, seed: int, stream_key: str, epoch: int, batch_size: int,
                world: World) -> Iterator[tuple[Tensor, Tensor]]:
        shard = DistributedShard(sampler, world.rank, world.size) if world.size > 1 else sampler
        loader = self._loader("train", True, shard, derive_seed(seed, stream_key), batch_size)
        loader.set_epoch(epoch)
        for x, y in loader:
            yield self._layout(x), y.to(self.device)

    @torch.no_grad()
    def map(self, output: Output, split: str, precision: str, augment_seed: int | None = None,
            epoch: int = 0, batch_size: int = 256) -> Tensor:
        train = augment_seed is not None
        sampler = None
        if train:  # training augmentation in file order (features for two-stage methods)
            sampler = _InOrder(getattr(self.data, split).labels)
        loader = self._loader(split, train, sampler, augment_seed or 0, batch_size)
        loader.set_epoch(epoch)
        chunks = []
        for x, _ in loader:
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                chunks.append(output(self._layout(x)).float().cpu())
        return torch.cat(chunks)


class _InOrder(EpochSampler):
    """Every index once, in order, each epoch (augmented feature extraction)."""

    name = "in_order"

    def __init__(self, labels: Tensor) -> None:
        self.length = len(labels)

    def indices(self, epoch: int) -> Tensor:
        return torch.arange(self.length)

    def num_samples(self, epoch: int) -> int:
        return self.length

    def phase_key(self, epoch: int) -> str:
        return f"in_order({self.length})"


def make_source(data: LongTailedData | FileListData, device: torch.device,
                channels_last: bool) -> TensorSource | FileListSource:
    """The source for ``data``'s kind."""
    if isinstance(data, FileListData):
        return FileListSource(data, device, channels_last)
    return TensorSource(data, device, channels_last)
