"""TailCalib feature generation (Vigneswaran et al. 2021; SPEC 6): counts, calibration formulas,
Tukey transform, the sampled distribution, engine agreement, labels / order / seeds, bad input and
the 2-D toy example. Expected values are computed here independently (np.mean, np.cov, np.sqrt,
math.log, hand arithmetic), never with the module's own helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from imbalance_baselines.tailcalib import (
    COVARIANCE_JITTER,
    TailCalib,
    calibrated_covariance,
    calibrated_mean,
    draw_counts,
    nearest_classes,
    tailcalib,
    toy_example,
    tukey_transform,
)

ENGINES = ["numpy", "pytorch"]


def to_engine(engine: str, X: np.ndarray, y: np.ndarray):
    return (X, y) if engine == "numpy" else (torch.as_tensor(X), torch.as_tensor(y))


def np_(a) -> np.ndarray:
    return a.numpy() if torch.is_tensor(a) else np.asarray(a)


def blobs(counts, d=4, seed=0, labels=None):
    """Non-negative class blobs (|N(centre, 0.3^2)|), labels 0..C-1 or ``labels``."""
    rng = np.random.default_rng(seed)
    labels = np.arange(len(counts)) if labels is None else np.asarray(labels)
    centres = rng.uniform(0.5, 2.0, (len(counts), d))
    y = np.repeat(labels, counts)
    X = np.abs(np.repeat(centres, counts, axis=0) + 0.3 * rng.standard_normal((len(y), d)))
    return X, y


# ---------------------------------------------------------------- counts and the returned rows


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("extra", [0, 7])
def test_every_class_ends_with_n_max_plus_extra(engine, extra):
    counts = [50, 17, 6, 3]
    X, y = blobs(counts)
    feats, labels, gen = TailCalib(engine).generate(
        *to_engine(engine, X, y), topk=2, extra_points=extra, seed=0)
    values, got = np.unique(np_(labels), return_counts=True)
    assert values.tolist() == [0, 1, 2, 3] and got.tolist() == [50 + extra] * 4
    assert feats.shape == (4 * (50 + extra), 4)
    assert {k: len(v) for k, v in gen.items()} == {c: 50 + extra - n for c, n in enumerate(counts)}


def test_draw_counts_floor_plus_distinct_remainder():
    counts = draw_counts(7, 30, np.random.default_rng(0))  # 30 = 4 * 7 + 2
    assert counts.sum() == 30 and sorted(counts.tolist()) == [4] * 5 + [5] * 2
    assert draw_counts(5, 3, np.random.default_rng(0)).tolist().count(0) == 2  # fewer than n_c: 0 or 1


@pytest.mark.parametrize("engine", ENGINES)
def test_output_holds_transformed_real_features_first_then_generated_by_class(engine):
    X, y = blobs([30, 8, 4])
    order = np.random.default_rng(1).permutation(len(y))  # interleave the classes in the input
    X, y = X[order], y[order]
    tc = TailCalib(engine)
    feats, labels, gen = tc.generate(*to_engine(engine, X, y), tukey_value=0.5, topk=1, shuffle=False, seed=0)
    np.testing.assert_allclose(np_(feats)[: len(y)], np.sqrt(X), rtol=1e-12)  # t(X), in input order
    assert np.array_equal(np_(feats)[: len(y)], np_(tc.convert_others(to_engine(engine, X, y)[0], 0.5)))
    assert np.array_equal(np_(labels)[: len(y)], y)
    assert np_(labels)[len(y):].tolist() == [1] * 22 + [2] * 26  # grouped by class, sorted labels
    assert np.array_equal(np_(feats)[len(y):], np.concatenate([np_(gen[1]), np_(gen[2])]))
    plain, _, _ = tc.generate(*to_engine(engine, X, y), tukey_value=1.0, shuffle=False, seed=0)
    assert np.array_equal(np_(plain)[: len(y)], X)  # lambda = 1: the real features unchanged


# ---------------------------------------------------------------- formulas on hand examples


@pytest.mark.parametrize("engine", ENGINES)
def test_tukey_transform_hand_values(engine):
    x = np.array([[0.0, 1.0, 4.0, 9.0]])
    x_e = to_engine(engine, x, np.zeros(1))[0]
    assert tukey_transform(x_e, 1.0) is x_e
    np.testing.assert_allclose(np_(tukey_transform(x_e, 0.5)), [[0.0, 1.0, 2.0, 3.0]], atol=1e-15)
    logs = [math.log(1e-6), math.log(1 + 1e-6), math.log(4 + 1e-6), math.log(9 + 1e-6)]
    np.testing.assert_allclose(np_(tukey_transform(x_e, 0.0)), [logs], rtol=1e-14)


@pytest.mark.parametrize("engine", ENGINES)
def test_calibrated_mean_k1_is_midpoint_of_sample_and_nearest_mean(engine):
    means = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = np.array([[2.0, 1.0], [9.0, 9.5]])
    x_e, means_e = to_engine(engine, x, np.zeros(1))[0], to_engine(engine, means, np.zeros(1))[0]
    nearest = nearest_classes(x_e, means_e, 1)
    assert nearest.tolist() == [[0], [2]]
    np.testing.assert_allclose(np_(calibrated_mean(x_e, means_e, nearest)), [[1.0, 0.5], [4.5, 9.75]])
    nearest2 = nearest_classes(x_e, means_e, 2)  # (means 0 and 1 + x) / 3
    assert nearest2[0].tolist() == [0, 1]
    np.testing.assert_allclose(np_(calibrated_mean(x_e[:1], means_e, nearest2[:1])), [[4.0, 1.0 / 3.0]])


def test_calibrated_covariance_hand_values_both_alpha_forms():
    covs = np.array([[[1.0, 0.2], [0.2, 2.0]], [[3.0, 0.0], [0.0, 4.0]], [[9.0, 9.0], [9.0, 9.0]]])
    keys = np.array([[0, 1]])
    j = COVARIANCE_JITTER
    np.testing.assert_allclose(calibrated_covariance(covs, keys, 0.5, "all")[0],
                               [[2.5 + j, 0.6], [0.6, 3.5 + j]])
    np.testing.assert_allclose(calibrated_covariance(covs, keys, 0.5, "diagonal")[0],
                               [[2.5 + j, 0.1], [0.1, 3.5 + j]])


# ---------------------------------------------------------------- the sampled distribution

N_DRAWS = 20_000


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("lam,stats_after,alpha,mode", [
    (1.0, False, 0.0, "all"),       # plain
    (0.5, False, 0.3, "all"),       # published order: raw statistics, transformed x
    (0.5, True, 0.3, "diagonal"),   # consistent order, diagonal alpha
])
def test_draws_of_one_feature_match_calibrated_gaussian(engine, lam, stats_after, alpha, mode):
    """20,000 draws of one real feature x1 vs N(mu', Sigma'): mean within 5 standard errors
    sqrt(S_ii / N), covariance entries within 5 s.e. sqrt((S_ii S_jj + S_ij^2) / N)."""
    rng = np.random.default_rng(3)
    A = np.array([[0.5, 0.0, 0.0], [0.3, 0.4, 0.0], [-0.2, 0.1, 0.3]])
    X0 = np.abs(3.0 + rng.standard_normal((60, 3)) @ A.T)
    x1, x2 = np.array([3.3, 2.8, 3.1]), np.array([8.0, 8.0, 8.0])  # x1 sits by class 5's mean
    X = np.vstack([X0, x1, x2])
    y = np.array([5] * 60 + [9, 9])
    _, _, gen = TailCalib(engine).generate(
        *to_engine(engine, X, y), tukey_value=lam, alpha=alpha, topk=1, extra_points=2 * N_DRAWS - 58,
        shuffle=False, seed=11, alpha_mode=mode, stats_after_tukey=stats_after)
    draws = np_(gen[9])[:N_DRAWS]  # class 9's draws: x1's 20,000 first, then x2's
    assert len(np_(gen[9])) == 2 * N_DRAWS

    src = X**lam if stats_after else X  # statistics before or after the transform
    means = [src[y == c].mean(0) for c in (5, 9)]
    covs = [np.cov(src[y == c].T, ddof=1) for c in (5, 9)]
    t1 = x1**lam
    near = int(np.argmin([np.linalg.norm(t1 - m) for m in means]))
    mu = (means[near] + t1) / 2
    extra = np.full((3, 3), alpha) if mode == "all" else alpha * np.eye(3)
    sigma = covs[near] + extra + 1e-4 * np.eye(3)

    se_mean = np.sqrt(np.diag(sigma) / N_DRAWS)
    assert np.all(np.abs(draws.mean(0) - mu) < 5 * se_mean)
    se_cov = np.sqrt((np.outer(np.diag(sigma), np.diag(sigma)) + sigma**2) / N_DRAWS)
    assert np.all(np.abs(np.cov(draws.T) - sigma) < 5 * se_cov)


def test_engines_agree_in_distribution():
    X, y = blobs([200, 40, 8], d=4, seed=5)
    out = {}
    for engine in ENGINES:
        feats, labels, gen = TailCalib(engine).generate(
            *to_engine(engine, X, y), tukey_value=0.9, alpha=0.1, topk=2, extra_points=2000, seed=4)
        out[engine] = (np_(feats), np_(labels), {k: np_(v) for k, v in gen.items()})
    gen_np, gen_t = out["numpy"][2], out["pytorch"][2]
    assert {k: len(v) for k, v in gen_np.items()} == {k: len(v) for k, v in gen_t.items()}
    direction = np.array([0.5, -0.5, 0.5, 0.5])
    for c in gen_np:
        a, b = gen_np[c], gen_t[c]
        z = (a.mean(0) - b.mean(0)) / np.sqrt(a.var(0, ddof=1) / len(a) + b.var(0, ddof=1) / len(b))
        assert np.all(np.abs(z) < 4.5), (c, z)
        pa, pb = np.sort(a @ direction), np.sort(b @ direction)  # two-sample Kolmogorov-Smirnov
        grid = np.concatenate([pa, pb])
        ks = np.max(np.abs(np.searchsorted(pa, grid, "right") / len(pa)
                           - np.searchsorted(pb, grid, "right") / len(pb)))
        assert ks < 1.95 * math.sqrt((len(pa) + len(pb)) / (len(pa) * len(pb))), (c, ks)  # alpha = 0.001


# ---------------------------------------------------------------- labels, order, seeds


@pytest.mark.parametrize("engine", ENGINES)
def test_non_contiguous_labels_and_dtypes_are_kept(engine):
    X, y = blobs([20, 9, 5], labels=[42, 3, 7])
    X, y = X.astype(np.float32), y.astype(np.int32)
    feats, labels, gen = tailcalib(base_engine=engine).generate(*to_engine(engine, X, y), topk=2, seed=0)
    assert np_(feats).dtype == np.float32 and np_(gen[3]).dtype == np.float32  # X's dtype kept
    values, counts = np.unique(np_(labels), return_counts=True)
    assert values.tolist() == [3, 7, 42] and counts.tolist() == [20, 20, 20]
    assert sorted(gen) == [3, 7, 42] and [len(gen[k]) for k in (3, 7, 42)] == [11, 15, 0]
    assert np_(labels).dtype == np.int32


@pytest.mark.parametrize("engine", ENGINES)
def test_shuffle_true_permutes_the_shuffle_false_output(engine):
    X, y = blobs([30, 10, 4])
    tc = TailCalib(engine)
    f0, l0, _ = tc.generate(*to_engine(engine, X, y), shuffle=False, seed=2)
    f1, l1, _ = tc.generate(*to_engine(engine, X, y), shuffle=True, seed=2)
    f0, l0, f1, l1 = map(np_, (f0, l0, f1, l1))
    assert not np.array_equal(l0, l1)
    rows0, rows1 = np.column_stack([l0, f0]), np.column_stack([l1, f1])
    assert np.array_equal(rows0[np.lexsort(rows0.T[::-1])], rows1[np.lexsort(rows1.T[::-1])])


@pytest.mark.parametrize("engine", ENGINES)
def test_same_seed_same_output_other_seed_other_output(engine):
    X, y = blobs([30, 10, 4])
    tc = TailCalib(engine)
    a, la, _ = tc.generate(*to_engine(engine, X, y), topk=2, seed=7)
    b, lb, _ = tc.generate(*to_engine(engine, X, y), topk=2, seed=7)
    c, _, _ = tc.generate(*to_engine(engine, X, y), topk=2, seed=8)
    assert np.array_equal(np_(a), np_(b)) and np.array_equal(np_(la), np_(lb))
    assert not np.array_equal(np_(a), np_(c))


def test_convert_others_normalize_gives_unit_rows():
    X = np.array([[3.0, 4.0], [1.0, 0.0]])
    np.testing.assert_allclose(TailCalib().convert_others(X, 1.0, normalize=True), [[0.6, 0.8], [1.0, 0.0]])


# ---------------------------------------------------------------- bad input

X_OK, Y_OK = blobs([10, 6, 4], d=3)


@pytest.mark.parametrize("call,match", [
    (lambda: TailCalib("jax"), "base_engine"),
    (lambda: TailCalib().generate(X_OK, Y_OK, topk=0), "topk"),
    (lambda: TailCalib().generate(X_OK, Y_OK, topk=4), "topk"),
    (lambda: TailCalib().generate(X_OK, Y_OK, tukey_value=-0.5), "tukey_value"),
    (lambda: TailCalib().generate(X_OK, Y_OK[:-1]), "y must be 1-D"),
    (lambda: TailCalib().generate(X_OK[:, 0], Y_OK), "X must be 2-D"),
    (lambda: TailCalib().generate(X_OK[:11], Y_OK[:11]), "single sample"),
    (lambda: TailCalib().generate(X_OK - 1.0, Y_OK, tukey_value=0.5), "negative"),
    (lambda: TailCalib().convert_others(X_OK - 1.0, tukey_value=0.5), "negative"),
    (lambda: TailCalib().generate(X_OK, Y_OK, extra_points=-1), "extra_points"),
    (lambda: TailCalib().generate(X_OK, Y_OK, alpha_mode="full"), "alpha_mode"),
    (lambda: TailCalib().generate(X_OK, Y_OK.astype(float)), "integer labels"),
    (lambda: TailCalib().generate(np.where(X_OK > 1, np.nan, X_OK), Y_OK), "NaN"),
    (lambda: TailCalib().generate(X_OK, Y_OK, alpha=-10.0, alpha_mode="diagonal"), "positive definite"),
    (lambda: TailCalib("pytorch").generate(torch.as_tensor(X_OK), torch.as_tensor(Y_OK), alpha=-10.0,
                                           alpha_mode="diagonal"), "positive definite"),
])
def test_bad_input_raises_value_error_naming_it(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_signed_features_are_fine_at_lambda_one():
    feats, _, _ = TailCalib().generate(X_OK - 1.0, Y_OK, tukey_value=1.0, seed=0)
    assert np.isfinite(feats).all()


# ---------------------------------------------------------------- toy example


def test_toy_example_tailcalib_beats_imbalanced_by_ten_points():
    acc = toy_example(100, seed=0)  # measured: balanced 84.6, imbalanced 67.7, tailcalib 83.2
    assert acc["tailcalib"] >= acc["imbalanced"] + 10
    assert acc["balanced"] >= acc["tailcalib"] - 1  # balanced training is the upper reference
