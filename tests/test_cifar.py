"""CIFAR loaders: both on-disk formats, the decode cache, the long-tailed step and bad input."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.datasets import utils as tv_utils

from conftest import CLASS_NAMES, NUM_CLASSES, TEST_PER_CLASS, TRAIN_PER_CLASS
from imbalance_baselines.data import DATASETS, DatasetError, load_cifar_lt, read_cifar, write_cifar_pickle
from imbalance_baselines.data import cifar, image_folder
from imbalance_baselines.data.cache import CACHE_DIRNAME
from imbalance_baselines.registry import UnknownNameError

LT = dict(imbalance_factor=10.0, selection_seed=0)  # n_max 20 -> [20, 15, 11, 9, 6, 5, 3, 2, 1] + [2]
EXPECTED_COUNTS = [int(20 * 10 ** (-i / 9)) for i in range(10)]


def test_pickle_files_have_the_official_layout(pickle_root: Path, splits) -> None:
    train, test = splits
    folder = pickle_root / "cifar-10-batches-py"
    batches = [f"data_batch_{i}" for i in range(1, 6)]
    assert sorted(os.listdir(folder)) == ["batches.meta", *batches, "test_batch"]
    with open(folder / "data_batch_1", "rb") as f:
        batch = pickle.load(f, encoding="bytes")  # the official files give bytes keys this way
    assert {b"data", b"labels", b"batch_label", b"filenames"} <= set(batch)
    assert batch[b"data"].dtype == np.uint8 and batch[b"data"].shape == (40, 3072)
    # R plane, then G, then B, row-major
    assert np.array_equal(batch[b"data"][0, :1024], train.images[0, 0].numpy().reshape(-1))
    assert np.array_equal(batch[b"data"][0, 2048:], train.images[0, 2].numpy().reshape(-1))
    with open(folder / "batches.meta", "rb") as f:
        meta = pickle.load(f, encoding="latin1")
    assert meta["label_names"] == CLASS_NAMES


def test_torchvision_reads_the_written_files_identically(pickle_root: Path, splits, monkeypatch) -> None:
    import torchvision.datasets.cifar as tv_cifar
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *args, **kwargs: True)  # md5 is the official one
    reference = tv_cifar.CIFAR10(str(pickle_root), train=True)
    assert np.array_equal(reference.data, splits[0].images.permute(0, 2, 3, 1).numpy())  # NHWC there
    assert reference.targets == splits[0].labels.tolist() and reference.classes == CLASS_NAMES


def test_pickle_reader_returns_the_written_images(pickle_root: Path, splits) -> None:
    full = read_cifar(pickle_root, "cifar10", source="pickle")
    assert torch.equal(full.train.images, splits[0].images)
    assert torch.equal(full.train.labels, splits[0].labels)
    assert torch.equal(full.test.images, splits[1].images) and full.class_names == CLASS_NAMES


def test_both_formats_load_identical_tensors(pickle_root: Path, folder_root: Path) -> None:
    from_pickle = load_cifar_lt(pickle_root, "cifar10", source="pickle", val_per_class=2, **LT)
    from_folder = load_cifar_lt(folder_root, "cifar10", source="folder", val_per_class=2, **LT)
    for a, b in ((from_pickle.train, from_folder.train), (from_pickle.val, from_folder.val),
                 (from_pickle.test, from_folder.test)):
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert from_pickle.class_names == from_folder.class_names == CLASS_NAMES
    assert {k: v for k, v in from_pickle.identity.items() if k != "source"} == \
        {k: v for k, v in from_folder.identity.items() if k != "source"}
    assert (from_pickle.identity["source"], from_folder.identity["source"]) == ("pickle", "folder")


def test_auto_source_finds_each_format(pickle_root: Path, folder_root: Path) -> None:
    assert load_cifar_lt(pickle_root, **LT).identity["source"] == "pickle"
    assert load_cifar_lt(folder_root, **LT).identity["source"] == "folder"


def test_long_tailed_subset_identity_and_statistics(pickle_root: Path) -> None:
    data = load_cifar_lt(pickle_root, "cifar10", **LT)
    assert data.class_counts == EXPECTED_COUNTS
    assert len(data.test) == NUM_CLASSES * TEST_PER_CLASS
    ident = data.identity
    assert ident["dataset"] == "cifar10" and ident["profile"] == "exp" and ident["imbalance_factor"] == 10.0
    assert ident["selection"] == "random" and ident["selection_seed"] == 0 and ident["val_per_class"] == 0
    assert ident["train_counts"] == EXPECTED_COUNTS and len(ident["indices_hash"]) == 16
    pixels = data.train.images.numpy().astype(np.float64) / 255.0
    assert np.allclose(data.mean, pixels.mean(axis=(0, 2, 3)), atol=1e-12)
    assert np.allclose(data.std, pixels.std(axis=(0, 2, 3)), atol=1e-12)
    other = load_cifar_lt(pickle_root, "cifar10", imbalance_factor=10.0, selection_seed=1)
    assert other.identity["indices_hash"] != ident["indices_hash"]


def test_validation_split_comes_from_left_over_images(pickle_root: Path) -> None:
    data = load_cifar_lt(pickle_root, "cifar10", val_per_class=3, **LT)
    assert data.val.class_counts(NUM_CLASSES) == [3] * NUM_CLASSES
    assert data.identity["val_taken_from_train"] == [3] + [0] * 9  # the head class kept all 20
    assert data.class_counts == [EXPECTED_COUNTS[0] - 3, *EXPECTED_COUNTS[1:]]
    train_rows = {bytes(x) for x in data.train.images.numpy()}
    assert not any(bytes(x) in train_rows for x in data.val.images.numpy())


def test_first_selection_keeps_file_order(pickle_root: Path, splits) -> None:
    data = load_cifar_lt(pickle_root, "cifar10", selection="first", imbalance_factor=10.0)
    train = splits[0]
    expected = torch.cat([train.images[train.labels == c][:n] for c, n in enumerate(EXPECTED_COUNTS)])
    assert torch.equal(data.train.images, expected)


def test_cifar100_pickle_round_trip(tmp_path: Path) -> None:
    from imbalance_baselines.data.synthetic import make_split
    train, test = make_split([6] * 20, seed=3), make_split([2] * 20, seed=4)
    write_cifar_pickle(tmp_path, "cifar100", train, test, [f"fine{k}" for k in range(20)])
    with open(tmp_path / "cifar-100-python" / "train", "rb") as f:
        assert {b"fine_labels", b"coarse_labels", b"data"} <= set(pickle.load(f, encoding="bytes"))
    data = load_cifar_lt(tmp_path, "cifar100", imbalance_factor=3.0)
    assert data.class_counts == [int(6 * 3 ** (-i / 19)) for i in range(20)]
    assert data.class_names[:2] == ["fine0", "fine1"] and len(data.test) == 40


def test_cache_is_used_on_the_second_load(pickle_root: Path, folder_root: Path, monkeypatch) -> None:
    first = {root: load_cifar_lt(root, **LT) for root in (pickle_root, folder_root)}

    def fail(*args, **kwargs):
        raise AssertionError("decoded again instead of reading the cache")

    monkeypatch.setattr(cifar, "_read_batches", fail)
    monkeypatch.setattr(image_folder, "_decode", fail)
    for root, data in first.items():
        again = load_cifar_lt(root, **LT)
        assert torch.equal(again.train.images, data.train.images)
    assert len(list((pickle_root / "cifar-10-batches-py" / CACHE_DIRNAME).iterdir())) == 1
    assert len(list((folder_root / CACHE_DIRNAME).iterdir())) == 1


def test_cache_is_rebuilt_when_a_source_changes(pickle_root: Path, splits, monkeypatch) -> None:
    load_cifar_lt(pickle_root, **LT)
    calls = []
    real = cifar._read_batches
    monkeypatch.setattr(cifar, "_read_batches", lambda *a, **k: calls.append(1) or real(*a, **k))
    load_cifar_lt(pickle_root, **LT)
    assert calls == []
    train, test = splits
    write_cifar_pickle(pickle_root, "cifar10", train, type(test)(255 - test.images, test.labels), CLASS_NAMES)
    batch = pickle_root / "cifar-10-batches-py" / "test_batch"
    os.utime(batch, ns=(batch.stat().st_atime_ns, batch.stat().st_mtime_ns + 10**9))  # mtime surely moves
    data = load_cifar_lt(pickle_root, **LT)
    assert calls == [1, 1]  # train and test decoded again
    assert torch.equal(data.test.images, 255 - test.images)
    assert len(list((pickle_root / "cifar-10-batches-py" / CACHE_DIRNAME).iterdir())) == 1  # stale one gone


def test_cache_goes_to_the_user_cache_dir_when_the_data_dir_is_read_only(pickle_root: Path, tmp_path: Path,
                                                                         monkeypatch) -> None:
    from imbalance_baselines.data import cache
    data_cache = pickle_root / "cifar-10-batches-py" / CACHE_DIRNAME
    real = cache._writable_dir
    monkeypatch.setattr(cache, "_writable_dir", lambda path: path != data_cache and real(path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    load_cifar_lt(pickle_root, **LT)
    assert len(list((tmp_path / "xdg" / "imbalance_baselines").iterdir())) == 1


def test_registry_builds_each_dataset(pickle_root: Path) -> None:
    assert {"cifar10_lt", "cifar100_lt", "synthetic_lt"} <= set(DATASETS.names())
    assert DATASETS.build("cifar10_lt", root=pickle_root, **LT).class_counts == EXPECTED_COUNTS
    synthetic = DATASETS.build("synthetic_lt", num_classes=3, n_max=8, imbalance_factor=4)
    assert synthetic.class_counts == [8, 4, 2]
    with pytest.raises(UnknownNameError, match="cifar1000_lt"):
        DATASETS.build("cifar1000_lt", root=pickle_root)


# ---- bad input: one DatasetError naming the path or field ------------------------------------------

def test_missing_data_names_the_root_and_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=f"{tmp_path}.*download=True.*unpack_cifar.py"):
        load_cifar_lt(tmp_path, "cifar10")


def test_missing_pickle_file_is_named(pickle_root: Path) -> None:
    (pickle_root / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(DatasetError, match="data_batch_4 is missing.*download=True"):
        load_cifar_lt(pickle_root, "cifar10")


def test_truncated_pickle_is_named(pickle_root: Path) -> None:
    path = pickle_root / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DatasetError, match="data_batch_3 is truncated or corrupted"):
        load_cifar_lt(pickle_root, "cifar10")


def test_wrong_array_size_is_named(pickle_root: Path) -> None:
    path = pickle_root / "cifar-10-batches-py" / "data_batch_2"
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    batch["data"] = batch["data"][:, :3000]
    with open(path, "wb") as f:
        pickle.dump(batch, f)
    with pytest.raises(DatasetError, match=r"data_batch_2: field 'data' must be uint8 \(N, 3072\)"):
        load_cifar_lt(pickle_root, "cifar10")


def test_failed_download_names_the_archive(tmp_path: Path, monkeypatch) -> None:
    def truncated_download(url, filename, *args, **kwargs):
        Path(filename).write_bytes(b"not the archive")

    monkeypatch.setattr(tv_utils, "_get_redirect_url", lambda url, max_hops=3: url)
    monkeypatch.setattr(tv_utils, "_urlretrieve", truncated_download)
    with pytest.raises(DatasetError, match="cifar-10-python.tar.gz.*md5"):
        load_cifar_lt(tmp_path, "cifar10", download=True)


def test_folder_test_split_missing_classes_is_named(folder_root: Path) -> None:
    for name in ("c3", "c7"):
        for file in (folder_root / "test" / name).iterdir():
            file.unlink()
        (folder_root / "test" / name).rmdir()
    with pytest.raises(DatasetError, match=r"missing \['c3', 'c7'\]"):
        load_cifar_lt(folder_root, source="folder")


@pytest.mark.parametrize("params, field", [
    (dict(name="cifar1000"), "'cifar1000'"),
    (dict(source="lmdb"), "'lmdb'"),
    (dict(selection="newest", imbalance_factor=10.0), "'newest'"),
    (dict(imbalance_factor=0.9), "imbalance_factor"),
    (dict(imbalance_factor=100.0), "zero images"),  # n_max 20: the tail classes get int(< 1) images
    (dict(profile="linear"), "'linear'"),
])
def test_bad_parameters_are_refused(pickle_root: Path, params: dict, field: str) -> None:
    with pytest.raises(DatasetError, match=field):
        load_cifar_lt(pickle_root, **params)


def test_fixture_sizes_are_what_the_tests_assume(splits) -> None:
    assert [len(s) for s in splits] == [NUM_CLASSES * TRAIN_PER_CLASS, NUM_CLASSES * TEST_PER_CLASS]
