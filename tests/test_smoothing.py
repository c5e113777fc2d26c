"""Label smoothing (Szegedy et al. 2016) and MiSLAS's label-aware smoothing (Zhong et al. 2021)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from imbalance_baselines.losses import LOSSES, label_aware_epsilons

CIFAR10_LT_100 = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


def test_label_smoothing_three_classes_by_hand():
    """z = (1, 2, 3): -log p = (2.4076, 1.4076, 0.4076); eps = 0.3, q = 0.7 one_hot + 0.1:
    y = 0: 0.8 * 2.4076 + 0.1 * 1.4076 + 0.1 * 0.4076 = 2.1076; y = 2: 0.7076; / B = 1.4076."""
    loss = LOSSES.build("label_smoothing_ce", class_counts=[3, 2, 1], epsilon=0.3)
    z = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    y = torch.tensor([0, 2])
    torch.testing.assert_close(loss.per_sample(z, y), torch.tensor([2.1076059644, 0.7076059644]))
    torch.testing.assert_close(loss(z, y), torch.tensor(1.4076059644))


def test_epsilon_zero_is_cross_entropy_exactly():
    z = torch.randn(32, 10, generator=torch.Generator().manual_seed(0)) * 5
    y = torch.randint(0, 10, (32,), generator=torch.Generator().manual_seed(1))
    ce = LOSSES.build("ce", class_counts=CIFAR10_LT_100)
    plain = LOSSES.build("label_smoothing_ce", class_counts=CIFAR10_LT_100, epsilon=0.0)
    flat = LOSSES.build("label_aware_smoothing", class_counts=CIFAR10_LT_100, smooth_head=0.0,
                        smooth_tail=0.0)
    for loss in (plain, flat):
        assert torch.equal(loss.per_sample(z, y), F.cross_entropy(z, y, reduction="none"))
        assert torch.equal(loss(z, y), ce(z, y))


def test_label_smoothing_is_torchs_label_smoothing():
    z = torch.randn(32, 10, generator=torch.Generator().manual_seed(2))
    y = torch.randint(0, 10, (32,), generator=torch.Generator().manual_seed(3))
    loss = LOSSES.build("label_smoothing_ce", class_counts=CIFAR10_LT_100, epsilon=0.1)
    torch.testing.assert_close(loss(z, y), F.cross_entropy(z, y, label_smoothing=0.1))


def test_label_aware_epsilons_by_hand():
    """Counts (100, 55, 10): t = (1, 1/2, 0); eps_1 = 0.4, eps_K = 0.1.
    concave 0.1 + 0.3 sin(pi/4) = 0.3121; linear 0.25; convex 0.4 + 0.3 sin(7 pi/4) = 0.1879."""
    counts = [100, 55, 10]
    assert label_aware_epsilons(counts, 0.4, 0.1, "concave") == pytest.approx([0.4, 0.3121320344, 0.1])
    assert label_aware_epsilons(counts, 0.4, 0.1, "linear") == pytest.approx([0.4, 0.25, 0.1])
    assert label_aware_epsilons(counts, 0.4, 0.1, "convex") == pytest.approx([0.4, 0.1878679656, 0.1])


def test_label_aware_targets_sum_to_one_with_the_papers_cifar10_epsilons():
    """MiSLAS's CIFAR-10-LT IF 100 setting (eps_1, eps_K) = (0.3, 0.0): the head target is
    0.7 + 0.03 on its class and 0.03 elsewhere; the tail target is one-hot."""
    loss = LOSSES.build("label_aware_smoothing", class_counts=CIFAR10_LT_100, smooth_head=0.3,
                        smooth_tail=0.0)
    targets = loss.targets(torch.arange(10))
    torch.testing.assert_close(targets.sum(1), torch.ones(10))
    torch.testing.assert_close(targets[0], torch.tensor([0.73] + [0.03] * 9))
    assert torch.equal(targets[9], F.one_hot(torch.tensor(9), 10).float())
    assert (targets.diagonal()[1:] >= targets.diagonal()[:-1]).all()  # less smoothing down the tail


def test_label_aware_smoothing_three_classes_by_hand():
    """Counts (100, 55, 10), concave (0.4, 0.1): eps = (0.4, 0.3121, 0.1); per sample
    (1 - eps_y) (-log p_y) + eps_y mean_c(-log p_c)."""
    loss = LOSSES.build("label_aware_smoothing", class_counts=[100, 55, 10], smooth_head=0.4,
                        smooth_tail=0.1)
    z = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [2.0, -1.0, 0.5]])
    y = torch.tensor([0, 1, 2])
    # row 0: 2.4076 - 0.4 (mean -log p is 1.4076); row 1: log 3 whatever eps; row 2: by the formula
    expected = torch.tensor([2.0076059644, math.log(3), 1.7413112967])
    torch.testing.assert_close(loss.per_sample(z, y), expected)
    torch.testing.assert_close(loss(z, y), expected.mean())


def test_keys_name_the_parameters():
    a = LOSSES.build("label_aware_smoothing", class_counts=CIFAR10_LT_100)
    b = LOSSES.build("label_aware_smoothing", class_counts=CIFAR10_LT_100, shape="linear")
    assert a.phase_key(0) != b.phase_key(0)
    assert LOSSES.build("label_smoothing_ce", class_counts=CIFAR10_LT_100, epsilon=0.1).phase_key(0) != \
        LOSSES.build("label_smoothing_ce", class_counts=CIFAR10_LT_100, epsilon=0.2).phase_key(0)


@pytest.mark.parametrize("name, params, message", [
    ("label_smoothing_ce", {"epsilon": 1.0}, "epsilon=1.0 is out of range; allowed: 0 <= epsilon < 1"),
    ("label_smoothing_ce", {"epsilon": -0.1}, "epsilon=-0.1 is out of range"),
    ("label_aware_smoothing", {"smooth_head": 1.0}, "smooth_head=1.0 is out of range; allowed: 0 <= smooth_head < 1"),
    ("label_aware_smoothing", {"smooth_tail": -0.2}, "smooth_tail=-0.2 is out of range"),
    ("label_aware_smoothing", {"shape": "exp"}, "shape='exp' is not allowed; allowed: concave, linear, convex"),
])
def test_bad_parameters_are_refused(name, params, message):
    with pytest.raises(ValueError, match=message):
        LOSSES.build(name, class_counts=CIFAR10_LT_100, **params)


def test_label_aware_smoothing_refuses_equal_counts():
    with pytest.raises(ValueError, match="class_counts are all 100; allowed: counts with max > min"):
        LOSSES.build("label_aware_smoothing", class_counts=[100, 100])
