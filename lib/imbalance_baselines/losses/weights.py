"""Per-class vectors derived from the training class counts n_c: loss weights, margins, priors.

Each is computed in float64 from the counts and returned as float32 (the loss dtype). Every function
validates its own arguments, so it can be used on its own from any PyTorch code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .checks import check_counts, check_number


def _counts(owner: str, class_counts: Sequence[int]) -> Tensor:
    return torch.tensor(check_counts(owner, class_counts), dtype=torch.float64)


def class_balanced_weights(class_counts: Sequence[int], beta: float) -> Tensor:
    """Class-balanced weights from the effective number of samples.

    Cui et al. 2019, Class-Balanced Loss Based on Effective Number of Samples, Eq. 3 and Sec. 4:
    E_n = (1 - beta^n) / (1 - beta), w_c = 1 / E_{n_c}, scaled so that sum_c w_c = C.
    beta = 0 gives all ones; beta -> 1 approaches inverse-frequency weights. The common factor
    (1 - beta) cancels in the normalisation; 1 - beta^n is computed as -expm1(n log beta), which
    stays accurate for beta close to 1.
    """
    n = _counts("class_balanced_weights", class_counts)
    beta = check_number("class_balanced_weights", "beta", beta, minimum=0, maximum=1, max_open=True)
    inverse_effective = 1.0 / -torch.expm1(n * torch.log(torch.tensor(beta, dtype=torch.float64)))
    return (inverse_effective * (len(n) / inverse_effective.sum())).float()


def cost_sensitive_weights(class_counts: Sequence[int]) -> Tensor:
    """Cost-sensitive weights min_c' n_c' / n_c (largest weight 1, on the rarest class).

    Bag of Tricks for Long-Tailed Visual Recognition (Zhang et al. 2021), Sec. 3.1 re-weighting;
    used with the weighted-mean reduction.
    """
    n = _counts("cost_sensitive_weights", class_counts)
    return (n.min() / n).float()


def ldam_margins(class_counts: Sequence[int], max_margin: float = 0.5) -> Tensor:
    """Label-distribution-aware margins m_c = C' / n_c^(1/4), with C' such that max_c m_c = max_margin.

    Cao et al. 2019, Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss, Eq. 13.
    """
    n = _counts("ldam_margins", class_counts)
    max_margin = check_number("ldam_margins", "max_margin", max_margin, minimum=0, min_open=True)
    m = n.pow(-0.25)
    return (m * (max_margin / m.max())).float()


def log_prior(class_counts: Sequence[int]) -> Tensor:
    """log pi_c with the training label prior pi_c = n_c / N.

    Ren et al. 2020, Balanced Meta-Softmax, Eq. 4; Menon et al. 2021, Long-Tail Learning via Logit
    Adjustment, Eq. 10.
    """
    n = _counts("log_prior", class_counts)
    return torch.log(n / n.sum()).float()


def sigmoid_bias_init(num_classes: int, pi: float | None = None) -> float:
    """Initial classifier bias b = -log((1 - pi) / pi) for sigmoid and focal losses, pi = 1/C by default.

    Lin et al. 2017, Focal Loss for Dense Object Detection, Sec. 4.1 (prior initialisation); Cui et
    al. 2019, Sec. 4 (pi = 1/C, so b = -log(C - 1): -2.197 for C = 10).
    """
    num_classes = check_number("sigmoid_bias_init", "num_classes", num_classes, minimum=2, integer=True)
    if pi is None:
        pi = 1.0 / num_classes
    pi = check_number("sigmoid_bias_init", "pi", pi, minimum=0, maximum=1, min_open=True, max_open=True)
    return -math.log((1.0 - pi) / pi)
