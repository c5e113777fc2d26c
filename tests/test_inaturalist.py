"""iNaturalist file lists from COCO-style json: join by image id, label remapping, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torchvision.transforms import PILToTensor

from imbalance_baselines.data import (DatasetError, FileListDataset, load_inaturalist,
                                      write_inaturalist_fixture)

TRAIN_PER_CLASS = (6, 4, 2)


@pytest.fixture(params=[2017, 2018])
def inat(request, tmp_path: Path) -> tuple[Path, int]:
    return write_inaturalist_fixture(tmp_path, request.param, train_per_class=TRAIN_PER_CLASS), request.param


def _load(root: Path, year: int, split: str):
    with pytest.warns(UserWarning, match=f"has 3 categories, iNaturalist {year} has"):
        return load_inaturalist(root, year, split)


def test_fixture_lists_annotations_in_another_order_than_images(inat) -> None:
    root, year = inat
    content = json.loads((root / f"train{year}.json").read_text())
    assert [a["image_id"] for a in content["annotations"]] != [i["id"] for i in content["images"]]


def test_labels_are_joined_by_image_id(inat) -> None:
    root, year = inat
    for split in ("train", "val"):
        data = _load(root, year, split)
        for path, label in zip(data.paths, data.labels.tolist()):
            species_folder = Path(path).parent.name  # the fixture files each image under its category
            expected = data.class_names[label] if year == 2017 else str(data.category_ids[label])
            assert species_folder == expected


def test_labels_follow_sorted_category_ids(inat) -> None:
    root, year = inat
    data = _load(root, year, "train")
    assert data.category_ids == sorted(data.category_ids) and data.num_classes == 3
    assert data.labels.dtype == torch.int64
    # the fixture's class k has category id 1000 - 7k, so sorted order reverses the classes
    assert data.class_counts() == list(reversed(TRAIN_PER_CLASS))
    assert data.class_names == ["Species 2", "Species 1", "Species 0"]
    assert data.identity["split"] == "train" and data.identity["num_images"] == sum(TRAIN_PER_CLASS)


def test_dataset_opens_images_with_the_transform(inat) -> None:
    root, year = inat
    dataset = FileListDataset(_load(root, year, "val"), transform=PILToTensor())
    image, label = dataset[0]
    assert len(dataset) == 6 and image.shape == (3, 16, 16) and image.dtype == torch.uint8
    assert label == int(dataset.split.labels[0])


def test_test_split_is_refused(inat) -> None:
    root, year = inat
    with pytest.raises(DatasetError, match="'test'.*evaluate on 'val'"):
        load_inaturalist(root, year, "test")


def test_json_without_annotations_is_refused(inat, tmp_path: Path) -> None:
    root, year = inat
    (root / f"val{year}.json").write_text((root / f"test{year}.json").read_text())
    with pytest.raises(DatasetError, match=f"val{year}.json has no 'annotations'"):
        load_inaturalist(root, year, "val")


def test_annotation_of_an_unknown_image_id_is_refused(inat) -> None:
    root, year = inat
    path = root / f"train{year}.json"
    content = json.loads(path.read_text())
    content["annotations"].append({"id": 99, "image_id": 123456789, "category_id": 1000})
    path.write_text(json.dumps(content))
    with pytest.raises(DatasetError, match=f"train{year}.json.*image_id 123456789"):
        load_inaturalist(root, year, "train")


def test_image_without_annotation_is_refused(inat) -> None:
    root, year = inat
    path = root / f"train{year}.json"
    content = json.loads(path.read_text())
    dropped = content["annotations"].pop()
    path.write_text(json.dumps(content))
    message = f"1 images have no annotation, e.g. image_id {dropped['image_id']}"
    with pytest.raises(DatasetError, match=message):
        load_inaturalist(root, year, "train")


def test_missing_json_and_unknown_year_are_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="train2018.json is missing"):
        load_inaturalist(tmp_path, 2018, "train")
    with pytest.raises(DatasetError, match="year 2019"):
        load_inaturalist(tmp_path, 2019, "train")
