"""Class profiles, subset selection and the validation split (SPEC 1)."""

from __future__ import annotations

import numpy as np
import pytest

from imbalance_baselines.data import DatasetError, counts, select_subset, split_validation

CIFAR10_LT = {
    100: [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50],
    50: [5000, 3237, 2096, 1357, 878, 568, 368, 238, 154, 100],
    10: [5000, 3871, 2997, 2320, 1796, 1391, 1077, 834, 645, 500],
}


@pytest.mark.parametrize("factor", [100, 50, 10, 100.0])
def test_exp_profile_cifar10_lt_exact(factor: float) -> None:
    assert counts(5000, 10, factor) == CIFAR10_LT[int(factor)]


def test_exp_profile_cifar10_lt_if100_total() -> None:
    assert sum(counts(5000, 10, 100)) == 12406


@pytest.mark.parametrize("factor, total", [(100, 10847), (50, 12608), (10, 19573)])
def test_exp_profile_cifar100_lt_totals(factor: float, total: int) -> None:
    result = counts(500, 100, factor)
    assert sum(result) == total
    assert result[0] == 500 and result[-1] == int(500 / factor)


def test_imbalance_factor_one_is_balanced() -> None:
    assert counts(5000, 10, 1) == [5000] * 10
    assert counts(500, 100, 1.0, "step") == [500] * 100


def test_step_profile_even_and_odd() -> None:
    assert counts(5000, 10, 100, "step") == [5000] * 5 + [50] * 5
    assert counts(100, 5, 10, "step") == [100, 100, 10, 10, 10]  # odd C: the extra class is a tail class


def test_single_class_keeps_n_max() -> None:
    assert counts(7, 1, 10) == [7]


def test_imbalance_factor_below_one_is_refused() -> None:
    with pytest.raises(DatasetError, match="imbalance_factor.*0.5"):
        counts(5000, 10, 0.5)


def test_profile_with_an_empty_class_is_refused() -> None:
    with pytest.raises(DatasetError, match=r"n_max=10.*zero images"):
        counts(10, 10, 100)


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(DatasetError, match="'linear'"):
        counts(100, 10, 10, "linear")


LABELS = np.tile(np.arange(4), 25)  # 25 images per class, classes interleaved in file order
PER_CLASS = [25, 12, 6, 3]


def test_random_selection_is_reproducible_and_depends_on_the_seed() -> None:
    first = select_subset(LABELS, PER_CLASS, "random", seed=3)
    assert np.array_equal(first, select_subset(LABELS, PER_CLASS, "random", seed=3))
    assert not np.array_equal(first, select_subset(LABELS, PER_CLASS, "random", seed=4))
    assert np.bincount(LABELS[first], minlength=4).tolist() == PER_CLASS
    assert np.all(np.diff(first) > 0)  # sorted, no repeats


def test_random_selection_matches_a_per_class_shuffle_with_default_rng() -> None:
    rng = np.random.default_rng(5)
    expected = []
    for c, n in enumerate(PER_CLASS):
        idx = np.flatnonzero(LABELS == c)
        rng.shuffle(idx)
        expected += idx[:n].tolist()
    assert select_subset(LABELS, PER_CLASS, "random", seed=5).tolist() == sorted(expected)


def test_first_selection_keeps_file_order() -> None:
    kept = select_subset(LABELS, PER_CLASS, "first")
    for c, n in enumerate(PER_CLASS):
        assert kept[LABELS[kept] == c].tolist() == [c + 4 * j for j in range(n)]


def test_unknown_selection_rule_is_refused() -> None:
    with pytest.raises(DatasetError, match="'newest'"):
        select_subset(LABELS, PER_CLASS, "newest")


def test_class_smaller_than_its_count_is_refused() -> None:
    with pytest.raises(DatasetError, match="class 0 has 25 images but the profile needs 30"):
        select_subset(LABELS, [30, 1, 1, 1])


def test_validation_split_is_balanced_disjoint_and_records_what_it_took() -> None:
    kept = select_subset(LABELS, PER_CLASS, "random", seed=0)
    train, val, taken = split_validation(LABELS, kept, 4, val_per_class=5, seed=0)
    assert np.bincount(LABELS[val], minlength=4).tolist() == [5, 5, 5, 5]
    assert not set(train) & set(val)
    assert set(train) <= set(kept)
    # the head class kept all 25 images, so its 5 come from training; the others have spare images
    assert taken == [5, 0, 0, 0]
    assert np.bincount(LABELS[train], minlength=4).tolist() == [20, 12, 6, 3]
    assert not set(val[LABELS[val] != 0]) & set(kept)
    again = split_validation(LABELS, kept, 4, val_per_class=5, seed=0)
    assert np.array_equal(again[1], val) and np.array_equal(again[0], train)


def test_validation_split_partly_from_train_when_few_are_left() -> None:
    kept = select_subset(LABELS, [25, 23, 6, 3], "first")
    _, val, taken = split_validation(LABELS, kept, 4, val_per_class=4, seed=1)
    assert taken == [4, 2, 0, 0]
    assert np.bincount(LABELS[val], minlength=4).tolist() == [4, 4, 4, 4]


def test_validation_larger_than_a_class_is_refused() -> None:
    kept = select_subset(LABELS, [25, 12, 6, 3], "first")
    with pytest.raises(DatasetError, match="val_per_class=30"):
        split_validation(LABELS, kept, 4, val_per_class=30)


def test_no_validation_split() -> None:
    kept = select_subset(LABELS, PER_CLASS, "first")
    train, val, taken = split_validation(LABELS, kept, 4, val_per_class=0)
    assert np.array_equal(train, kept) and len(val) == 0 and taken == [0, 0, 0, 0]
