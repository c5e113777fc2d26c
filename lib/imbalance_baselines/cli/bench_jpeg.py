"""``make bench``, JPEG part: the streaming JPEG pipeline against a plain ImageFolder reference, same run.

Both read the same synthetic JPEG tree (``train/<wnid>/*.JPEG``, written to a temporary folder) with 2
DataLoader workers and apply the standard ImageNet training recipe (RandomResizedCrop 224, horizontal
flip, ColorJitter(0.4, 0.4, 0.4), normalisation):

- the pipeline: ``data.jpeg_pipeline.make_loader`` (``decode_jpeg`` on uint8 tensors, transforms.v2,
  per-worker augmentation streams);
- the reference: ``torchvision.datasets.ImageFolder`` + ``DataLoader``, PIL decoding and the classic
  ``torchvision.transforms`` on PIL images, as most peer repositories (OLTR, classifier-balancing) do.

Images/s are of the loaders alone (no model), the first batch (worker start-up) excluded. Compare the
ratio, not the absolute numbers.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import torch
import torchvision.transforms as T
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder

from ..data.inaturalist import FileListSplit
from ..data.jpeg_pipeline import IMAGENET_MEAN, IMAGENET_STD, make_loader
from ..data.split_fixtures import write_imagenet_train_tree


def images_per_second(loader: Iterable[tuple[torch.Tensor, torch.Tensor]], epochs: int = 2) -> float:
    """Images/s of ``epochs`` passes over ``loader``, the first batch excluded (worker start-up)."""
    seen, started = 0, None
    for _ in range(epochs):
        for _, labels in loader:
            if started is None:
                started = time.perf_counter()
                continue
            seen += len(labels)
    return seen / (time.perf_counter() - started)


def reference_loader(root: Path, batch_size: int, workers: int) -> DataLoader:
    """ImageFolder + DataLoader with PIL decoding and the classic per-sample transforms."""
    transform = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(),
                           T.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4), T.ToTensor(),
                           T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    return DataLoader(ImageFolder(str(root), transform=transform), batch_size=batch_size, shuffle=True,
                      num_workers=workers, persistent_workers=workers > 0,
                      generator=torch.Generator().manual_seed(0))


def pipeline_loader(root: Path, batch_size: int, workers: int) -> DataLoader:
    """The project's streaming pipeline over the same files."""
    folder = ImageFolder(str(root))
    paths = [str(Path(path).relative_to(root)) for path, _ in folder.samples]
    split = FileListSplit(root=root, paths=paths, labels=torch.tensor(folder.targets),
                          category_ids=list(range(len(folder.classes))), class_names=folder.classes)
    return make_loader(split, train=True, batch_size=batch_size, workers=workers, image_size=224)


def compare(classes: int = 4, per_class: int = 32, file_size: int = 320, batch_size: int = 32,
            workers: int = 2) -> dict[str, float]:
    """Images/s of the pipeline and the reference on a synthetic JPEG tree, and their ratio."""
    with tempfile.TemporaryDirectory() as scratch:
        wnids = [f"n{90_000_000 + k:08d}" for k in range(classes)]
        root = write_imagenet_train_tree(scratch, wnids, per_class, image_size=file_size) / "train"
        pipeline = images_per_second(pipeline_loader(root, batch_size, workers))
        reference = images_per_second(reference_loader(root, batch_size, workers))
    return {"pipeline": pipeline, "reference": reference, "ratio": pipeline / reference}
