"""Samplers against values worked out from SPEC section 2, not from the code under test.

Labels: CIFAR-10-LT IF 100, counts [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
(N = 12,406), in a fixed shuffled order so that an index never tells its class.
Goodness of fit: Pearson's chi-square at fixed seeds; a test passes when the p-value exceeds 0.001.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch

from imbalance_baselines.samplers import SAMPLERS, oversample_indices, undersample_indices

COUNTS = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
N, C = 12406, 10
LABELS = torch.arange(C).repeat_interleave(torch.tensor(COUNTS))[
    torch.randperm(N, generator=torch.Generator().manual_seed(1234))]
EPOCHS = 20
P_MIN = 0.001


def build(name: str, seed: int = 0, labels: torch.Tensor = LABELS, **params):
    return SAMPLERS.build(name, labels=labels, num_classes=C, seed=seed, **params)


def chi_square_p(observed: torch.Tensor, expected: torch.Tensor, df: int) -> float:
    """Upper tail of the chi-square distribution: Q(df / 2, X^2 / 2), the regularised gamma."""
    observed, expected = observed.double(), expected.double()
    statistic = ((observed - expected) ** 2 / expected).sum()
    return float(torch.special.gammaincc(torch.tensor(df / 2, dtype=torch.float64), statistic / 2))


def class_counts(indices: torch.Tensor) -> torch.Tensor:
    return torch.bincount(LABELS[indices], minlength=C)


def test_chi_square_tail_matches_tables():
    # Textbook critical values for 9 degrees of freedom: 16.919 at 0.05, 27.877 at 0.001.
    for critical, tail in [(16.919, 0.05), (27.877, 0.001)]:
        p = float(torch.special.gammaincc(torch.tensor(4.5, dtype=torch.float64),
                                          torch.tensor(critical / 2, dtype=torch.float64)))
        assert p == pytest.approx(tail, rel=1e-3)


def test_labels_fixture_has_the_cifar10_lt_if100_counts():
    assert torch.bincount(LABELS).tolist() == COUNTS and sum(COUNTS) == N


# ----------------------------------------------------------------------------- instance sampling

def test_instance_is_a_permutation_each_epoch():
    sampler = build("instance")
    sequences = [sampler.indices(epoch) for epoch in range(EPOCHS)]
    for sequence in sequences:
        assert torch.equal(torch.sort(sequence).values, torch.arange(N))
    assert not torch.equal(sequences[0], sequences[1])


# ------------------------------------------------------------------ class-probability samplers

SQRT_TOTAL = sum(math.sqrt(n) for n in COUNTS)


@pytest.mark.parametrize("name, params, expected", [
    ("class_balanced", {}, [1 / C] * C),                                     # q = 0
    ("square_root", {}, [math.sqrt(n) / SQRT_TOTAL for n in COUNTS]),       # q = 1/2
    ("class_balanced", {"q": 1.0}, [n / N for n in COUNTS]),                # q = 1
])
def test_q_power_sampling_frequencies(name, params, expected):
    """Kang et al. Eq. 1, p_j = n_j^q / sum n_i^q: the 20 epochs' pooled class counts fit it."""
    sampler = build(name, **params)
    expected = torch.tensor(expected, dtype=torch.float64)
    assert torch.allclose(sampler.class_probabilities(0), expected, rtol=1e-12, atol=0)
    observed = sum(class_counts(sampler.indices(epoch)) for epoch in range(EPOCHS))
    assert sampler.num_samples(0) == N
    assert chi_square_p(observed, EPOCHS * N * expected, df=C - 1) > P_MIN


@pytest.mark.parametrize("cls", [9, 5])
def test_class_balanced_draws_images_of_a_class_uniformly(cls):
    sampler = build("class_balanced")
    drawn = torch.cat([sampler.indices(epoch) for epoch in range(EPOCHS)])
    drawn = drawn[LABELS[drawn] == cls]
    members = torch.nonzero(LABELS == cls).flatten()
    observed = torch.bincount(drawn, minlength=N)[members]
    expected = torch.full((COUNTS[cls],), len(drawn) / COUNTS[cls])
    assert chi_square_p(observed, expected, df=COUNTS[cls] - 1) > P_MIN


def progressive_p(epoch: int, total: int) -> list[float]:
    """p_j(t) = (1 - t/(T-1)) n_j/N + t/(T-1)/C in exact rational arithmetic."""
    r = Fraction(min(epoch, total - 1), total - 1)
    return [float((1 - r) * Fraction(n, N) + r * Fraction(1, C)) for n in COUNTS]


