"""Metrics against hand-computed values."""

import math

import pytest
import torch

from imbalance_baselines import evaluate as ev


def test_top_k_on_a_hand_made_example():
    logits = torch.tensor([[3.0, 2.0, 1.0], [1.0, 3.0, 2.0], [1.0, 2.0, 3.0], [3.0, 1.0, 2.0]])
    labels = torch.tensor([0, 2, 0, 1])
    assert ev.top_k_accuracy(logits, labels, 1) == 0.25   # only the first
    assert ev.top_k_accuracy(logits, labels, 2) == 0.5    # first and second
    assert ev.top_k_accuracy(logits, labels, 3) == 1.0
    with pytest.raises(ValueError, match="k=4"):
        ev.top_k_accuracy(logits, labels, 4)


def test_per_class_shot_groups_confusion_and_f1():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    predictions = torch.tensor([0, 1, 1, 1, 0, 2])
    acc = ev.per_class_accuracy(predictions, labels, 4)
    assert acc[:3].tolist() == [0.5, 1.0, 0.5] and math.isnan(acc[3])
    groups = ev.shot_group_accuracy(acc[:3], [500, 50, 5])
    assert groups == {"many": 0.5, "medium": 1.0, "few": 0.5}
    # Boundaries: 100 is medium, 101 many, 20 medium, 19 few.
    assert ev.shot_group_accuracy(torch.tensor([1.0, 0.0, 0.5, 0.25]), [101, 100, 20, 19]) == \
        {"many": 1.0, "medium": 0.25, "few": 0.25}
    matrix = ev.confusion_matrix(predictions, labels, 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    # F1 per class: c0 tp1 fp1 fn1 -> 0.5; c1 tp2 fp1 fn0 -> 0.8; c2 tp1 fp0 fn1 -> 2/3.
    assert ev.macro_f1(predictions, labels, 3) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_ece_of_a_perfectly_calibrated_and_an_overconfident_model():
    # Two bins' worth: confidence 0.9 and 90% correct -> ECE 0.
    p = 0.9
    logit = math.log(p / (1 - p))
    logits = torch.tensor([[logit, 0.0]] * 10)
    labels = torch.tensor([0] * 9 + [1])
    assert ev.expected_calibration_error(logits, labels) == pytest.approx(0.0, abs=1e-6)
    # Same confidence, half correct -> |0.5 - 0.9| = 0.4.
    labels = torch.tensor([0] * 5 + [1] * 5)
    assert ev.expected_calibration_error(logits, labels) == pytest.approx(0.4, abs=1e-6)


def test_mean_and_95_interval_over_seeds():
    stats = ev.mean_and_interval([70.0, 72.0, 74.0])
    assert stats["mean"] == 72.0 and stats["std"] == 2.0
    assert stats["ci95"] == pytest.approx(4.303 * 2 / math.sqrt(3))
    single = ev.mean_and_interval([70.0])
    assert single["mean"] == 70.0 and math.isnan(single["ci95"])


def test_report_balanced_accuracy_equals_top1_on_a_balanced_set():
    torch.manual_seed(0)
    labels = torch.arange(10).repeat(20)
    logits = torch.randn(200, 10)
    report = ev.classification_report(logits, labels, [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50])
    assert report["balanced_accuracy"] == pytest.approx(report["top1"])
    assert math.isnan(report["few_shot"])  # CIFAR-10-LT IF100 has no class under 20 images


def test_balanced_accuracy_is_the_mean_recall_of_the_classes_present_by_hand():
    predictions, labels = torch.tensor([0, 0, 1, 1, 2]), torch.tensor([0, 1, 1, 1, 2])
    assert ev.balanced_accuracy(predictions, labels, 4) == pytest.approx((1 + 2 / 3 + 1) / 3)  # class 3 absent
