"""Streaming input pipeline for file-list datasets (ImageNet-LT, Places-LT, mini-ImageNet-LT, iNaturalist).

Images stay on disk; DataLoader workers read and decode them (``torchvision.io.decode_jpeg``, or PIL)
and apply the standard ImageNet recipe with ``torchvision.transforms.v2`` (as in Kang et al. 2020,
"Decoupling Representation and Classifier for Long-Tailed Recognition", ICLR, and the OLTR code of
Liu et al. 2019): training RandomResizedCrop(224) + horizontal flip + ColorJitter(0.4, 0.4, 0.4);
evaluation Resize(256) + CenterCrop(224); both ImageNet normalisation. Decoding happens here on the
CPU, in the workers; on CUDA, ``decode_jpeg(list_of_encoded, device="cuda")`` can decode a whole batch
on the GPU (nvJPEG), an option for a loader whose CPU workers cannot keep up.

Seeding (the seed code re-seeded every worker identically: correlated augmentation, SPEC 9): the
augmentation draws from a private random stream per (seed, epoch, rank, worker), started afresh when the
epoch changes (``set_epoch``, shared with persistent workers through shared memory) and never touching
the global torch RNG of the process. An epoch's augmentation is thus a pure function of the seed, the
epoch, the sampler's indices and the worker count, so a resumed run repeats it exactly. The rank (of
a :class:`~..samplers.DistributedShard` sampler, else of ``torch.distributed``) keeps data-parallel
processes on different streams.

Samplers (:mod:`..samplers`: class-balanced, square-root, progressive, class-aware, DDP shards) plug in
unchanged through :class:`~..samplers.TorchSampler`. A truncated or corrupt image stops the run with a
:class:`DatasetError` naming the file; with ``skip_corrupt=True`` it is dropped from its batch with a
warning naming it, and ``loader.skipped`` lists the skips (a file skipped in two epochs twice).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, get_worker_info
from torchvision.io import ImageReadMode, decode_image, decode_jpeg, read_file
from torchvision.transforms import v2
from torchvision.transforms.functional import pil_to_tensor

from ..samplers import DistributedShard, EpochSampler, InstanceSampler, TorchSampler
from ..samplers.base import make_generator
from .errors import DatasetError
from .inaturalist import FileListSplit

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DECODERS = ("torchvision", "pil")
_JPEG_MAGIC = b"\xff\xd8"


def train_transform(image_size: int = 224) -> v2.Compose:
    """RandomResizedCrop + horizontal flip + ColorJitter(0.4, 0.4, 0.4) + ImageNet normalisation, uint8 in."""
    return v2.Compose([v2.RandomResizedCrop(image_size, antialias=True), v2.RandomHorizontalFlip(),
                       v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4),
                       v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def eval_transform(image_size: int = 224) -> v2.Compose:
    """Resize (shorter side image_size * 256 / 224: 256 for 224) + CenterCrop + normalisation."""
    return v2.Compose([v2.Resize(round(image_size * 256 / 224), antialias=True), v2.CenterCrop(image_size),
                       v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def decode(path: Path, decoder: str = "torchvision") -> Tensor:
    """uint8 RGB [3, H, W]: ``decode_jpeg`` for JPEG bytes (``decode_image`` for PNG and the like), or PIL.

    torchvision 0.29 deprecates its decoders in favour of TorchCodec and warns at every call; that one
    DeprecationWarning is silenced here (once per image it would drown the log). ``decoder="pil"`` is
    the way on once a torchvision without them is installed.
    """
    if decoder == "pil":
        with Image.open(path) as image:
            return pil_to_tensor(image.convert("RGB"))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torchvision\.io")
        data = read_file(str(path))
        if bytes(data[:2].tolist()) == _JPEG_MAGIC:
            return decode_jpeg(data, mode=ImageReadMode.RGB)
        return decode_image(data, mode=ImageReadMode.RGB)


@dataclass(frozen=True)
class Skipped:
    """An image left out of its batch: its path and why."""

    path: str
    reason: str


class JpegDataset(Dataset):
    """``(transform(decoded image), label)`` per index of a :class:`FileListSplit`.

    With ``augment_seed`` the transform draws from the private (seed, epoch, rank, worker) stream
    described in the module docstring; without it (evaluation) it is applied as is. An unreadable image raises
    DatasetError, or with ``skip_corrupt`` returns a :class:`Skipped` for the collate function to drop.
    """

    def __init__(self, split: FileListSplit, transform: Callable[[Tensor], Tensor],
                 augment_seed: int | None = None, skip_corrupt: bool = False, decoder: str = "torchvision",
                 rank: int = 0) -> None:
        if decoder not in DECODERS:
            raise ValueError(f"decoder={decoder!r} is not supported; allowed: {', '.join(DECODERS)}")
        self.split, self.transform, self.decoder = split, transform, decoder
        self.augment_seed, self.skip_corrupt, self.rank = augment_seed, skip_corrupt, rank
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()  # seen by persistent workers
        self._stream: tuple[int, int] | None = None
        self._rng_state: Tensor | None = None

    def __len__(self) -> int:
        return len(self.split)

    def set_epoch(self, epoch: int) -> None:
        """Augment with the streams of epoch ``epoch`` from the next image on."""
        self._epoch[0] = int(epoch)

    def _augment(self, image: Tensor) -> Tensor:
        info = get_worker_info()
        stream = (int(self._epoch[0]), info.id if info is not None else 0)
        if stream != self._stream:
            generator = make_generator(self.augment_seed, "jpeg-augment", stream[0], self.rank, stream[1])
            self._stream, self._rng_state = stream, generator.get_state()
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self._rng_state)
            out = self.transform(image)
            self._rng_state = torch.get_rng_state()
        return out

    def __getitem__(self, index: int) -> tuple[Tensor, int] | Skipped:
        path = self.split.root / self.split.paths[index]
        try:
            image = decode(path, self.decoder)
        except (OSError, RuntimeError, ValueError) as error:
            if self.skip_corrupt:
                return Skipped(str(path), str(error).splitlines()[-1] if str(error) else type(error).__name__)
            raise DatasetError(f"cannot decode image {path}: {error}; pass skip_corrupt=True to skip "
                               f"unreadable images with a warning") from error
        label = int(self.split.labels[index])
        return (self._augment(image) if self.augment_seed is not None else self.transform(image)), label


def collate_skipping(batch: list[tuple[Tensor, int] | Skipped]) -> tuple[Tensor, Tensor, list[Skipped]]:
    """Stack the decoded images and labels; return the skipped ones apart (an all-skipped batch is empty)."""
    kept = [item for item in batch if not isinstance(item, Skipped)]
    skipped = [item for item in batch if isinstance(item, Skipped)]
    if not kept:
        return torch.empty(0), torch.empty(0, dtype=torch.int64), skipped
    return (torch.stack([image for image, _ in kept]),
            torch.tensor([label for _, label in kept], dtype=torch.int64), skipped)


class JpegLoader(DataLoader):
    """A DataLoader yielding ``(images float [B, 3, S, S], labels int64 [B])``; ``set_epoch`` sets the
    sampler's epoch and the augmentation streams; ``skipped`` lists the path of every skipped image."""

    def __init__(self, dataset: JpegDataset, **kwargs: Any) -> None:
        super().__init__(dataset, collate_fn=collate_skipping, **kwargs)
        self.skipped: list[str] = []

    def set_epoch(self, epoch: int) -> None:
        if isinstance(self.sampler, TorchSampler):
            self.sampler.set_epoch(epoch)
        self.dataset.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:  # type: ignore[override]
        for images, labels, skipped in super().__iter__():
            for item in skipped:
                self.skipped.append(item.path)
                warnings.warn(f"skipped unreadable image {item.path}: {item.reason}", UserWarning, stacklevel=2)
            if len(labels):
                yield images, labels


