"""Mix-up: one (lambda, permutation) pair mixes features and labels; reproducible draws."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from imbalance_baselines.losses import LOSSES, MIX_POINTS, MixPair, MixUp


class StandIn(nn.Module):
    """A tiny network with ResNet-32's mix points and the model signature the engine calls."""

    def __init__(self, num_classes: int = 5) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv2d(3, 4, 1)
        self.stages = nn.ModuleList(nn.Conv2d(4, 4, 1) for _ in range(3))
        self.fc = nn.Linear(4, num_classes)
        self.mixed_at: list[str] = []

    def forward(self, x, mix_point=None, mix_fn=None):
        def at(point, h):
            if point != mix_point:
                return h
            self.mixed_at.append(point)
            return mix_fn(h)

        h = torch.tanh(self.stem(at("input", x)))
        h = at("stem", h)
        for i, stage in enumerate(self.stages, start=1):
            h = at(f"stage{i}", torch.tanh(stage(h)))
        return self.fc(at("pool", h.mean(dim=(2, 3))))


def test_lam_one_gives_the_unmixed_loss():
    z = torch.randn(6, 5, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    loss, mix = LOSSES.build("ce", class_counts=[5, 4, 3, 2, 1]), MixUp()
    pair = MixPair(lam=1.0, perm=torch.tensor([5, 4, 3, 2, 1, 0]))
    assert torch.equal(mix.mixed_loss(loss, z, y, pair), loss(z, y))
    assert torch.equal(mix.mix(z, pair), z)


def test_features_and_labels_are_mixed_with_the_same_permutation():
    B = 8
    mix = MixUp(alpha=1.0)
    pair = mix.draw(B, torch.Generator().manual_seed(3), "cpu")
    assert 0.05 < pair.lam < 0.95 and not torch.equal(pair.perm, torch.arange(B))
    # Row i of the input encodes i, so each mixed row names its partner j: lam i + (1 - lam) j.
    index = torch.arange(B, dtype=torch.float32)
    mixed = mix.mix(index[:, None] * torch.tensor([1.0, -0.5, 0.25]), pair)
    partner = ((mixed[:, 0] - pair.lam * index) / (1 - pair.lam)).round().long()
    assert sorted(partner.tolist()) == list(range(B))
    logits = mixed @ torch.randn(3, B, generator=torch.Generator().manual_seed(4))
    target = torch.arange(B).flip(0)  # every image has its own label
    log_p = torch.log_softmax(logits.double(), dim=1)
    rows = torch.arange(B)
    expected = -(pair.lam * log_p[rows, target] + (1 - pair.lam) * log_p[rows, target[partner]]).mean()
    loss = LOSSES.build("ce", class_counts=[10] * B)
    torch.testing.assert_close(mix.mixed_loss(loss, logits, target, pair).double(), expected)


def test_same_generator_state_gives_the_same_pair():
    mix = MixUp(alpha=0.4)
    a = mix.draw(32, torch.Generator().manual_seed(11), "cpu")
    g = torch.Generator().manual_seed(11)
    state = g.get_state()
    b = mix.draw(32, g)
    g.set_state(state)
    c = mix.draw(32, g)
    for other in (b, c):
        assert a.lam == other.lam and torch.equal(a.perm, other.perm)
    d = mix.draw(32, torch.Generator().manual_seed(12))
    assert d.lam != a.lam and not torch.equal(d.perm, a.perm)
    assert sorted(a.perm.tolist()) == list(range(32)) and a.perm.dtype == torch.int64


def test_draw_leaves_the_global_generators_alone():
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    MixUp().draw(16, torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state)


@pytest.mark.parametrize("alpha", [0.2, 1.0, 4.0])
def test_lam_follows_beta_alpha_alpha(alpha):
    """Mean 1/2 and variance 1/(4(2 alpha + 1)) within 5 standard errors of 20,000 draws.

    Standard errors: sigma / sqrt(N) for the mean, sigma^2 sqrt((2 + kappa) / N) for the variance,
    with kappa = -6 / (2 alpha + 3) the excess kurtosis of Beta(alpha, alpha).
    """
    N, mix, g = 20_000, MixUp(alpha=alpha), torch.Generator().manual_seed(42)
    lam = np.array([mix.draw(2, g).lam for _ in range(N)])
    variance = 1 / (4 * (2 * alpha + 1))
    kurtosis = -6 / (2 * alpha + 3)
    assert ((0 <= lam) & (lam <= 1)).all()
    assert abs(lam.mean() - 0.5) < 5 * math.sqrt(variance / N)
    assert abs(lam.var() - variance) < 5 * variance * math.sqrt((2 + kurtosis) / N)


def test_stop_epoch_turns_mixing_off():
    mix = MixUp(alpha=1.0, point="pool", stop_epoch=5)
    assert mix.active
    mix.set_epoch(4)
    assert mix.active and mix.phase_key(4) == "mixup(alpha=1.0,point=pool)"
    mix.set_epoch(5)
    assert not mix.active and mix.phase_key(5) == "off" and mix.phase_key(399) == "off"
    assert mix.phase_key(0) != MixUp(alpha=0.5, point="pool").phase_key(0)
    forever = MixUp()
    forever.set_epoch(10_000)
    assert forever.active


@pytest.mark.parametrize("point", MIX_POINTS)
def test_the_mix_point_reaches_the_model(point):
    model, mix = StandIn(), MixUp(point=point)
    x = torch.randn(6, 3, 4, 4, generator=torch.Generator().manual_seed(5))
    pair = MixPair(lam=0.3, perm=torch.tensor([1, 2, 0, 4, 5, 3]))
    out = model(x, mix.point, lambda h: mix.mix(h, pair))
    assert model.mixed_at == [point]

    def by_hand(h):  # lam h + (1 - lam) h[perm], written out
        return 0.3 * h + 0.7 * h[[1, 2, 0, 4, 5, 3]]

    with torch.no_grad():
        h = x if point != "input" else by_hand(x)
        h = torch.tanh(model.stem(h))
        h = by_hand(h) if point == "stem" else h
        for i, stage in enumerate(model.stages, start=1):
            h = torch.tanh(stage(h))
            h = by_hand(h) if point == f"stage{i}" else h
        h = h.mean(dim=(2, 3))
        expected = model.fc(by_hand(h) if point == "pool" else h)
    torch.testing.assert_close(out, expected)
    assert not torch.allclose(out, model(x))  # mixing changed the output


@pytest.mark.parametrize("params, param", [
    ({"alpha": 0.0}, "alpha"), ({"alpha": -1.0}, "alpha"), ({"point": "layer4"}, "point"),
    ({"stop_epoch": -1}, "stop_epoch"), ({"stop_epoch": 2.5}, "stop_epoch"),
])
def test_bad_parameters_raise_naming_the_parameter(params, param):
    with pytest.raises(ValueError) as error:
        MixUp(**params)
    message = str(error.value)
    assert message.startswith(f"mixup: {param}=") and "allowed:" in message and "\n" not in message


def test_bad_batch_size_raises():
    with pytest.raises(ValueError, match="mixup: batch_size=0"):
        MixUp().draw(0, torch.Generator())
