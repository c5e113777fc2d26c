"""Weight balancing's stage 2 (Alshammari et al. 2022): the MaxNorm projection, the code's relative
radius and class-balanced loss, and the registered stage-2 method on a small frozen backbone."""

import math

import pytest
import torch
from torch import nn

from imbalance_baselines.data.synthetic import make_synthetic_lt
from imbalance_baselines.models import MODELS
from imbalance_baselines.stage2 import TWO_STAGE, FrozenBackbone, check_stage2, method_parameters
from imbalance_baselines.stage2.maxnorm import MaxNorm, class_balanced_loss, relative_radius


def linear_with(weight: list[list[float]]) -> nn.Linear:
    layer = nn.Linear(len(weight[0]), len(weight))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight))
    return layer


def test_projection_of_a_hand_picked_matrix():
    layer = linear_with([[3.0, 4.0], [0.0, 1.0], [6.0, 8.0], [0.0, -2.0]])  # norms 5, 1, 10, 2
    bias = layer.bias.detach().clone()
    MaxNorm(2.0)(layer)
    expected = torch.tensor([[1.2, 1.6], [0.0, 1.0], [1.2, 1.6], [0.0, -2.0]])
    torch.testing.assert_close(layer.weight.detach(), expected, rtol=0, atol=1e-7)
    assert torch.equal(layer.weight[1], torch.tensor([0.0, 1.0]))  # inside: bit for bit unchanged
    assert torch.equal(layer.weight[3], torch.tensor([0.0, -2.0]))  # on the sphere: unchanged
    assert torch.equal(layer.bias, bias)  # the bias is not constrained


@pytest.mark.parametrize("seed", range(5))
def test_projection_caps_norms_keeps_directions_and_is_idempotent(seed):
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(7, 5, generator=generator) * torch.rand(7, 1, generator=generator) * 4
    layer = linear_with(weight.tolist())
    threshold = float(weight.norm(dim=1).median())
    MaxNorm(threshold)(layer)
    after = layer.weight.detach()
    torch.testing.assert_close(after.norm(dim=1), weight.norm(dim=1).clamp(max=threshold))
    torch.testing.assert_close(nn.functional.cosine_similarity(after, weight, dim=1), torch.ones(7))
    once = after.clone()
    MaxNorm(threshold)(layer)
    torch.testing.assert_close(layer.weight.detach(), once)  # up to rounding of the norm


def test_every_class_vector_stays_in_the_ball_after_every_step():
    torch.manual_seed(0)
    layer = nn.Linear(6, 4)
    optimizer = torch.optim.SGD(layer.parameters(), lr=5.0, momentum=0.9)
    MaxNorm(0.3).after_every_step(optimizer, layer)
    x, y = torch.randn(16, 6), torch.randint(0, 4, (16,))
    for _ in range(5):
        optimizer.zero_grad()
        nn.functional.cross_entropy(layer(x), y).backward()
        optimizer.step()
        assert (layer.weight.detach().norm(dim=1) <= 0.3 * (1 + 1e-6)).all()


@pytest.mark.parametrize("threshold", [0, -1.0, float("nan"), "1"])
def test_threshold_must_be_positive(threshold):
    with pytest.raises(ValueError, match=r"^MaxNorm: threshold=.*; allowed: threshold > 0$"):
        MaxNorm(threshold)


def test_relative_radius_is_the_codes_per_layer_threshold():
    weight = torch.tensor([[3.0, 4.0], [0.0, 1.0], [6.0, 8.0]])  # norms 5, 1, 10
    assert relative_radius(weight, 0.1) == pytest.approx(1.0 + 0.1 * (10.0 - 1.0))
    assert relative_radius(weight, 1.0) == pytest.approx(10.0)


