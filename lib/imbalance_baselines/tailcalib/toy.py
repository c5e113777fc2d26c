"""A 2-D toy example of TailCalib, like the one in the TailCalibX README (Vigneswaran et al. 2021):
imbalanced Gaussian blobs, and the balanced accuracy of a linear classifier trained on a balanced
set, on the imbalanced set, and on the imbalanced set balanced by TailCalib generation."""

from __future__ import annotations

import numpy as np
import torch

from ..evaluate import balanced_accuracy
from .generator import TailCalib


def toy_blobs(
    imbalance_ratio: float,
    n_max: int = 500,
    num_classes: int = 4,
    n_test: int = 500,
    spread: float = 1.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_test, y_test): isotropic 2-D Gaussian blobs (std ``spread``) centred on
    a circle of radius 2, class c having round(n_max * imbalance_ratio ** (-c / (C - 1))) training
    points (at least 2; the exponential long-tail profile) and ``n_test`` test points each."""
    if imbalance_ratio < 1:
        raise ValueError(f"imbalance_ratio must be >= 1, got {imbalance_ratio}")
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(num_classes) / num_classes
    centres = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    counts = np.maximum(2, np.round(n_max * imbalance_ratio ** (-np.arange(num_classes) / (num_classes - 1))))

    def draw(per_class: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = np.repeat(np.arange(num_classes), per_class.astype(int))
        return centres[y] + spread * rng.standard_normal((len(y), 2)), y

    X_train, y_train = draw(counts)
    X_test, y_test = draw(np.full(num_classes, n_test))
    return X_train, y_train, X_test, y_test


def fit_logistic_regression(
    X: np.ndarray, y: np.ndarray, num_classes: int, steps: int = 500, lr: float = 0.5, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression (W, b) by full-batch gradient descent on the mean
    cross-entropy, from a seeded N(0, 0.01^2) start."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(X, dtype=torch.float64)
    target = torch.as_tensor(y, dtype=torch.long)
    W = (0.01 * torch.randn(x.shape[1], num_classes, generator=gen, dtype=torch.float64)).requires_grad_()
    b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(x @ W + b, target)
        gW, gb = torch.autograd.grad(loss, (W, b))
        with torch.no_grad():
            W -= lr * gW
            b -= lr * gb
    return W.detach(), b.detach()


def toy_example(
    imbalance_ratio: float,
    seed: int = 0,
    *,
    num_classes: int = 4,
    n_max: int = 500,
    topk: int = 1,
    alpha: float = 0.0,
    steps: int = 500,
) -> dict[str, float]:
    """Balanced test accuracy (percent) of logistic regression trained on a balanced set
    (``"balanced"``, the upper reference), on the imbalanced set (``"imbalanced"``), and on the
    imbalanced set plus TailCalib features (``"tailcalib"``; tukey_value = 1: the blobs are
    signed, so no power transform)."""
    X_bal, y_bal, X_test, y_test = toy_blobs(1, n_max, num_classes, seed=seed)
    X_imb, y_imb, _, _ = toy_blobs(imbalance_ratio, n_max, num_classes, seed=seed + 1)
    X_gen, y_gen, _ = TailCalib("numpy").generate(
        X_imb, y_imb, tukey_value=1.0, alpha=alpha, topk=topk, seed=seed
    )
    training = {"balanced": (X_bal, y_bal), "imbalanced": (X_imb, y_imb), "tailcalib": (X_gen, y_gen)}
    results = {}
    for name, (X, y) in training.items():
        W, b = fit_logistic_regression(X, y, num_classes, steps=steps, seed=seed)
        pred = (torch.as_tensor(X_test) @ W + b).argmax(1)
        results[name] = 100 * balanced_accuracy(pred, torch.as_tensor(y_test), num_classes)
    return results
