"""CutMix (Yun et al. 2019) and Remix (Chou et al. 2020): drop-in for MixUp in the engine's step."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from imbalance_baselines.losses import (LOSSES, CutMix, CutPair, MixPair, MixUp, Remix, build_mixer)
from imbalance_baselines.losses.mixing import cut_box
from imbalance_baselines.models import MODELS

COUNTS = [5000, 50, 1500, 300, 100]  # ratios: 0/1 = 100, 0/2 = 3.33, 3/4 = 3 exactly


# -- Remix's label rule (Eq. 10), each branch by hand ---------------------------------------------------
@pytest.mark.parametrize("i, j, lam, expected", [
    (0, 1, 0.3, 0.0),   # n_i / n_j = 100 >= 3 and lam < 0.5: the minority (partner) label
    (0, 1, 0.7, 0.7),   # majority sample, but lam >= tau: plain mix-up
    (1, 0, 0.7, 1.0),   # n_i / n_j = 0.01 <= 1/3 and 1 - lam = 0.3 < 0.5: its own (minority) label
    (1, 0, 0.3, 0.3),   # minority sample, but 1 - lam >= tau: plain mix-up
    (0, 2, 0.3, 0.0),   # 5000 / 1500 = 3.33 >= 3
    (2, 0, 0.7, 1.0),   # 1500 / 5000 = 0.3 <= 1/3
    (3, 4, 0.3, 0.0),   # 300 / 100 = 3 exactly: the inequality includes kappa
    (4, 3, 0.7, 1.0),   # 100 / 300 = 1/3 exactly
    (0, 1, 0.5, 0.5),   # lam = tau exactly: lam < tau fails
    (1, 0, 0.5, 0.5),   # 1 - lam = tau exactly
    (2, 3, 0.8, 0.8),   # 1500 / 300 = 5 >= 3, but lam >= tau
    (3, 3, 0.2, 0.2),   # same class: ratio 1, neither case
])
def test_remix_label_weight_by_hand(i, j, lam, expected):
    remix = Remix(COUNTS, kappa=3.0, tau=0.5)
    weight = remix.label_weights(lam, torch.tensor([i]), torch.tensor([j]))
    assert weight.tolist() == [pytest.approx(expected)]


def test_remix_first_case_wins_where_both_hold():
    """Both cases hold only for kappa = 1, n_i = n_j and tau > 1/2 with 1 - tau < lam < tau."""
    remix = Remix([10, 10], kappa=1.0, tau=0.8)
    assert remix.label_weights(0.5, torch.tensor([0]), torch.tensor([1])).tolist() == [0.0]


def test_remix_loss_is_the_per_sample_rule_on_cross_entropy():
    """mean_i [lam_y,i CE(z_i, y_i) + (1 - lam_y,i) CE(z_i, y_pi(i))] with lam_y from Eq. 10."""
    remix, ce = Remix(COUNTS), LOSSES.build("ce", class_counts=COUNTS)
    y = torch.tensor([0, 1, 2, 3, 4, 0, 1, 3])
    perm = torch.tensor([1, 0, 0, 4, 3, 2, 1, 0])
    z = torch.randn(8, 5, generator=torch.Generator().manual_seed(0))
    for lam in (0.2, 0.5, 0.8):
        pair = MixPair(lam, perm)
        w = remix.label_weights(lam, y, y[perm])
        a = F.cross_entropy(z, y, reduction="none")
        b = F.cross_entropy(z, y[perm], reduction="none")
        torch.testing.assert_close(remix.mixed_loss(ce, z, y, pair), (w * a + (1 - w) * b).mean())
    # a constant rule (every weight lam) is mix-up's loss
    balanced = Remix([10] * 5)
    pair = MixPair(0.3, perm)
    torch.testing.assert_close(balanced.mixed_loss(ce, z, y, pair), MixUp().mixed_loss(ce, z, y, pair))


def test_remix_goes_through_the_losss_own_forward():
    """DRW before its switch is CE, after it class-weighted: Remix follows the loss's state."""
    drw, ce = LOSSES.build("ce_drw", class_counts=COUNTS, drw_epoch=2), LOSSES.build("ce", class_counts=COUNTS)
    remix, y = Remix(COUNTS), torch.tensor([0, 1, 2, 3, 4])
    pair = MixPair(0.3, torch.tensor([1, 0, 3, 4, 2]))
    z = torch.randn(5, 5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(remix.mixed_loss(drw, z, y, pair), remix.mixed_loss(ce, z, y, pair))
    drw.set_epoch(2)
    assert not torch.equal(remix.mixed_loss(drw, z, y, pair), remix.mixed_loss(ce, z, y, pair))


def test_remix_keys_and_schedule_follow_its_mixer():
    remix = Remix(COUNTS, mixer=MixUp(alpha=1.0, stop_epoch=3))
    assert remix.phase_key(2).startswith("remix(kappa=3.0,tau=0.5,") and remix.phase_key(2).endswith(
        MixUp(alpha=1.0, stop_epoch=3).phase_key(2))
    assert remix.phase_key(3) == "off"
    assert Remix(COUNTS).phase_key(0) != Remix(COUNTS, tau=0.4).phase_key(0)
    assert Remix(COUNTS).phase_key(0) != Remix(COUNTS[:-1] + [90]).phase_key(0)
    remix.set_epoch(3)
    assert not remix.active and remix.point == "input"


@pytest.mark.parametrize("params, message", [
    ({"kappa": 0.5}, "remix: kappa=0.5 is out of range; allowed: kappa >= 1"),
    ({"tau": 1.5}, "remix: tau=1.5 is out of range; allowed: 0 <= tau <= 1"),
    ({"tau": -0.1}, "tau=-0.1 is out of range"),
    ({"class_counts": [10]}, "has 1 class"),
])
def test_remix_bad_parameters_are_refused(params, message):
    arguments = {"class_counts": COUNTS, **params}
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        Remix(**arguments)


# -- CutMix -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lam, centre, box", [
    (0.75, (16, 16), (8, 8, 24, 24)),   # side int(32 * 0.5) = 16
    (0.75, (0, 31), (0, 23, 8, 32)),    # clipped: 8 x 9
    (0.5, (16, 16), (5, 5, 27, 27)),    # side int(32 * 0.7071) = 22
    (0.99, (3, 3), (2, 2, 4, 4)),       # side int(3.2) = 3, 3 // 2 = 1 each way: 2 x 2 (rand_bbox)
    (1.0, (10, 10), (10, 10, 10, 10)),  # nothing cut
])
def test_cut_box_by_hand(lam, centre, box):
    assert cut_box(lam, centre, (32, 32)) == box


