"""The array math of TailCalib (Vigneswaran et al. 2021, "Feature Generation for Long-tail
Classification", ICVGIP, method section), written once for numpy arrays and torch tensors alike.

* Tukey's ladder of powers (Tukey 1977; used by Yang et al. 2021 and by TailCalib before
  calibration): t(x) = x ** lambda for lambda != 0, log(x + 1e-6) for lambda = 0; lambda = 1 is the
  identity. x ** lambda of a negative entry is undefined for fractional lambda (and x ** 2 would fold
  the sign away), so any lambda other than 1 needs non-negative features -- the post-ReLU features
  the method was designed for -- and negative entries raise a ValueError instead of producing NaN.
* Calibrated distribution of a real feature x with K nearest class means mu_1..mu_K (Euclidean,
  its own class included; Eqs. 7-8 of the paper, the numbering the authors' code cites):
  mu' = (mu_1 + ... + mu_K + x) / (K + 1) and Sigma' = (Sigma_1 + ... + Sigma_K) / K + alpha,
  to which 1e-4 * I is added so the Cholesky factor exists.

``alpha``: the original adds the scalar alpha to *every* entry of Sigma', i.e. Sigma' + alpha 1 1^T.
That is the default here (``alpha_mode="all"``) because the published hyper-parameters (e.g.
alpha = 0.2 at CIFAR-100-LT IF 50) were tuned with it. For alpha >= 0 it is still positive
semi-definite: it adds a common N(0, alpha) offset to all coordinates of a generated feature (spread
along the all-ones direction only). ``alpha_mode="diagonal"`` adds alpha * I instead: isotropic
extra spread, the reading of "alpha widens the distribution" that also stays PSD.

A calibrated covariance that is still not positive definite (only possible with a negative alpha,
or from gross numerical trouble) raises a ValueError naming the class and its nearest classes; it is
never silently repaired, since clipping eigenvalues would change the distribution being sampled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .engines import Array, engine_for
from .plan import ClassDraws, nearest_from_distances

TUKEY_LOG_EPS = 1e-6
COVARIANCE_JITTER = 1e-4
ALPHA_MODES = ("all", "diagonal")


def tukey_transform(x: Array, tukey_value: float) -> Array:
    """Tukey's ladder of powers, elementwise (see the module docstring); ``x`` returned as is at 1."""
    if not tukey_value >= 0:
        raise ValueError(f"tukey_value must be >= 0, got {tukey_value}")
    if tukey_value == 1:
        return x
    if bool((x < 0).any()):
        raise ValueError(
            f"X has negative entries: Tukey's transform with tukey_value={tukey_value} is only "
            "defined for non-negative (post-ReLU) features; use tukey_value=1.0 for signed features"
        )
    if tukey_value == 0:
        return engine_for(x).log(x + TUKEY_LOG_EPS)
    return x**tukey_value


def l2_normalize(x: Array) -> Array:
    """Rows divided by their Euclidean norm (rows of norm 0 stay 0)."""
    norm = engine_for(x).sqrt((x * x).sum(1))
    return x / engine_for(x).maximum(norm, 1e-12)[:, None]


def class_statistics(x: Array, rows_by_class: list[np.ndarray]) -> tuple[Array, Array]:
    """(C, d) class means and (C, d, d) unbiased (1 / (n_c - 1)) class covariances."""
    eng = engine_for(x)
    means, covs = [], []
    for rows in rows_by_class:
        xc = x[eng.index(rows, x)]
        mean = xc.mean(0)
        centred = xc - mean
        means.append(mean)
        covs.append(centred.T @ centred / (len(rows) - 1))
    return eng.stack(means), eng.stack(covs)


def nearest_classes(x: Array, means: Array, k: int) -> np.ndarray:
    """(n, k) numpy indices of the k class means nearest to each row of ``x`` (Euclidean), nearest
    first, ties to the lower class index."""
    sq_dist = (x * x).sum(1)[:, None] - 2 * (x @ means.T) + (means * means).sum(1)[None, :]
    return nearest_from_distances(engine_for(x).to_numpy(sq_dist), k)


def calibrated_mean(x: Array, means: Array, nearest: Any) -> Array:
    """mu' = (sum of the K nearest class means + x) / (K + 1) per row of ``x`` (Eq. 7)."""
    eng = engine_for(x)
    nearest = np.asarray(eng.to_numpy(nearest))
    return (means[eng.index(nearest, x)].sum(1) + x) / (nearest.shape[1] + 1)


def calibrated_covariance(covs: Array, keys: Any, alpha: float = 0.0, alpha_mode: str = "all") -> Array:
    """Sigma' = (sum of the K covariances in each row of ``keys``) / K + alpha, + 1e-4 I (Eq. 8).

    ``alpha_mode="all"`` adds alpha to every entry (the original), ``"diagonal"`` adds alpha * I.
    """
    if alpha_mode not in ALPHA_MODES:
        raise ValueError(f"alpha_mode must be one of {ALPHA_MODES}, got {alpha_mode!r}")
    eng = engine_for(covs)
    keys = np.asarray(eng.to_numpy(keys))
    total = covs[eng.index(keys[:, 0], covs)]
    for j in range(1, keys.shape[1]):
        total = total + covs[eng.index(keys[:, j], covs)]
    eye = eng.eye(covs.shape[-1], covs)
    if alpha_mode == "all":
        return total / keys.shape[1] + alpha + COVARIANCE_JITTER * eye
    return total / keys.shape[1] + (alpha + COVARIANCE_JITTER) * eye


@dataclass(frozen=True)
class Statistics:
    """What calibration reads: class means (C, d), covariances (C, d, d), the alpha term, and the
    caller's label of each class index (for messages)."""

    means: Array
    covs: Array
    alpha: float
    alpha_mode: str
    classes: np.ndarray


def sample_class(
    plan: ClassDraws, x: Array, nearest: np.ndarray, stats: Statistics, gen: Any, label: Any
) -> Array:
    """The ``plan.size`` generated features of class ``label``, in plan order (see ``ClassDraws``).

    One Cholesky factor L_g per distinct nearest-class set g; standard normal draws z are scattered
    into a (G, width, d) block, coloured by one batched product z L_g^T and shifted by mu'(x).
    """
    eng = engine_for(x)
    d = x.shape[1]
    if plan.size == 0:
        return eng.zeros((0, d), x)
    chol, bad = eng.cholesky(calibrated_covariance(stats.covs, plan.keys, stats.alpha, stats.alpha_mode))
    if bad.any():
        key = plan.keys[np.flatnonzero(bad)[0]]
        raise ValueError(
            f"class {label}: the calibrated covariance from nearest classes "
            f"{stats.classes[key].tolist()} is not positive definite after adding "
            f"{COVARIANCE_JITTER} * I (alpha={stats.alpha}, alpha_mode={stats.alpha_mode!r}); "
            "use alpha >= 0"
        )
    mean = calibrated_mean(x[eng.index(plan.rows, x)], stats.means, nearest[plan.rows])
    group = eng.index(plan.draw_group, x)
    rank = eng.index(plan.draw_rank, x)
    block = eng.zeros((len(plan.keys), plan.width, d), x)
    block[group, rank] = eng.normal(gen, (plan.size, d), x)
    coloured = (block @ chol.swapaxes(-1, -2))[group, rank]
    return coloured + mean[eng.index(plan.draw_feature, x)]
