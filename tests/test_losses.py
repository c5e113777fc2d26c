"""Losses against independent values: hand-written formulas, torch/torchvision references.

The expected values are computed here from the definitions in SPEC section 3 (in float64 where the
formula is written out), never by calling the loss code a second way.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision

from imbalance_baselines.losses import LOSSES, DeferredReweighting, Loss, SigmoidFocal
from imbalance_baselines.registry import UnknownNameError

CIFAR10_LT_100 = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
# Losses of (logits, labels) alone; RIDE's also takes its experts' logits (tests/test_ride.py).
PLAIN = [n for n in LOSSES.names() if not getattr(LOSSES.build(n, class_counts=CIFAR10_LT_100),
                                                  "needs_expert_logits", False)]
SIGMOID_LOSSES = {"sigmoid_ce", "focal", "cb_sigmoid", "cb_focal"}


def batch(B: int = 16, C: int = 10, seed: int = 0, scale: float = 3.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, C, generator=g) * scale, torch.randint(0, C, (B,), generator=g)


def build(name: str, counts=CIFAR10_LT_100, **params) -> Loss:
    return LOSSES.build(name, class_counts=counts, **params)


def cb_weights_by_hand(counts, beta):
    raw = np.array([(1 - beta) / (1 - beta**n) for n in counts], dtype=np.float64)
    return torch.tensor(len(counts) * raw / raw.sum(), dtype=torch.float32)


def softmax_ce_by_hand(z, y):
    """Per-sample -log softmax(z)_y in float64."""
    z = z.double()
    return -(z.gather(1, y[:, None]).squeeze(1) - z.exp().sum(1).log())


def sigmoid_focal_by_hand(z, y, gamma):
    """Per-sample sum_c -(1 - p_t)^gamma log p_t in float64, p_t as in SPEC section 3."""
    p = 1 / (1 + torch.exp(-z.double()))
    is_true = F.one_hot(y, z.shape[1]).bool()
    p_t = torch.where(is_true, p, 1 - p)
    return (-(1 - p_t) ** gamma * torch.log(p_t)).sum(1)


def close(actual, expected, rtol=1e-5, atol=1e-6):
    torch.testing.assert_close(actual.double(), torch.as_tensor(expected).double(), rtol=rtol, atol=atol)


# -- plain losses ------------------------------------------------------------------------------------
def test_ce_is_sum_of_negative_log_softmax_over_b():
    z, y = batch()
    close(build("ce")(z, y), softmax_ce_by_hand(z, y).sum() / len(y))
    close(build("ce")(z, y), F.cross_entropy(z, y))


def test_sigmoid_ce_is_bce_on_one_hot_summed_over_classes_over_b():
    z, y = batch()
    expected = F.binary_cross_entropy_with_logits(z, F.one_hot(y, 10).float(), reduction="sum") / len(y)
    close(build("sigmoid_ce")(z, y), expected)


def test_focal_with_gamma_zero_is_sigmoid_ce():
    z, y = batch()
    assert torch.equal(build("focal", gamma=0.0)(z, y), build("sigmoid_ce")(z, y))


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0])
def test_sigmoid_focal_matches_hand_formula_and_torchvision(gamma):
    z, y = batch(seed=1)
    loss = build("focal", gamma=gamma)(z, y)
    close(loss, sigmoid_focal_by_hand(z, y, gamma).sum() / len(y))
    reference = torchvision.ops.sigmoid_focal_loss(z, F.one_hot(y, 10).float(), alpha=-1,
                                                   gamma=gamma, reduction="sum") / len(y)
    close(loss, reference)


def test_softmax_focal_with_gamma_zero_is_cross_entropy():
    z, y = batch()
    close(build("softmax_focal", gamma=0.0)(z, y), F.cross_entropy(z, y), rtol=1e-6, atol=0)


def test_softmax_focal_matches_hand_formula():
    z, y = batch(seed=2)
    p_y = torch.softmax(z.double(), 1).gather(1, y[:, None]).squeeze(1)
    expected = (-(1 - p_y) ** 2.0 * torch.log(p_y)).mean()
    close(build("softmax_focal", gamma=2.0)(z, y), expected)


@pytest.mark.parametrize("name", ["softmax_focal", "focal"])
def test_focal_gradients_stay_finite_when_the_true_class_is_certain(name):
    z = torch.tensor([[60.0, -60.0, 0.0], [0.0, 0.0, 0.0]], requires_grad=True)  # p_y rounds to 1
    loss = build(name, counts=[5, 3, 2], gamma=0.5)(z, torch.tensor([0, 1]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()


# -- class-weighted losses ---------------------------------------------------------------------------
COUNTS3 = [100, 10, 1]
Z3 = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 1.0, 0.0], [3.0, -2.0, 1.5]])
Y3 = torch.tensor([0, 1, 2, 2])


@pytest.mark.parametrize("name, per_sample", [
    ("cb_ce", lambda z, y: softmax_ce_by_hand(z, y)),
    ("cb_sigmoid", lambda z, y: sigmoid_focal_by_hand(z, y, 0.0)),
    ("cb_focal", lambda z, y: sigmoid_focal_by_hand(z, y, 2.0)),
])
def test_class_balanced_losses_weight_each_sample_and_divide_by_b(name, per_sample):
    params = {"gamma": 2.0} if name == "cb_focal" else {}
    w = cb_weights_by_hand(COUNTS3, 0.9).double()
    expected = (w[Y3] * per_sample(Z3, Y3)).sum() / 4
    close(build(name, counts=COUNTS3, beta=0.9, **params)(Z3, Y3), expected)


def test_cost_sensitive_ce_is_weighted_mean_with_min_n_over_n():
    expected = F.cross_entropy(Z3, Y3, weight=torch.tensor([0.01, 0.1, 1.0]))
    close(build("cost_sensitive_ce", counts=COUNTS3)(Z3, Y3), expected)


# -- margins and logit adjustment ----------------------------------------------------------------------
def test_ldam_is_cross_entropy_on_scaled_margin_shifted_logits():
    z, y = batch(B=12, C=2, seed=3, scale=0.5)
    m = torch.tensor([0.5 * (50 / 5000) ** 0.25, 0.5])
    expected = F.cross_entropy(30 * (z - m[y][:, None] * F.one_hot(y, 2)), y)
    close(build("ldam", counts=[5000, 50])(z, y), expected)
    expected = F.cross_entropy(10 * (z - 2 * m[y][:, None] * F.one_hot(y, 2)), y)
    close(build("ldam", counts=[5000, 50], max_margin=1.0, scale=10.0)(z, y), expected)


def test_balanced_softmax_is_cross_entropy_on_logits_plus_log_prior():
    z, y = batch()
    prior = torch.tensor(CIFAR10_LT_100, dtype=torch.float64) / sum(CIFAR10_LT_100)
    close(build("balanced_softmax")(z, y), F.cross_entropy(z.double() + prior.log(), y))


def test_logit_adjusted_interpolates_between_ce_and_balanced_softmax():
    z, y = batch()
    assert torch.equal(build("logit_adjusted", tau=0.0)(z, y), build("ce")(z, y))
    assert torch.equal(build("logit_adjusted", tau=1.0)(z, y), build("balanced_softmax")(z, y))
    prior = torch.tensor(CIFAR10_LT_100, dtype=torch.float64) / sum(CIFAR10_LT_100)
    close(build("logit_adjusted", tau=2.0)(z, y), F.cross_entropy(z.double() + 2 * prior.log(), y))


def test_posthoc_logit_adjustment_moves_the_prediction_to_the_tail():
    from imbalance_baselines.losses import posthoc_logit_adjustment

    z = torch.tensor([[2.0, 0.0]])  # head class ahead by 2; the tail is 100x rarer (log 100 = 4.6)
    adjusted = posthoc_logit_adjustment(z, [5000, 50])
    assert z.argmax(1).item() == 0 and adjusted.argmax(1).item() == 1
    close(adjusted, [[2.0 - math.log(5000 / 5050), -math.log(50 / 5050)]])
    assert torch.equal(posthoc_logit_adjustment(z, [5000, 50], tau=0.0), z)


# -- deferred re-weighting --------------------------------------------------------------------------
@pytest.mark.parametrize("name, plain, reference", [
    ("ce_drw", "ce", lambda z, y, w: F.cross_entropy(z, y, weight=w)),
    ("ldam_drw", "ldam", lambda z, y, w: F.cross_entropy(
        30 * (z - torch.tensor(CIFAR10_LT_100, dtype=torch.float32)[y][:, None] ** -0.25
              * (0.5 / 50**-0.25) * F.one_hot(y, 10)), y, weight=w)),
])
def test_drw_is_plain_loss_then_class_balanced_weighted_mean(name, plain, reference):
    z, y = batch(B=64, seed=4, scale=0.3)
    drw, base = build(name), build(plain)
    w = cb_weights_by_hand(CIFAR10_LT_100, 0.9999)
    for epoch in (0, 159, 160, 199, 10):  # the last one: resuming at an earlier epoch
        drw.set_epoch(epoch)
        if epoch < 160:
            assert torch.equal(drw(z, y), base(z, y))
        else:
            close(drw(z, y), reference(z, y, w))
            assert not torch.allclose(drw(z, y), base(z, y))
    keys = [(e, drw.phase_key(e) == base.phase_key(e)) for e in range(200)]
    assert keys == [(e, e < 160) for e in range(200)]
    assert len({drw.phase_key(e) for e in range(160, 200)}) == 1


def test_drw_epoch_and_beta_are_parameters():
    z, y = batch(seed=5)
    drw = build("ce_drw", drw_epoch=3, beta=0.99)
    drw.set_epoch(2)
    assert torch.equal(drw(z, y), build("ce")(z, y))
    drw.set_epoch(3)
    close(drw(z, y), F.cross_entropy(z, y, weight=cb_weights_by_hand(CIFAR10_LT_100, 0.99)))


def test_drw_applies_to_any_unweighted_loss():
    z, y = batch(seed=6)
    drw = DeferredReweighting(SigmoidFocal("focal_drw", CIFAR10_LT_100, gamma=2.0), 1, 0.999)
    drw.set_epoch(1)
    w = cb_weights_by_hand(CIFAR10_LT_100, 0.999).double()[y]
    close(drw(z, y), (w * sigmoid_focal_by_hand(z, y, 2.0)).sum() / w.sum())
    assert drw.classifier_bias_init() == pytest.approx(-math.log(9))


def test_drw_refuses_an_already_weighted_loss():
    with pytest.raises(ValueError, match="already weighted"):
        DeferredReweighting(build("cb_ce"), 5, 0.9)


# -- the common interface ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", PLAIN)
def test_every_loss_is_a_finite_float32_scalar_with_finite_gradients(name):
    loss = build(name)
    assert isinstance(loss, Loss)
    z, y = batch(seed=7)
    z.requires_grad_(True)
    for epoch in (0, 170):
        loss.set_epoch(epoch)
        value = loss(z, y)
        (grad,) = torch.autograd.grad(value, z)
        assert value.shape == () and value.dtype == torch.float32
        assert torch.isfinite(value) and torch.isfinite(grad).all()
        assert isinstance(loss.phase_key(epoch), str)


@pytest.mark.parametrize("name", PLAIN)
def test_bf16_logits_are_computed_in_float32(name):
    loss = build(name)
    z, y = batch(seed=8)
    z16 = z.bfloat16()
    value = loss(z16, y)
    assert value.dtype == torch.float32 and torch.equal(value, loss(z16.float(), y))


@pytest.mark.parametrize("name", PLAIN)
def test_classifier_bias_init_only_for_sigmoid_losses(name):
    expected = -math.log(9) if name in SIGMOID_LOSSES else None  # -log((1 - pi)/pi), pi = 1/10
    assert build(name).classifier_bias_init() == (pytest.approx(expected) if expected else None)


def test_class_statistics_are_buffers_that_move_with_the_module():
    for name, buffer in [("cb_ce", "class_weights"), ("ldam_drw", "inner.margins"),
                         ("ldam_drw", "class_weights"), ("balanced_softmax", "log_prior")]:
        loss = build(name).to("meta")
        assert dict(loss.named_buffers())[buffer].device.type == "meta"
        assert buffer not in loss.state_dict()  # derived from the counts: not checkpointed


def test_equal_phase_keys_mean_equal_values():
    """Runs share a model while their phase keys are equal, so equal keys must mean equal losses."""
    z, y = batch(seed=9)
    configs = [(name, {}, epoch) for name in PLAIN for epoch in (0, 160)] + [
        ("focal", {"gamma": 0.0}, 0), ("softmax_focal", {"gamma": 0.0}, 0),
        ("logit_adjusted", {"tau": 1.0}, 0), ("logit_adjusted", {"tau": 0.5}, 0),
        ("cb_ce", {"beta": 0.99}, 0), ("cb_focal", {"gamma": 1.0}, 0), ("ldam", {"scale": 10.0}, 0),
        ("ce_drw", {"drw_epoch": 10}, 20), ("ldam_drw", {"beta": 0.999}, 170)]
    values: dict[str, torch.Tensor] = {}
    for name, params, epoch in configs:
        loss = build(name, **params)
        loss.set_epoch(epoch)
        key, value = loss.phase_key(epoch), loss(z, y)
        if key in values:
            assert torch.equal(values[key], value), (name, params, epoch, key)
        values[key] = value
    assert build("ce").phase_key(0) == build("ce_drw").phase_key(0)  # DRW before its switch is CE
    assert build("ce").phase_key(160) != build("ce_drw").phase_key(160)


def test_phase_keys_come_from_the_constructor_arguments():
    """A loss's key is its class and constructor arguments: any changed argument, or another class
    with the same arguments, gives another key; the display name does not enter."""
    from imbalance_baselines.losses.softmax import SoftmaxCrossEntropy, SoftmaxFocal

    class NewLoss(SoftmaxCrossEntropy):  # a loss added without writing any key of its own
        def __init__(self, name: str, class_counts: list[int], scale: float) -> None:
            super().__init__(name, class_counts)
            self.scale = scale

        def per_sample(self, logits, target):
            return super().per_sample(self.scale * logits, target)

    counts = CIFAR10_LT_100
    assert NewLoss("a", counts, 2.0).phase_key(0) != NewLoss("a", counts, 3.0).phase_key(0)
    assert NewLoss("a", counts, 1.0).phase_key(0) != SoftmaxCrossEntropy("a", counts).phase_key(0)
    assert NewLoss("a", counts, 2.0).phase_key(0) == NewLoss("b", counts, 2.0).phase_key(0)
    assert SoftmaxFocal("f", counts, 1.0).phase_key(0) != SoftmaxFocal("f", counts, 2.0).phase_key(0)


def test_count_dependent_phase_keys_depend_on_the_counts():
    other = CIFAR10_LT_100[:-1] + [40]
    for name in ("balanced_softmax", "ldam", "cb_ce", "cost_sensitive_ce", "ce"):
        assert build(name).phase_key(0) != build(name, counts=other).phase_key(0)


# -- validation ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, params, param", [
    ("cb_focal", {"beta": 1.2}, "beta"),
    ("cb_ce", {"beta": -0.1}, "beta"),
    ("cb_sigmoid", {"beta": 1.0}, "beta"),
    ("focal", {"gamma": -1.0}, "gamma"),
    ("softmax_focal", {"gamma": float("nan")}, "gamma"),
    ("cb_focal", {"gamma": "2"}, "gamma"),
    ("logit_adjusted", {"tau": -0.5}, "tau"),
    ("ldam", {"max_margin": 0.0}, "max_margin"),
    ("ldam", {"scale": -30.0}, "scale"),
    ("ce_drw", {"drw_epoch": -1}, "drw_epoch"),
    ("ldam_drw", {"drw_epoch": 1.5}, "drw_epoch"),
    ("ce_drw", {"beta": 1.0}, "beta"),
    ("ce", {"class_counts": [10, 0]}, "class_counts[1]"),
    ("ldam", {"class_counts": [10, 2.5]}, "class_counts[1]"),
    ("balanced_softmax", {"class_counts": [10]}, "class_counts"),
])
def test_bad_parameters_raise_one_line_naming_loss_parameter_and_value(name, params, param):
    params = {"class_counts": CIFAR10_LT_100, **params}
    with pytest.raises(ValueError) as error:
        LOSSES.build(name, **params)
    message = str(error.value)
    assert message.startswith(f"{name}: {param}=") and "allowed:" in message and "\n" not in message


def test_error_message_format():
    with pytest.raises(ValueError, match=r"^cb_focal: beta=1\.2 is out of range; allowed: 0 <= beta < 1$"):
        build("cb_focal", beta=1.2)


def test_batch_shape_mismatch_raises_clearly():
    loss = build("ce")
    with pytest.raises(ValueError, match=r"ce: logits of shape \(4, 3\).*class_counts \(10 classes\)"):
        loss(torch.zeros(4, 3), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError, match="ce: target .*int32.*allowed: int64"):
        loss(torch.zeros(4, 10), torch.zeros(4, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"ce: target of shape \(5,\)"):
        loss(torch.zeros(4, 10), torch.zeros(5, dtype=torch.int64))


def test_unknown_loss_name_lists_the_allowed_names():
    with pytest.raises(UnknownNameError, match="unknown loss 'cb_facal'.*allowed: .*cb_focal.*ldam_drw"):
        LOSSES.build("cb_facal", class_counts=CIFAR10_LT_100)
