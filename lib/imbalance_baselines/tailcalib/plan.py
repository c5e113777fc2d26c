"""Index bookkeeping of TailCalib, shared by both engines (plain numpy on index arrays).

Vigneswaran et al. 2021 (SPEC 6 steps 4-5): a class c with n_c real features needs
S_c = n_max - n_c + extra_points new ones. Each real feature of c generates floor(S_c / n_c) of them
and the remaining S_c mod n_c go to distinct, randomly chosen real features of c (one extra each), so
every class ends with exactly n_max + extra_points features. Every generating feature x draws from
N(mu'(x), Sigma'(x)), where Sigma' depends only on the *set* of x's K nearest class means; features
of a class that share that set share Sigma', so a class needs one Cholesky factor per distinct set,
not one per feature. ``ClassDraws`` lays a class's draws out so that the engine can colour all of
them with one batched matrix product (draws padded per set to the largest set's draw count).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def draw_counts(n_real: int, total: int, rng: np.random.Generator) -> np.ndarray:
    """How many new features each of ``n_real`` real features generates, summing to ``total``.

    Each gets ``total // n_real``; ``total % n_real`` distinct features, chosen uniformly at random,
    get one more (the original picked with replacement, so one feature could get several more).
    """
    counts = np.full(n_real, total // n_real, dtype=np.int64)
    counts[rng.choice(n_real, size=total % n_real, replace=False)] += 1
    return counts


def nearest_from_distances(sq_dist: np.ndarray, k: int) -> np.ndarray:
    """(n, k) indices of the k smallest distances per row, nearest first; ties go to the lower index."""
    return np.argsort(sq_dist, axis=1, kind="stable")[:, :k]


@dataclass(frozen=True)
class ClassDraws:
    """Where one class's generated features come from.

    rows: positions (in the caller's X) of the real features that generate at least one point, in
    input order. keys: (G, K) the distinct sorted nearest-class sets of those features (class
    indices). draw_feature / draw_group / draw_rank: per generated point, the index into ``rows``
    of its real feature, the index into ``keys`` of its covariance, and its slot among that set's
    draws. width: the largest number of draws sharing one set (the padding of the batched product).
    Draws are ordered by real feature (input order), each feature's draws contiguous.
    """

    rows: np.ndarray
    keys: np.ndarray
    draw_feature: np.ndarray
    draw_group: np.ndarray
    draw_rank: np.ndarray
    width: int

    @property
    def size(self) -> int:
        return len(self.draw_feature)


def plan_class(rows: np.ndarray, total: int, nearest: np.ndarray, rng: np.random.Generator) -> ClassDraws:
    """Lay out ``total`` draws for the class whose real features sit at ``rows`` (see ClassDraws).

    ``nearest`` holds, for every real feature of the whole data set, its K nearest class indices.
    """
    counts = draw_counts(len(rows), total, rng)
    rows, counts = rows[counts > 0], counts[counts > 0]
    keys, group = np.unique(np.sort(nearest[rows], axis=1), axis=0, return_inverse=True)
    group = group.reshape(-1)
    draw_feature = np.repeat(np.arange(len(rows)), counts)
    draw_group = group[draw_feature]
    order = np.argsort(draw_group, kind="stable")
    per_group = np.bincount(draw_group, minlength=len(keys))
    first = np.concatenate([[0], np.cumsum(per_group)[:-1]])
    draw_rank = np.empty(len(draw_group), dtype=np.int64)
    draw_rank[order] = np.arange(len(draw_group)) - first[draw_group[order]]
    width = int(per_group.max()) if len(per_group) else 0
    return ClassDraws(rows, keys, draw_feature, draw_group, draw_rank, width)
