"""Metrics of logits on a labelled split: top-k, per-class, many/medium/few-shot, macro-F1,
calibration, confusion; mean and 95% interval over seeds. Accuracies are fractions in code
(percentages only in tables)."""

from __future__ import annotations

import torch
from torch import Tensor


def top_k_accuracy(logits: Tensor, labels: Tensor, k: int = 1) -> float:
    """Fraction of samples whose label is among the ``k`` largest logits."""
    if not 1 <= k <= logits.shape[1]:
        raise ValueError(f"k={k} is out of range; allowed: 1 <= k <= {logits.shape[1]} (classes)")
    top = logits.topk(k, dim=1).indices
    return (top == labels.to(top.device)[:, None]).any(dim=1).float().mean().item()


def per_class_accuracy(predictions: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """Recall of each class [C] (NaN for a class with no test sample)."""
    correct = torch.bincount(labels[predictions == labels], minlength=num_classes).double()
    total = torch.bincount(labels, minlength=num_classes).double()
    return torch.where(total > 0, correct / total.clamp(min=1), torch.full_like(total, float("nan")))


def balanced_accuracy(predictions: Tensor, labels: Tensor, num_classes: int) -> float:
    """Mean of the per-class recalls over the classes present (equals top-1 on a balanced split)."""
    return per_class_accuracy(predictions, labels, num_classes).nanmean().item()


# Kang et al. 2020 / Liu et al. 2019 shot groups by training images per class.
SHOT_GROUPS = {"many": (101, None), "medium": (20, 100), "few": (0, 19)}


def shot_group_accuracy(class_accuracy: Tensor, train_counts: list[int]) -> dict[str, float]:
    """Mean per-class accuracy over many (> 100), medium (20-100) and few (< 20) shot classes.

    A group with no class is NaN (e.g. CIFAR-10-LT IF 100 has no few-shot class).
    """
    counts = torch.tensor(train_counts)
    result = {}
    for group, (low, high) in SHOT_GROUPS.items():
        member = counts >= low if high is None else (counts >= low) & (counts <= high)
        values = class_accuracy[member]
        result[group] = values.nanmean().item() if member.any() else float("nan")
    return result


def confusion_matrix(predictions: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """Counts [C, C]: row = true class, column = predicted class."""
    flat = labels.long() * num_classes + predictions.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


def macro_f1(predictions: Tensor, labels: Tensor, num_classes: int) -> float:
    """Unweighted mean over classes of F1 = 2 TP / (2 TP + FP + FN) (0 for a class never seen nor predicted)."""
    matrix = confusion_matrix(predictions, labels, num_classes).double()
    tp = matrix.diag()
    denominator = matrix.sum(0) + matrix.sum(1)  # (TP + FP) + (TP + FN)
    f1 = torch.where(denominator > 0, 2 * tp / denominator.clamp(min=1), torch.zeros_like(tp))
    return f1.mean().item()


def calibration_bins(logits: Tensor, labels: Tensor, bins: int = 15) -> dict[str, Tensor]:
    """Reliability-diagram data: per equal-width confidence bin, count, mean confidence, accuracy."""
    confidence, predictions = logits.float().softmax(1).max(1)
    correct = (predictions == labels).double()
    index = (confidence * bins).long().clamp(max=bins - 1)
    count = torch.bincount(index, minlength=bins).double()
    conf_sum = torch.bincount(index, weights=confidence.double(), minlength=bins)
    acc_sum = torch.bincount(index, weights=correct, minlength=bins)
    safe = count.clamp(min=1)
    return {"count": count, "confidence": conf_sum / safe, "accuracy": acc_sum / safe}


def expected_calibration_error(logits: Tensor, labels: Tensor, bins: int = 15) -> float:
    """ECE (Guo et al. 2017, Eq. 3): sum_b |B_b|/N * |acc(B_b) - conf(B_b)| over equal-width bins."""
    table = calibration_bins(logits, labels, bins)
    weight = table["count"] / table["count"].sum()
    return (weight * (table["accuracy"] - table["confidence"]).abs()).sum().item()


def classification_report(logits: Tensor, labels: Tensor, train_counts: list[int]) -> dict[str, object]:
    """Every metric of the study for one model on one labelled split (fractions, not percents)."""
    num_classes = len(train_counts)
    predictions = logits.argmax(1)
    class_accuracy = per_class_accuracy(predictions, labels, num_classes)
    return {
        "top1": top_k_accuracy(logits, labels, 1),
        "top5": top_k_accuracy(logits, labels, min(5, num_classes)),
        "balanced_accuracy": balanced_accuracy(predictions, labels, num_classes),
        "per_class_accuracy": class_accuracy.tolist(),
        **{f"{group}_shot": value for group, value in
           shot_group_accuracy(class_accuracy, train_counts).items()},
        "macro_f1": macro_f1(predictions, labels, num_classes),
        "ece": expected_calibration_error(logits, labels),
        "confusion_matrix": confusion_matrix(predictions, labels, num_classes).tolist(),
    }


# Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom (then the normal 1.96).
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def mean_and_interval(values: list[float]) -> dict[str, float]:
    """Mean, sample standard deviation and the half-width of a 95% t confidence interval over seeds.

    With one value the deviation and interval are NaN (not zero: one seed says nothing of spread).
    """
    n = len(values)
    if n == 0:
        raise ValueError("values: need at least one value")
    tensor = torch.tensor(values, dtype=torch.float64)
    mean = tensor.mean().item()
    if n == 1:
        return {"mean": mean, "std": float("nan"), "ci95": float("nan"), "n": 1}
    std = tensor.std(unbiased=True).item()
    t = _T975[n - 2] if n - 1 <= len(_T975) else 1.96
    return {"mean": mean, "std": std, "ci95": t * std / n ** 0.5, "n": n}
