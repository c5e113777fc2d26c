"""mini-ImageNet-LT (Vigneswaran et al. 2021) built on a small ImageNet-layout tree: disjoint splits,
exact counts after the profile, seeding, the shipped class list, and the refusals."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from imbalance_baselines.data import (DatasetError, build_mini_imagenet_lt, load_split_file_dataset,
                                      mini_imagenet_classes, write_imagenet_train_tree)
from imbalance_baselines.data.split_files import KNOWN_COUNTS

WNIDS = [f"n{7_000_000 + 13 * k:08d}" for k in (5, 2, 9, 0, 7, 1, 8, 3, 6, 4)]  # unsorted on purpose
SIZES = (12, 6, 6)  # train, val, test per class (the real build: 500, 100, 100)
# int(12 * 10 ** (-i / 9)), i = 0..9: the exponential profile with n_max 12, IF 10 (SPEC 1).
TRAIN_COUNTS = [12, 9, 7, 5, 4, 3, 2, 2, 1, 1]


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_imagenet_train_tree(tmp_path_factory.mktemp("imagenet"), WNIDS, 30, image_size=8)


def _build(imagenet: Path, out: Path, seed: int = 0) -> dict:
    return build_mini_imagenet_lt(imagenet, out, imbalance_factor=10, seed=seed, classes=WNIDS, split_sizes=SIZES)


def _entries(out: Path, split: str) -> list[tuple[str, int]]:
    lines = (out / f"mini_ImageNet_LT_{split}.txt").read_text().splitlines()
    return [(path, int(label)) for path, label in (line.split() for line in lines)]


def test_shipped_class_list_is_the_100_mini_imagenet_wnids() -> None:
    classes = mini_imagenet_classes()
    assert len(classes) == 100 == len(set(classes))
    assert all(re.fullmatch(r"n\d{8}", wnid) for wnid in classes)
    # first and last of TailCalibX's list; two of Ravi & Larochelle's test classes
    assert classes[0] == "n02110341" and classes[-1] == "n02981792"
    assert {"n01930112", "n13133613", "n01532829"} <= set(classes)


def test_splits_are_disjoint_with_exact_counts(imagenet: Path, tmp_path: Path) -> None:
    record = _build(imagenet, tmp_path)
    entries = {split: _entries(tmp_path, split) for split in ("train", "val", "test")}
    paths = {split: {p for p, _ in rows} for split, rows in entries.items()}
    assert not paths["train"] & paths["val"] and not paths["train"] & paths["test"]
    assert not paths["val"] & paths["test"]
    for split, expected in (("train", TRAIN_COUNTS), ("val", [6] * 10), ("test", [6] * 10)):
        per_class = [sum(1 for _, label in entries[split] if label == c) for c in range(10)]
        assert per_class == expected, split
    for split in entries:  # labels follow sorted wnids; every path is in its class's folder
        assert all(path.split("/")[:2] == ["train", sorted(WNIDS)[label]] for path, label in entries[split])
    assert record["classes"] == sorted(WNIDS) and record["counts"]["train"] == TRAIN_COUNTS
    for split in entries:
        digest = hashlib.sha256((tmp_path / f"mini_ImageNet_LT_{split}.txt").read_bytes()).hexdigest()
        assert record["sha256"][split] == digest
        loaded = load_split_file_dataset(imagenet, "mini_imagenet_lt", split, split_dir=tmp_path)
        assert loaded.identity["split_file_sha256"] == digest and loaded.identity["counts_checked"]


def test_same_seed_same_files_other_seed_other_files(imagenet: Path, tmp_path: Path) -> None:
    first, again = _build(imagenet, tmp_path / "a"), _build(imagenet, tmp_path / "b")
    other = _build(imagenet, tmp_path / "c", seed=1)
    assert first["sha256"] == again["sha256"]
    assert all(first["sha256"][split] != other["sha256"][split] for split in ("train", "val", "test"))


def test_default_definition_is_500_to_5_and_100_per_evaluation_split() -> None:
    train = KNOWN_COUNTS[("mini_imagenet_lt", "train")]
    assert (train.max_per_class, train.min_per_class, train.num_images, train.num_classes) == (500, 5, 10_847, 100)
    assert KNOWN_COUNTS[("mini_imagenet_lt", "test")].per_class == (100,) * 100


def test_missing_classes_are_counted_and_named(imagenet: Path, tmp_path: Path) -> None:
    absent = ["n00000001", "n00000002", "n00000003"]
    with pytest.raises(DatasetError, match=r"lacks 3 of the 13 mini-ImageNet classes, e\.g\. "
                                           r"n00000001, n00000002, n00000003"):
        build_mini_imagenet_lt(imagenet, tmp_path, classes=WNIDS + absent, split_sizes=SIZES)
    with pytest.raises(DatasetError, match="lacks 100 of the 100 mini-ImageNet classes, e.g. n02110341"):
        build_mini_imagenet_lt(imagenet, tmp_path)  # the real list against the synthetic tree


def test_class_with_too_few_images_is_refused(tmp_path: Path) -> None:
    root = write_imagenet_train_tree(tmp_path / "small", ["n00000010", "n00000020"], [30, 20], image_size=8)
    with pytest.raises(DatasetError, match=r"train/n00000020 has 20 images; mini-ImageNet-LT needs 24 per class"):
        build_mini_imagenet_lt(root, tmp_path / "out", imbalance_factor=2, classes=["n00000010", "n00000020"],
                               split_sizes=SIZES)


def test_missing_train_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="ImageNet train folder .*train is missing"):
        build_mini_imagenet_lt(tmp_path, tmp_path / "out")
