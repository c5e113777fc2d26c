"""Where the engine's batches come from: tensors resident on the device, or JPEG files streamed.

``TensorSource`` (CIFAR, synthetic): the training images are one uint8 tensor on the device;
augmentation (crop from 4-pixel padding, flip) is drawn for the whole epoch at once, one per
position of the draw sequence, and applied batch-wise on the device. A sample's augmentation thus
depends on (seed, epoch, position) only, not on the batch size or on how the epoch is shared
between processes. The epoch's draws reach the device in one non-blocking copy (``to_device``): a
plain copy from pageable host memory makes the host wait for the device, once per copied tensor.

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
from ..data.policies import Policy
from ..data.bundle import LongTailedData
from ..data.jpeg_pipeline import make_loader
from ..data.file_lists import FileListData
from ..samplers import DistributedShard, EpochSampler, shard_positions
from .distributed import World
from .seeding import derive_seed, generator


Output = Callable[[Tensor], Tensor]


def to_device(tensor: Tensor, device: torch.device) -> Tensor:
    """``tensor`` on ``device``; from the host to a GPU through pinned memory and without blocking the
    host, so that the step loop keeps queueing work ahead of the device."""
    if device.type != "cuda" or tensor.device.type != "cpu":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


class TensorSource:
    """Batches of a LongTailedData whose images (every split, once used) live as uint8 tensors on
    ``device``."""

    def __init__(self, data: LongTailedData, device: torch.device, channels_last: bool) -> None:
        self.data, self.device, self.channels_last = data, device, channels_last
        self.augment = BatchAugment(data.mean, data.std)
        # The normalisation constants on the device once (normalize would copy them every batch).
        self.augment.mean, self.augment.std = self.augment.mean.to(device), self.augment.std.to(device)
        self.images = data.train.images.to(device)
        self.labels = data.train.labels.to(device)
        self._resident = {"train": self.images}

    def _layout(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def batches(self, sampler: EpochSampler, seed: int, stream_key: str, epoch: int, batch_size: int,
                world: World, policy: Policy | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """This process's augmented batches (x float, y int64) of the epoch's draw sequence; a run's
        stronger ``policy`` (``data.policies``) acts on the uint8 crops before normalisation, its draws
        made per position like the crops'."""
        sequence = sampler.indices(epoch)
        offsets, flips = self.augment.draw(len(sequence), generator(seed, epoch, "augment", stream_key))
        positions = shard_positions(len(sequence), world.rank, world.size)
        drawn = [to_device(t[positions], self.device) for t in (sequence, offsets, flips)]
        if policy is None:
            for batch, offset, flip in zip(*(t.split(batch_size) for t in drawn)):
                yield self._layout(self.augment.apply(self.images[batch], offset, flip)), self.labels[batch]
            return
        size = tuple(self.images.shape[-2:])
        params = policy.draw(len(sequence), generator(seed, epoch, "policy", stream_key), size)[positions]
        for batch, offset, flip, p in zip(*(t.split(batch_size) for t in (*drawn, params))):
            crops = policy.apply(self.augment.crop_flip(self.images[batch], offset, flip), p)
            yield self._layout(self.augment.normalize(crops)), self.labels[batch]

    @torch.no_grad()
    def map(self, output: Output, split: str, precision: str, augment_seed: int | None = None,
            epoch: int = 0, batch_size: int = 1000) -> Tensor:
        """``output`` (e.g. a model, or its ``features``) over a split, float32 on the CPU, in order.
        With ``augment_seed``, training augmentation drawn from (seed, epoch) is applied first."""
        if split not in self._resident:
            self._resident[split] = getattr(self.data, split).images.to(self.device)
        images = self._resident[split]
        stream = generator(augment_seed, epoch, "map-augment") if augment_seed is not None else None
        chunks = []
        for start in range(0, images.shape[0], batch_size):
            batch = images[start:start + batch_size]
            x = self.augment(batch, stream) if stream is not None else self.augment.normalize(batch)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                chunks.append(output(self._layout(x)).float())
        return torch.cat(chunks).cpu()  # one copy to the host (one synchronisation), not one per chunk


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
                world: World, policy: Policy | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        if policy is not None:
            raise ValueError(f"augment={policy.key()!r} on streamed JPEGs is not supported; allowed: the "
                             "standard augmentation (tensor-resident datasets take stronger policies)")
        shard = DistributedShard(sampler, world.rank, world.size) if world.size > 1 else sampler
        loader = self._loader("train", True, shard, derive_seed(seed, stream_key), batch_size)
        loader.set_epoch(epoch)
        for x, y in loader:  # pinned by the loader on CUDA machines: both copies are non-blocking
            yield self._layout(x), y.to(self.device, non_blocking=True)

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