def test_cutmix_box_area_is_one_minus_the_adjusted_lam_and_pixels_come_from_the_partner():
    cutmix = CutMix(alpha=1.0, prob=1.0)
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    for seed in range(20):
        pair = cutmix.draw(8, torch.Generator().manual_seed(seed))
        top, left, bottom, right = pair.box
        area = (bottom - top) * (right - left)
        assert (1 - pair.lam) * 32 * 32 == pytest.approx(area, abs=1e-9)
        mixed = cutmix.mix(x, pair)
        inside = torch.zeros(32, 32, dtype=torch.bool)
        inside[top:bottom, left:right] = True
        assert torch.equal(mixed[..., inside], x[pair.perm][..., inside])  # exactly the partner's
        assert torch.equal(mixed[..., ~inside], x[..., ~inside])           # the rest untouched


def test_cutmix_labels_use_the_permutation_that_mixed_the_pixels():
    """Image i's box holds image perm[i]; the loss weighs y[perm] with 1 - lam, for the same perm."""
    cutmix = CutMix(prob=1.0)
    pair = cutmix.draw(6, torch.Generator().manual_seed(3))
    index = torch.arange(6, dtype=torch.float32).view(6, 1, 1, 1).expand(6, 3, 32, 32)
    mixed = cutmix.mix(index, pair)
    top, left = pair.box[:2]
    assert torch.equal(mixed[:, 0, top, left].long(), pair.perm)
    ce = LOSSES.build("ce", class_counts=[3, 2, 1, 1, 1, 1])
    z, y = torch.randn(6, 6, generator=torch.Generator().manual_seed(4)), torch.arange(6)
    expected = pair.lam * F.cross_entropy(z, y) + (1 - pair.lam) * F.cross_entropy(z, y[pair.perm])
    torch.testing.assert_close(cutmix.mixed_loss(ce, z, y, pair), expected)


def test_cutmix_probability_and_an_unmixed_batch():
    never, always = CutMix(prob=0.0), CutMix(prob=1.0)
    pair = never.draw(4, torch.Generator().manual_seed(5))
    x = torch.randn(4, 3, 32, 32)
    assert pair.lam == 1.0 and torch.equal(never.mix(x, pair), x)
    ce = LOSSES.build("ce", class_counts=[2, 1, 1, 1])
    z, y = torch.randn(4, 4), torch.tensor([0, 1, 2, 3])
    assert torch.equal(never.mixed_loss(ce, z, y, pair), ce(z, y))
    # the same number of draws either way: the generator's stream does not depend on the branch
    g0, g1 = torch.Generator().manual_seed(6), torch.Generator().manual_seed(6)
    never.draw(4, g0), always.draw(4, g1)
    assert torch.equal(g0.get_state(), g1.get_state())
    mixed = sum(CutMix(prob=0.5).draw(4, torch.Generator().manual_seed(s)).lam < 1 for s in range(400))
    assert 160 < mixed < 240