def test_class_balanced_losses_by_hand():
    logits = torch.tensor([[0.0, 0.0, 0.0], [math.log(2.0), 0.0, 0.0]])
    target, weights = torch.tensor([0, 2]), torch.tensor([0.5, 1.0, 1.5])
    # softmax rows: [1/3, 1/3, 1/3] and [1/2, 1/4, 1/4]
    bce_rows = [math.log(3) + 2 * -math.log(2 / 3), -math.log(1 / 2) - math.log(3 / 4) - math.log(1 / 4)]
    expected_bce = (0.5 * bce_rows[0] + 1.5 * bce_rows[1]) / (2 * 3)  # mean over B x C entries
    expected_ce = (0.5 * math.log(3) + 1.5 * math.log(4)) / 2  # sum w CE / B
    assert float(class_balanced_loss(logits, target, weights, "cb_softmax_bce")) == pytest.approx(expected_bce)
    assert float(class_balanced_loss(logits, target, weights, "cb_ce")) == pytest.approx(expected_ce)


@pytest.fixture(scope="module")
def backbone():
    data = make_synthetic_lt(num_classes=4, n_max=24, imbalance_factor=6, val_per_class=2,
                             test_per_class=4, seed=3)
    torch.manual_seed(0)
    return FrozenBackbone(MODELS.build("resnet8", num_classes=4), data)


def test_stage2_method_trains_the_stage1_classifier_inside_the_ball(backbone):
    before = {k: v.clone() for k, v in backbone.model.state_dict().items()}
    method = TWO_STAGE.get("MaxNorm")
    head, info = method(backbone, 0, epochs=2, lr=0.05)
    stage1 = backbone.model.classifier.weight.detach()
    assert info["radius"] == pytest.approx(relative_radius(stage1, 0.1))
    assert isinstance(head, nn.Linear) and not head.training
    assert (head.weight.detach().norm(dim=1) <= info["radius"] * (1 + 1e-6)).all()
    assert not torch.equal(head.weight.detach(), stage1)
    assert {k: info[k] for k in ("epochs", "lr", "weight_decay", "threshold", "beta", "loss")} == {
        "epochs": 2, "lr": 0.05, "weight_decay": 0.1, "threshold": 0.1, "beta": 0.9999,
        "loss": "cb_softmax_bce"}
    for key, value in before.items():  # the backbone and its classifier are untouched
        assert torch.equal(value, backbone.model.state_dict()[key]), key
    logits = head(backbone.features("test"))
    assert logits.shape == (len(backbone.data.test), 4) and torch.isfinite(logits).all()
    cb_ce, _ = method(backbone, 0, epochs=1, loss="cb_ce")
    assert isinstance(cb_ce, nn.Linear)


def test_stage2_parameters_are_checked(backbone):
    assert method_parameters("MaxNorm") == {"epochs": 10, "lr": 0.01, "weight_decay": 0.1,
                                            "threshold": 0.1, "beta": 0.9999, "loss": "cb_softmax_bce"}
    check_stage2("MaxNorm", {"threshold": 0.2, "beta": 0.0, "loss": "cb_ce"}, 4)
    for params, message in [({"threshold": 0}, "MaxNorm.threshold=0 is out of range"),
                            ({"beta": 1.0}, "MaxNorm.beta=1.0 is out of range"),
                            ({"loss": "focal"}, "MaxNorm.loss='focal' is out of range")]:
        with pytest.raises(ValueError, match=message):
            check_stage2("MaxNorm", params, 4)
    with pytest.raises(ValueError, match="MaxNorm: loss='focal'"):
        TWO_STAGE.get("MaxNorm")(backbone, 0, loss="focal")


def test_a_cosine_classifier_is_refused():
    data = make_synthetic_lt(num_classes=3, n_max=8, imbalance_factor=2, val_per_class=0,
                             test_per_class=2, seed=1)
    cosine = FrozenBackbone(MODELS.build("resnet8", num_classes=3, head="cosine"), data)
    with pytest.raises(ValueError, match="MaxNorm: the stage-1 classifier is CosineClassifier"):
        TWO_STAGE.get("MaxNorm")(cosine, 0, epochs=1)