def test_progressive_frequencies_follow_each_epochs_distribution():
    """Per epoch t of T = 20: counts against N p(t); the 20 independent statistics are summed
    (chi-square with 20 * 9 = 180 degrees of freedom)."""
    sampler = build("progressive", total_epochs=EPOCHS)
    observed, expected = [], []
    for epoch in range(EPOCHS):
        p = torch.tensor(progressive_p(epoch, EPOCHS), dtype=torch.float64)
        assert torch.allclose(sampler.class_probabilities(epoch), p, rtol=1e-12, atol=0)
        observed.append(class_counts(sampler.indices(epoch)))
        expected.append(N * p)
    assert chi_square_p(torch.cat(observed), torch.cat(expected), df=EPOCHS * (C - 1)) > P_MIN


def test_progressive_first_epoch_is_instance_balanced_and_last_exactly_uniform():
    sampler = build("progressive", total_epochs=200)
    assert torch.allclose(sampler.class_probabilities(0),
                          torch.tensor(COUNTS, dtype=torch.float64) / N, rtol=1e-15, atol=0)
    uniform = torch.full((C,), 0.1, dtype=torch.float64)
    for epoch in (199, 200, 350):
        assert torch.equal(sampler.class_probabilities(epoch), uniform)
    # t = 100: r = 100 / 199.
    assert sampler.class_probabilities(100)[9].item() == pytest.approx(
        (1 - 100 / 199) * 50 / N + (100 / 199) / C, rel=1e-12)
    single = build("progressive", total_epochs=1)  # np.linspace(0, 1, 1) == [0.]
    assert torch.allclose(single.class_probabilities(0), sampler.class_probabilities(0))
    assert torch.equal(single.class_probabilities(1), uniform)


# ------------------------------------------------------------------------- offline re-sampling

def multiplicities(indices: torch.Tensor) -> torch.Tensor:
    return torch.bincount(indices, minlength=N)