def make_loader(split: FileListSplit, train: bool, batch_size: int, sampler: EpochSampler | None = None,
                workers: int = 2, image_size: int = 224, seed: int = 0, skip_corrupt: bool = False,
                decoder: str = "torchvision", drop_last: bool = False) -> JpegLoader:
    """A streaming loader over ``split``: the training recipe and augmentation seeding when ``train``,
    else the evaluation transform. ``sampler`` (an EpochSampler over ``split``'s labels) orders the
    draws; by default training shuffles each epoch (``instance``) and evaluation reads in file order.
    Pinned memory when CUDA is available, persistent workers when ``workers > 0``.
    """
    if train and sampler is None:
        sampler = InstanceSampler(split.labels, split.num_classes, seed)
    if isinstance(sampler, DistributedShard):
        rank = sampler.rank
    else:
        rank = torch.distributed.get_rank() if torch.distributed.is_available() and \
            torch.distributed.is_initialized() else 0
    dataset = JpegDataset(split, train_transform(image_size) if train else eval_transform(image_size),
                          augment_seed=seed if train else None, skip_corrupt=skip_corrupt, decoder=decoder,
                          rank=rank)
    return JpegLoader(dataset, batch_size=batch_size,
                      sampler=TorchSampler(sampler) if sampler is not None else None, shuffle=False,
                      num_workers=workers, pin_memory=torch.cuda.is_available(),
                      persistent_workers=workers > 0, drop_last=drop_last,
                      generator=torch.Generator().manual_seed(seed))
