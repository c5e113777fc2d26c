"""The streaming JPEG pipeline: output shapes, augmentation statistics, deterministic evaluation,
per-worker / per-epoch seeding, corrupt files, and samplers plugged in through TorchSampler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from imbalance_baselines.data import DatasetError, FileListSplit, load_split_file_dataset, make_loader
from imbalance_baselines.data import write_split_file_fixture
from imbalance_baselines.data.jpeg_pipeline import decode
from imbalance_baselines.samplers import SAMPLERS, DistributedShard, InstanceSampler

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet normalisation


def _split(root: Path, image: np.ndarray, copies: int, name: str = "img.jpg", quality: int = 95) -> FileListSplit:
    """``copies`` entries of one JPEG written from ``image`` (H, W, 3 uint8), all label 0."""
    Image.fromarray(image).save(root / name, quality=quality)
    return FileListSplit(root=root, paths=[name] * copies, labels=torch.zeros(copies, dtype=torch.int64),
                         category_ids=[0], class_names=["only"])


def _epoch(loader, epoch: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    loader.set_epoch(epoch)
    images, labels = zip(*loader)
    return torch.cat(images), torch.cat(labels)


@pytest.fixture
def fixture_split(tmp_path: Path) -> FileListSplit:
    root = write_split_file_fixture(tmp_path, "imagenet_lt", (6, 4, 2), image_size=32)
    return load_split_file_dataset(root, "imagenet_lt", "train", check_counts=False)


def test_shapes_dtypes_and_labels(fixture_split: FileListSplit) -> None:
    images, labels = next(iter(make_loader(fixture_split, train=True, batch_size=4, workers=0)))
    assert images.shape == (4, 3, 224, 224) and images.dtype == torch.float32 and labels.dtype == torch.int64
    evaluation = make_loader(fixture_split, train=False, batch_size=5, workers=0)
    images, labels = _epoch(evaluation)
    assert images.shape == (12, 3, 224, 224) and torch.equal(labels, fixture_split.labels)  # file order
    assert len(evaluation) == 3
    train_labels = _epoch(make_loader(fixture_split, train=True, batch_size=5, workers=0, image_size=32))[1]
    assert torch.bincount(train_labels).tolist() == [6, 4, 2]  # default: each image once per epoch
    path = fixture_split.root / fixture_split.paths[0]
    pil, libjpeg = decode(path, "pil"), decode(path)
    assert pil.shape == libjpeg.shape == (3, 32, 32) and (pil.float() - libjpeg.float()).abs().mean() < 2


def test_horizontal_flip_fraction_is_one_half(tmp_path: Path) -> None:
    # Grey ramp 40 -> 140 from left to right: every crop, jitter and resize keeps it increasing, so a
    # brighter left than right quarter means the image was flipped.
    ramp = np.linspace(40, 140, 32).round().astype(np.uint8)
    split = _split(tmp_path, np.repeat(np.tile(ramp, (32, 1))[:, :, None], 3, axis=2), copies=200)
    images, _ = _epoch(make_loader(split, train=True, batch_size=50, workers=0, image_size=32, seed=3))
    flipped = (images[:, 0, :, :8].mean(dim=(1, 2)) > images[:, 0, :, -8:].mean(dim=(1, 2))).float().mean()
    assert 0.38 < flipped < 0.62
    assert images.std(dim=0).mean() > 0.05  # random crops and jitter: not one image 200 times


def test_constant_colour_normalises_to_known_values(tmp_path: Path) -> None:
    colour = (200, 100, 50)
    split = _split(tmp_path, np.full((40, 48, 3), colour, dtype=np.uint8), copies=2, quality=100)
    images, _ = _epoch(make_loader(split, train=False, batch_size=2, workers=0, image_size=32))
    expected = torch.tensor([(c / 255 - m) / s for c, m, s in zip(colour, MEAN, STD)])
    assert images.shape == (2, 3, 32, 32)
    assert torch.allclose(images.mean(dim=(0, 2, 3)), expected, atol=0.03)
    assert images.std(dim=(0, 2, 3)).max() < 0.03


def test_evaluation_is_deterministic_and_training_is_seeded(fixture_split: FileListSplit) -> None:
    def run(train: bool, seed: int, epoch: int) -> torch.Tensor:
        return _epoch(make_loader(fixture_split, train=train, batch_size=6, workers=0, image_size=32, seed=seed),
                      epoch)[0]

    assert torch.equal(run(False, 0, 0), run(False, 1, 3))
    assert torch.equal(run(True, 5, 1), run(True, 5, 1))
    assert not torch.equal(run(True, 5, 0), run(True, 5, 1)) and not torch.equal(run(True, 5, 0), run(True, 6, 0))
    torch.manual_seed(123)
    state = torch.get_rng_state()
    run(True, 5, 0)
    assert torch.equal(torch.get_rng_state(), state)  # augmentation leaves the global RNG alone


def test_workers_draw_different_streams_per_worker_and_epoch(tmp_path: Path) -> None:
    split = _split(tmp_path, np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8), copies=8)
    loader = make_loader(split, train=True, batch_size=1, workers=2, image_size=16, seed=7)
    epoch0, epoch1 = _epoch(loader, 0)[0], _epoch(loader, 1)[0]  # persistent workers, two epochs
    del loader
    assert not torch.equal(epoch0[0], epoch0[1])  # batch 0 from worker 0, batch 1 from worker 1
    assert not torch.equal(epoch0[0], epoch1[0])  # same worker, next epoch
    single = _epoch(make_loader(split, train=True, batch_size=1, workers=0, image_size=16, seed=7), 0)[0]
    assert torch.equal(single[:4], epoch0[0::2])  # worker 0's stream is the single-process stream


def test_data_parallel_ranks_draw_different_streams(tmp_path: Path) -> None:
    split = _split(tmp_path, np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8), copies=4)
    first = []
    for rank in (0, 1):
        shard = DistributedShard(InstanceSampler(split.labels, 1, seed=0), rank=rank, world_size=2)
        first.append(_epoch(make_loader(split, train=True, batch_size=1, sampler=shard, workers=0,
                                        image_size=16, seed=7))[0][0])
    assert not torch.equal(first[0], first[1])  # same image, same seed and epoch: rank tells them apart


def _truncate(split: FileListSplit, index: int) -> str:
    path = split.root / split.paths[index]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return split.paths[index]


def test_corrupt_jpeg_stops_with_its_name(fixture_split: FileListSplit) -> None:
    name = _truncate(fixture_split, 7)
    with pytest.raises(DatasetError, match=f"cannot decode image .*{name}.*skip_corrupt=True"):
        _epoch(make_loader(fixture_split, train=False, batch_size=4, workers=0, image_size=16))


def test_corrupt_jpeg_is_skipped_with_a_warning(fixture_split: FileListSplit) -> None:
    name = _truncate(fixture_split, 7)
    loader = make_loader(fixture_split, train=False, batch_size=4, workers=0, image_size=16, skip_corrupt=True)
    with pytest.warns(UserWarning, match=f"skipped unreadable image .*{name}"):
        images, labels = _epoch(loader)
    assert len(images) == len(labels) == 11
    assert torch.equal(labels, torch.cat([fixture_split.labels[:7], fixture_split.labels[8:]]))
    assert loader.skipped == [str(fixture_split.root / name)]


def test_class_balanced_sampler_plugs_in(tmp_path: Path) -> None:
    root = write_split_file_fixture(tmp_path, "imagenet_lt", (60, 12, 3), image_size=8)
    split = load_split_file_dataset(root, "imagenet_lt", "train", check_counts=False)
    sampler = SAMPLERS.build("class_balanced", labels=split.labels, num_classes=3, seed=0)
    loader = make_loader(split, train=True, batch_size=25, sampler=sampler, workers=0, image_size=8)
    for epoch in (0, 1):
        labels = _epoch(loader, epoch)[1]
        assert torch.equal(labels, split.labels[sampler.indices(epoch)])  # the sampler's order, unchanged
        share = torch.bincount(labels, minlength=3).float() / len(labels)
        assert len(labels) == 75 and share.min() > 0.15 and share.max() < 0.55  # not 80 / 16 / 4 %