@pytest.mark.parametrize("ratio, expected", [
    (1.0, [5000] * 10),
    (0.5, [5000, 2997] + [2500] * 8),   # L = int(5000 * 0.5) = 2500; heads above L unchanged
    (0.1, COUNTS[:5] + [500] * 5),      # L = 500: classes of 645 and more unchanged
])
def test_oversample_counts_and_whole_copies(ratio, expected):
    sampler = build("oversample", ratio=ratio)
    fixed = sampler.index_list
    assert class_counts(fixed).tolist() == expected
    target = int(5000 * ratio)
    times = multiplicities(fixed)
    for cls, n in enumerate(COUNTS):
        members = times[LABELS == cls]
        if n >= target:
            assert torch.all(members == 1)
        else:  # every image floor(L / n) times, plus one for L mod n of them
            assert int(members.min()) >= target // n and int(members.max()) <= target // n + 1
            assert int((members == target // n + 1).sum()) == target % n


@pytest.mark.parametrize("ratio, expected", [
    (1.0, [50] * 10),
    (0.5, [100] * 8 + [83, 50]),        # U = int(50 / 0.5) = 100
    (2.0, [25] * 10),                   # U = 25
])
def test_undersample_counts_are_distinct_subsets(ratio, expected):
    fixed = build("undersample", ratio=ratio).index_list
    assert class_counts(fixed).tolist() == expected
    assert int(multiplicities(fixed).max()) == 1


@pytest.mark.parametrize("name", ["oversample", "undersample"])
def test_offline_list_is_fixed_and_each_epoch_shuffles_it(name):
    sampler = build(name, ratio=0.5)
    again = build(name, ratio=0.5)
    assert torch.equal(sampler.index_list, again.index_list)  # seeded by the seed alone
    sequences = [sampler.indices(epoch) for epoch in range(4)]
    for sequence in sequences:
        assert torch.equal(torch.sort(sequence).values, sampler.index_list)
    assert not torch.equal(sequences[0], sequences[1])
    assert sampler.num_samples(3) == len(sampler.index_list)
    assert not torch.equal(build(name, seed=1, ratio=0.5).index_list, sampler.index_list)


def test_offline_functions_take_a_generator():
    first = oversample_indices(LABELS, C, 1.0, torch.Generator().manual_seed(0))
    second = oversample_indices(LABELS, C, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(first, second) and class_counts(first).tolist() == [5000] * 10
    under = undersample_indices(LABELS.tolist(), C, 1.0, torch.Generator().manual_seed(0))
    assert class_counts(under).tolist() == [50] * 10


# ------------------------------------------------------------------------ class-aware sampling

def test_class_aware_runs_of_k_cycle_over_classes_and_images():
    sampler = build("class_aware")
    assert sampler.num_samples(0) == 5000 * C  # n_max * C, as the official code
    sequence = sampler.indices(0)
    assert len(sequence) == 50000
    runs = LABELS[sequence].view(-1, 4)
    assert torch.all(runs == runs[:, :1])  # k = 4 draws from one class per visit
    visits = runs[:, 0]
    # Classes are cycled in shuffled order: every aligned block of C visits is a permutation.
    assert torch.all(torch.sort(visits.view(-1, C), dim=1).values == torch.arange(C))
    assert len(set(visits[:C].tolist())) == C
    # Images of a class are cycled: each aligned block of n_c draws of class c is all its images.
    for cls in (9, 0):
        drawn = sequence[LABELS[sequence] == cls]
        members = torch.nonzero(LABELS == cls).flatten()
        whole = len(drawn) // COUNTS[cls] * COUNTS[cls]
        for block in drawn[:whole].view(-1, COUNTS[cls]):
            assert torch.equal(torch.sort(block).values, members)


def test_class_aware_with_uneven_length():
    sampler = build("class_aware", k=3, num_samples=1000)
    sequence = sampler.indices(2)
    assert len(sequence) == 1000 and sampler.num_samples(2) == 1000
    runs = LABELS[sequence[:999]].view(-1, 3)
    assert torch.all(runs == runs[:, :1])
    visits = torch.bincount(runs[:, 0], minlength=C)  # 333 full visits: 33 cycles of C, then 3
    assert sorted(visits.tolist()) == [33] * 7 + [34] * 3


# --------------------------------------------------------------------- deferred re-sampling

@pytest.mark.parametrize("then, then_params", [
    ("class_balanced", {}), ("progressive", {"total_epochs": 12}), ("class_aware", {"k": 2}),
])
def test_drs_is_instance_then_the_then_sampler(then, then_params):
    drs = build("drs", start_epoch=5, then=then, then_params=then_params)
    instance, after = build("instance"), build(then, **then_params)
    for epoch in range(9):
        reference = instance if epoch < 5 else after
        assert torch.equal(drs.indices(epoch), reference.indices(epoch))
        assert drs.phase_key(epoch) == reference.phase_key(epoch)
        assert drs.num_samples(epoch) == reference.num_samples(epoch)
    assert drs.phase_key(4) == drs.phase_key(0) != drs.phase_key(5)


# ---------------------------------------------------------------------------- determinism

ALL = [("instance", {}), ("oversample", {}), ("undersample", {"ratio": 0.5}),
       ("class_balanced", {}), ("square_root", {}), ("progressive", {"total_epochs": 10}),
       ("class_aware", {}), ("drs", {"start_epoch": 3})]


def test_every_registered_sampler_is_covered():
    assert sorted({name for name, _ in ALL}) == SAMPLERS.names()


@pytest.mark.parametrize("name, params", ALL)
def test_indices_are_a_pure_function_of_seed_and_epoch(name, params):
    looped = build(name, **params)
    for epoch in range(5):
        looped.indices(epoch)
    fresh = build(name, **params)
    assert torch.equal(fresh.indices(5), looped.indices(5))  # epoch 5 without epochs 0-4
    assert torch.equal(fresh.indices(5), fresh.indices(5))
    assert fresh.phase_key(5) == looped.phase_key(5)
    assert not torch.equal(fresh.indices(5), fresh.indices(6))
    assert not torch.equal(build(name, seed=1, **params).indices(5), fresh.indices(5))
    assert fresh.indices(5).dtype == torch.int64


def test_phase_keys_name_what_is_drawn():
    assert build("square_root").phase_key(0) == build("class_balanced", q=0.5).phase_key(0)
    assert torch.equal(build("square_root").indices(2), build("class_balanced", q=0.5).indices(2))
    assert build("class_balanced").phase_key(0) != build("square_root").phase_key(0)
    other_data = SAMPLERS.build("instance", labels=LABELS[:100], num_classes=C, seed=0)
    assert other_data.phase_key(0) != build("instance").phase_key(0)


# ------------------------------------------------------------------------ distributed shards

@pytest.mark.parametrize("world_size", [1, 2, 3])
@pytest.mark.parametrize("name, params, length", [
    ("class_balanced", {}, N),              # 12,406 = 3 * 4135 + 1: two padding draws at W = 3
    ("undersample", {"ratio": 1.0}, 500),   # 500 = 3 * 166 + 2: one padding draw at W = 3
])
def test_distributed_shards_partition_the_epoch(world_size, name, params, length):
    from torch.utils.data import DistributedSampler

    from imbalance_baselines.samplers import DistributedShard

    sampler = build(name, **params)
    sequence = sampler.indices(7)
    padding = -length % world_size
    padded = torch.cat([sequence, sequence[:padding]])  # torch's rule: repeat the head
    shares, taken = [], []
    for rank in range(world_size):
        shard = DistributedShard(build(name, **params), rank, world_size)  # no shared state
        share = shard.indices(7)
        # The draws torch's own DistributedSampler (shuffle off) gives this rank.
        where = list(DistributedSampler(range(length), num_replicas=world_size, rank=rank,
                                        shuffle=False))
        assert len(share) == shard.num_samples(7) == math.ceil(length / world_size)
        assert torch.equal(share, sequence[where])
        shares.append(share)
        taken += where
    # Every draw of the epoch once, plus the first `padding` draws a second time.
    assert sorted(taken) == sorted(list(range(length)) + list(range(padding)))
    union = torch.cat(shares)
    assert torch.equal(torch.sort(union).values, torch.sort(padded).values)
    assert torch.equal(class_counts(union), class_counts(sequence) + class_counts(sequence[:padding]))
    keys = {DistributedShard(sampler, rank, world_size).phase_key(7) for rank in range(world_size)}
    assert len(keys) == world_size


def test_torch_sampler_yields_the_epoch_and_honours_set_epoch():
    from torch.utils.data import DataLoader, TensorDataset

    from imbalance_baselines.samplers import TorchSampler

    sampler = build("square_root")
    adapter = TorchSampler(sampler)
    assert list(adapter) == sampler.indices(0).tolist() and len(adapter) == N
    adapter.set_epoch(3)
    assert list(adapter) == sampler.indices(3).tolist()
    loader = DataLoader(TensorDataset(torch.arange(N)), batch_size=1000, sampler=adapter)
    assert torch.equal(torch.cat([batch for (batch,) in loader]), sampler.indices(3))


# -------------------------------------------------------------------------------- validation

MISSING_CLASS = LABELS[LABELS != 9]  # num_classes stays 10: class 9 has no image


@pytest.mark.parametrize("name, arguments, parameter", [
    ("class_balanced", {"q": -0.1}, "q"),
    ("class_balanced", {"q": 1.5}, "q"),
    ("square_root", {"q": float("nan")}, "q"),
    ("oversample", {"ratio": 0}, "ratio"),
    ("undersample", {"ratio": -1.0}, "ratio"),
    ("undersample", {"ratio": 51.0}, "ratio"),     # U = int(50 / 51) = 0
    ("class_aware", {"k": 0}, "k"),
    ("class_aware", {"k": 2.5}, "k"),
    ("class_aware", {"num_samples": 0}, "num_samples"),
    ("progressive", {"total_epochs": 0}, "total_epochs"),
    ("drs", {"start_epoch": -1}, "start_epoch"),
    ("drs", {"start_epoch": 2, "then_params": {"seed": 3}}, "then_params"),
    ("instance", {"labels": LABELS.view(2, -1)}, "labels"),
    ("instance", {"labels": LABELS.float()}, "labels"),
    ("instance", {"labels": []}, "labels"),
    ("instance", {"labels": [0, 1, -1]}, "labels"),
    ("instance", {"labels": [0, 1, 10]}, "labels"),
    ("instance", {"num_classes": 0}, "num_classes"),
    ("instance", {"seed": 1.5}, "seed"),
    *[(name, {"labels": MISSING_CLASS, **extra}, "labels") for name, extra in [
        ("class_balanced", {}), ("square_root", {}), ("progressive", {"total_epochs": 3}),
        ("class_aware", {}), ("oversample", {}), ("undersample", {})]],
])
def test_bad_parameters_raise_one_line_naming_them(name, arguments, parameter):
    arguments = {"labels": LABELS, "num_classes": C, "seed": 0, **arguments}
    with pytest.raises(ValueError) as error:
        SAMPLERS.build(name, **arguments)
    message = str(error.value)
    assert f"{parameter}=" in message and "allowed:" in message and "\n" not in message


def test_bad_adapter_and_epoch_arguments():
    from imbalance_baselines.registry import UnknownNameError
    from imbalance_baselines.samplers import DistributedShard, TorchSampler

    sampler = build("instance")
    assert build("instance", labels=MISSING_CLASS).num_samples(0) == N - 50  # needs no class
    for rank, world_size, parameter in [(-1, 2, "rank"), (2, 2, "rank"), (0, 0, "world_size")]:
        with pytest.raises(ValueError, match=f"{parameter}="):
            DistributedShard(sampler, rank, world_size)
    with pytest.raises(ValueError, match="epoch="):
        sampler.indices(-1)
    with pytest.raises(ValueError, match="epoch="):
        TorchSampler(sampler).set_epoch(-2)
    with pytest.raises(ValueError, match="epoch="):
        build("drs", start_epoch=2).indices(-1)
    with pytest.raises(UnknownNameError, match="class_balanced"):  # did you mean ...
        build("drs", start_epoch=2, then="class_balance")