def test_cutmix_draw_is_deterministic_given_the_generator():
    cutmix = CutMix(prob=1.0)
    a, b = (cutmix.draw(16, torch.Generator().manual_seed(7)) for _ in range(2))
    assert a.lam == b.lam and a.box == b.box and torch.equal(a.perm, b.perm)


def test_cutmix_needs_its_own_pair_and_image_size():
    cutmix = CutMix(prob=1.0)
    pair = cutmix.draw(2, torch.Generator().manual_seed(8))
    with pytest.raises(ValueError, match="allowed: the CutPair from CutMix.draw"):
        cutmix.mix(torch.zeros(2, 3, 32, 32), MixPair(pair.lam, pair.perm))
    with pytest.raises(ValueError, match=r"images of size \(28, 28\); allowed: image_size=\(32, 32\)"):
        cutmix.mix(torch.zeros(2, 3, 28, 28), pair)
    moved = dataclasses.replace(pair, perm=pair.perm.clone())  # how the engine should copy a pair
    assert isinstance(moved, CutPair) and moved.box == pair.box


@pytest.mark.parametrize("params, message", [
    ({"alpha": 0.0}, "mixup: alpha=0.0 is out of range; allowed: alpha > 0"),
    ({"prob": 1.5}, "cutmix: prob=1.5 is out of range; allowed: 0 <= prob <= 1"),
    ({"image_size": (32,)}, "cutmix: image_size=(32,); allowed: (H, W)"),
    ({"image_size": (32, 0)}, "cutmix: image_size=0 is out of range"),
])
def test_cutmix_bad_parameters_are_refused(params, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CutMix(**params)


def test_cutmix_phase_key():
    assert CutMix().phase_key(0) == "cutmix(alpha=1.0,prob=0.5,size=[32, 32])"
    assert CutMix(stop_epoch=2).phase_key(2) == "off"
    assert CutMix().phase_key(0) != MixUp().phase_key(0)


# -- building from a run's parameters and the engine's step ----------------------------------------------
def test_build_mixer_from_run_parameters():
    assert type(build_mixer({"alpha": 0.4}, COUNTS)) is MixUp  # no kind: mix-up, as before
    assert isinstance(build_mixer({"kind": "cutmix", "prob": 1.0}, COUNTS), CutMix)
    remix = build_mixer({"kind": "remix", "kappa": 2.0, "mixer": {"kind": "cutmix"}}, COUNTS)
    assert isinstance(remix, Remix) and isinstance(remix.mixer, CutMix) and remix.kappa == 2.0
    assert type(build_mixer({"kind": "remix"}, COUNTS).mixer) is MixUp
    with pytest.raises(ValueError, match="mixer of kind 'remix'; allowed"):
        build_mixer({"kind": "remix", "mixer": {"kind": "remix"}}, COUNTS)
    with pytest.raises(KeyError, match="allowed: cutmix, mixup, remix"):
        build_mixer({"kind": "cutmixx"}, COUNTS)


@pytest.mark.parametrize("params", [{"kind": "cutmix", "prob": 1.0}, {"kind": "remix"},
                                    {"kind": "remix", "mixer": {"kind": "cutmix", "prob": 1.0}}])
def test_drop_in_for_mixup_in_the_engine_step(params):
    """The calls of train.engine._step, on ResNet-8: finite loss, gradients reach the network."""
    model = MODELS.build("resnet8", num_classes=5)
    mix, loss = build_mixer(params, COUNTS), LOSSES.build("ce", class_counts=COUNTS)
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    y = torch.tensor([0, 1, 2, 3, 4, 0, 0, 1])
    mix.set_epoch(0)
    assert mix.active
    pair = mix.draw(8, torch.Generator().manual_seed(10), "cpu")
    pair = dataclasses.replace(pair, perm=pair.perm.to("cpu"))
    logits = model(x, mix.point, lambda h: mix.mix(h, pair))
    value = mix.mixed_loss(loss, logits, y, pair)
    value.backward()
    assert torch.isfinite(value) and model.stem[0].weight.grad is not None
