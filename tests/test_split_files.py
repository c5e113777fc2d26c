"""Split-file datasets (ImageNet-LT / Places-LT, Liu et al. 2019): parsing, every load-time check, and
the known counts, on small JPEG trees in the published layouts. Expected values are typed in here
(published figures, fixture counts), not taken from the code under test."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from imbalance_baselines.data import (DatasetError, FileListDataset, load_split_file_dataset,
                                      write_split_file_fixture)
from imbalance_baselines.data.split_files import KNOWN_COUNTS, check_known_counts
from imbalance_baselines.evaluate import shot_group_accuracy

TRAIN = (12, 6, 3)  # fixture: train images per class; val 2 and test 3 per class


@pytest.fixture
def imagenet(tmp_path: Path) -> Path:
    return write_split_file_fixture(tmp_path / "inet", "imagenet_lt", TRAIN, val_per_class=2,
                                    test_per_class=3, image_size=16)


def _load(root: Path, split: str, benchmark: str = "imagenet_lt"):
    return load_split_file_dataset(root, benchmark, split, check_counts=False)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_every_split_parses_with_counts_names_and_hash(imagenet: Path) -> None:
    splits = {s: _load(imagenet, s) for s in ("train", "val", "test")}
    assert splits["train"].class_counts() == [12, 6, 3]
    assert splits["val"].class_counts() == [2, 2, 2] and splits["test"].class_counts() == [3, 3, 3]
    assert splits["train"].class_names == ["n90000000", "n90000001", "n90000002"]
    assert all(p.startswith("train/") for p in splits["train"].paths + splits["val"].paths)
    assert all(p.startswith("val/") and "ILSVRC2012_val_" in p for p in splits["test"].paths)
    assert not set(splits["train"].paths) & set(splits["val"].paths)
    for split, data in splits.items():
        file = imagenet / f"ImageNet_LT_{split}.txt"
        assert data.identity["split_file_sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
        assert data.identity["split_file"] == file.name and data.num_classes == 3
    first = _lines(imagenet / "ImageNet_LT_val.txt")[0].split()
    assert splits["val"].paths[0] == first[0] and int(splits["val"].labels[0]) == int(first[1])
    image, label = FileListDataset(splits["test"])[4]  # the file-list interface of iNaturalist
    assert image.size == (16, 16) and label == 1


def test_places_lt_layout_loads(tmp_path: Path) -> None:
    root = write_split_file_fixture(tmp_path, "places_lt", (5, 2), image_size=8)
    train, test = _load(root, "train", "places_lt"), _load(root, "test", "places_lt")
    assert train.paths[0] == "train/scene_000/00000000.jpg" and train.class_counts() == [5, 2]
    assert test.paths[0] == "val/scene_000/Places365_val_00000001.jpg" and test.class_names[1] == "scene_001"


def test_missing_images_are_counted_and_the_first_named(imagenet: Path) -> None:
    listed = [line.split()[0] for line in _lines(imagenet / "ImageNet_LT_train.txt")]
    for relative in listed[3:10]:
        (imagenet / relative).unlink()
    with pytest.raises(DatasetError, match="ImageNet_LT_train.txt: 7 of 21 listed images are missing") as info:
        _load(imagenet, "train")
    message = str(info.value)
    assert all(name in message for name in listed[3:8]) and listed[8] not in message


def test_label_out_of_range_names_file_and_line(imagenet: Path) -> None:
    val = imagenet / "ImageNet_LT_val.txt"
    val.write_text(val.read_text() + "train/n90000000/n90000000_0.JPEG 3\n")
    with pytest.raises(DatasetError, match=r"ImageNet_LT_val.txt: 1 labels are outside 0..2 .*line 7: 3"):
        _load(imagenet, "val")
    train = imagenet / "ImageNet_LT_train.txt"
    train.write_text("train/n90000000/n90000000_0.JPEG -1\n" + train.read_text())
    with pytest.raises(DatasetError, match=r"ImageNet_LT_train.txt: 1 labels are outside .*line 1: -1"):
        _load(imagenet, "train")


def test_malformed_lines_are_refused(imagenet: Path) -> None:
    train = imagenet / "ImageNet_LT_train.txt"
    train.write_text(train.read_text() + "train/n90000000/n90000000_0.JPEG one\n")
    with pytest.raises(DatasetError, match="line 22: label 'one' is not an integer"):
        _load(imagenet, "train")
    train.write_text("just_a_path.JPEG\n")
    with pytest.raises(DatasetError, match="line 1: expected 'relative/path label'"):
        _load(imagenet, "train")


def test_class_without_training_image_is_refused(imagenet: Path) -> None:
    train = imagenet / "ImageNet_LT_train.txt"
    train.write_text("\n".join(line for line in _lines(train) if not line.endswith(" 1")) + "\n")
    with pytest.raises(DatasetError, match=r"ImageNet_LT_train.txt: 1 of 3 classes have no training image: 1$"):
        _load(imagenet, "val")


def test_missing_split_file_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="ImageNet_LT_train.txt is missing; the split files come with OLTR"):
        load_split_file_dataset(tmp_path, "imagenet_lt", "train")


@pytest.mark.parametrize("benchmark, split, figure", [
    ("imagenet_lt", "train", "115,846"), ("imagenet_lt", "test", "115,846"), ("places_lt", "val", "62,500")])
def test_known_counts_refuse_a_fixture(tmp_path: Path, benchmark: str, split: str, figure: str) -> None:
    root = write_split_file_fixture(tmp_path, benchmark, (4, 2), image_size=8)
    with pytest.raises(DatasetError, match=f"holds 6 images, but .* train has {figure} "
                                           r"\(Liu et al. 2019\); pass check_counts=False"):
        load_split_file_dataset(root, benchmark, split)


def test_published_figures_pass_and_one_image_off_fails() -> None:
    # ImageNet-LT train: 1,000 classes, 115,846 images, 1,280 to 5 per class.
    train = [1280] + [115] * 789 + [114] * 209 + [5]
    assert len(train) == 1000 and sum(train) == 115_846
    check_known_counts(train, KNOWN_COUNTS[("imagenet_lt", "train")], "ImageNet-LT train", Path("t.txt"))
    with pytest.raises(DatasetError, match="1,279 images in the largest class, but ImageNet-LT train has 1,280"):
        check_known_counts([1279, 116] + train[2:], KNOWN_COUNTS[("imagenet_lt", "train")], "ImageNet-LT train",
                           Path("t.txt"))
    # Places-LT: test 100 per class of 365 (36,500); one class short is named.
    test = [100] * 365
    check_known_counts(test, KNOWN_COUNTS[("places_lt", "test")], "Places-LT test", Path("p.txt"))
    with pytest.raises(DatasetError, match=r"holds 36,499 images, but Places-LT test has 36,500"):
        check_known_counts(test[:7] + [99] + test[8:], KNOWN_COUNTS[("places_lt", "test")], "Places-LT test",
                           Path("p.txt"))
    assert KNOWN_COUNTS[("imagenet_lt", "val")].num_images == 20_000
    assert KNOWN_COUNTS[("places_lt", "train")].max_per_class == 4980


def test_shot_groups_on_imagenet_lt_like_counts() -> None:
    # many > 100, medium 20..100, few < 20 training images (Liu et al. 2019).
    counts = [1280, 101, 100, 20, 19, 5]
    accuracy = torch.tensor([0.9, 0.8, 0.6, 0.4, 0.2, 0.0])
    groups = shot_group_accuracy(accuracy, counts)
    assert groups == pytest.approx({"many": 0.85, "medium": 0.5, "few": 0.1})
