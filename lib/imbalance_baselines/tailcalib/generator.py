"""The ``TailCalib`` generator: the public interface of the ``tailcalib`` package, without its
defects (SPEC 9): any integer labels, ``shuffle`` honoured, explicit seeds, vectorised engines."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..registry import UnknownNameError
from .calibration import (
    ALPHA_MODES,
    Statistics,
    class_statistics,
    l2_normalize,
    nearest_classes,
    sample_class,
    tukey_transform,
)
from .engines import ENGINES, Array
from .plan import plan_class


class TailCalib:
    """Feature generation for long-tail classification (Vigneswaran et al. 2021, ICVGIP).

    ``TailCalib(base_engine)`` with ``base_engine`` "numpy" (numpy arrays in and out) or "pytorch"
    (tensors in and out, computed on the features' device). ``generate`` balances a set of
    training features of a frozen backbone by sampling new tail features from calibrated Gaussians;
    ``convert_others`` applies the same Tukey transform to validation / test features. TailCalibX
    is ``generate`` called again every epoch on freshly extracted (augmented) features.

    Pipeline of ``generate`` (SPEC 6 steps 2-5; X should already be L2-normalised, step 1):

    1. per class c: mean mu_c and unbiased covariance Sigma_c -- of the *raw* X by default, as in the
       published code; ``stats_after_tukey=True`` computes them on the transformed features instead
       (the consistent order; identical at tukey_value = 1);
    2. Tukey's ladder of powers t(X) (``calibration.tukey_transform``);
    3. class c receives S_c = n_max - n_c + extra_points new features, where ``extra_points`` is the
       package's meaning: extra features for *every* class on top of n_max, the head class
       included, so every class ends with exactly n_max + extra_points; each real feature generates
       floor(S_c / n_c), the remainder goes one each to randomly chosen distinct real features;
    4. for a real feature x: its K = ``topk`` nearest class means to t(x) (any class, its own
       included), mu' = (sum of the K means + t(x)) / (K + 1), Sigma' = (sum of the K covariances)
       / K + alpha + 1e-4 I (Eqs. 7-8), and its share is drawn from N(mu', Sigma').

    Output: the *transformed* real features t(X) (exactly ``convert_others(X, tukey_value)``; equal
    to X at tukey_value = 1) followed by the generated ones -- with ``shuffle=False`` the real rows
    in input order, then the generated rows grouped by class in sorted label order, each class's rows
    grouped by the real feature they came from (input order); with ``shuffle=True`` one random
    permutation of that. Labels keep the caller's values and dtype. Features come back in X's
    floating dtype (float64 for integer X); all arithmetic is float64.

    Decisions (see also ``calibration``): a class with fewer than two samples raises (its unbiased
    covariance is undefined); negative features with tukey_value != 1 raise; alpha is added to
    every entry by default (``alpha_mode="all"``, the published form) or to the diagonal
    (``alpha_mode="diagonal"``); a non-positive-definite calibrated covariance raises.
    Reproducibility: the same ``seed`` gives the same output for the same engine (and device); both
    engines share the bookkeeping random stream (which real features get the remainder), so with the
    same seed they generate the same number of points from each real feature; only the normal draws
    and the permutation differ between engines. ``seed=None`` draws fresh OS entropy.
    """

    def __init__(self, base_engine: str = "numpy") -> None:
        try:
            self._engine = ENGINES.build(base_engine)
        except UnknownNameError as err:
            raise ValueError(f"base_engine: {err}") from None
        self.base_engine = base_engine

    def __repr__(self) -> str:
        return f"TailCalib(base_engine={self.base_engine!r})"

    def generate(
        self,
        X: Any,
        y: Any,
        tukey_value: float = 0.9,
        alpha: float = 0.0,
        topk: int = 1,
        extra_points: int = 0,
        shuffle: bool = True,
        seed: int | None = None,
        *,
        alpha_mode: str = "all",
        stats_after_tukey: bool = False,
        normalize: bool = False,
    ) -> tuple[Array, Array, dict[int, Array]]:
        """Balance (X, y) by generation; returns (features, labels, generated_by_class).

        ``generated_by_class`` maps every label to its generated features (0 rows for the head
        class unless ``extra_points > 0``). ``normalize=True`` L2-normalises the returned features
        (SPEC 6 step 6: the published pipeline feeds the classifier L2-normalised features; by
        default, as in the package, that is the caller's step).
        """
        eng = self._engine
        x, out_dtype = eng.features(X)
        labels = eng.to_numpy(y)
        _check_data(x, labels, eng.all_finite(x))
        _check_parameters(topk, extra_points, alpha, alpha_mode)
        classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
        if topk > len(classes):
            raise ValueError(f"topk must be at most the number of classes ({len(classes)}), got {topk}")
        if counts.min() < 2:
            raise ValueError(
                f"y: classes {classes[counts < 2].tolist()} have a single sample; the unbiased "
                "covariance TailCalib needs is undefined for them (give each class >= 2 samples)"
            )
        rows_by_class = np.split(np.argsort(inverse, kind="stable"), np.cumsum(counts)[:-1])
        xt = tukey_transform(x, tukey_value)
        means, covs = class_statistics(xt if stats_after_tukey else x, rows_by_class)
        stats = Statistics(means, covs, float(alpha), alpha_mode, classes)
        nearest = nearest_classes(xt, means, topk)
        plan_seed, draw_seed = np.random.SeedSequence(seed).spawn(2)
        rng, gen = np.random.default_rng(plan_seed), eng.generator(draw_seed, x)
        target = int(counts.max()) + extra_points
        generated = [
            sample_class(plan_class(rows, target - len(rows), nearest, rng), xt, nearest, stats, gen, c)
            for rows, c in zip(rows_by_class, classes)
        ]
        if normalize:
            xt, generated = l2_normalize(xt), [l2_normalize(g) for g in generated]
        features = eng.cat([xt, *generated])
        new_labels = np.repeat(classes, [len(g) for g in generated])
        out_labels = eng.labels(np.concatenate([labels, new_labels]), y, x)
        if shuffle:
            order = eng.permutation(gen, len(features), x)
            features, out_labels = features[order], out_labels[order]
        by_class = {label.item(): eng.output(g, out_dtype) for label, g in zip(classes, generated)}
        return eng.output(features, out_dtype), out_labels, by_class

    def convert_others(self, X: Any, tukey_value: float = 1.0, *, normalize: bool = False) -> Array:
        """Tukey-transform validation / test features with the training ``tukey_value`` (SPEC 6
        step 6); ``normalize=True`` also L2-normalises them (otherwise the caller's step)."""
        eng = self._engine
        x, out_dtype = eng.features(X)
        if x.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {tuple(x.shape)}")
        xt = tukey_transform(x, tukey_value)
        return eng.output(l2_normalize(xt) if normalize else xt, out_dtype)


tailcalib = TailCalib  # the package's lowercase name


def _check_data(x: Array, labels: np.ndarray, finite: bool) -> None:
    if x.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {tuple(x.shape)}")
    if labels.ndim != 1 or len(labels) != len(x):
        raise ValueError(f"y must be 1-D with one label per row of X ({len(x)}), got shape {labels.shape}")
    if len(x) == 0:
        raise ValueError("X must hold at least one feature")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"y must hold integer labels, got dtype {labels.dtype}")
    if not finite:
        raise ValueError("X contains NaN or infinite values")


def _check_parameters(topk: Any, extra_points: Any, alpha: float, alpha_mode: str) -> None:
    def is_int(v: Any) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if not is_int(topk) or topk < 1:
        raise ValueError(f"topk must be an integer >= 1, got {topk!r}")
    if not is_int(extra_points) or extra_points < 0:
        raise ValueError(f"extra_points must be an integer >= 0, got {extra_points!r}")
    if not np.isfinite(alpha):
        raise ValueError(f"alpha must be finite, got {alpha!r}")
    if alpha_mode not in ALPHA_MODES:
        raise ValueError(f"alpha_mode must be one of {ALPHA_MODES}, got {alpha_mode!r}")
