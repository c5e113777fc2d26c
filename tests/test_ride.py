"""RIDE (Wang et al. 2021): the multi-expert ResNet-32 and the RIDE loss against its definition."""

import copy
import functools
import math

import pytest
import torch

from imbalance_baselines.losses import LOSSES, MixPair, MixUp
from imbalance_baselines.losses.ride import RIDELoss, diversity_temperatures
from imbalance_baselines.models import MIX_POINTS, MODELS

# --- the model ------------------------------------------------------------------------------------

# Parameters counted by hand (3x3 convolutions without bias, BatchNorm 2 per channel):
SHARED = 3 * 16 * 9 + 2 * 16 + 5 * (2 * 16 * 16 * 9 + 2 * 2 * 16)           # stem + stage 1 (16)
STAGE2 = (16 * 24 * 9 + 24 * 24 * 9 + 2 * 2 * 24) + 4 * (2 * 24 * 24 * 9 + 2 * 2 * 24)  # 24 ch.
STAGE3 = (24 * 48 * 9 + 48 * 48 * 9 + 2 * 2 * 48) + 4 * (2 * 48 * 48 * 9 + 2 * 2 * 48)  # 48 ch.


def trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("experts", [1, 2, 3])
def test_parameter_count_is_one_shared_trunk_plus_k_experts(experts):
    model = MODELS.build("ride_resnet32", num_classes=100, num_experts=experts)
    assert (SHARED, STAGE2, STAGE3) == (23824, 50592, 197952)
    assert trainable(model) == SHARED + experts * (STAGE2 + STAGE3 + 48 * 100)  # cosine heads, no bias
    assert sum(p.numel() for n, p in model.named_parameters() if n.startswith(("stem", "stage1"))) == SHARED


def test_default_is_three_experts_with_the_expected_shapes():
    model = MODELS.build("ride_resnet32", num_classes=7).eval()
    x = torch.randn(2, 3, 32, 32)
    logits = model(x)
    assert model.num_experts == 3 and model.feature_dim == 3 * 48
    assert logits.shape == (2, 7) and model.expert_logits.shape == (2, 3, 7)
    assert model.features(x).shape == (2, 144)
    torch.testing.assert_close(logits, model.expert_logits.mean(dim=1))
    torch.testing.assert_close(model.classifier(model.features(x)), logits)


def test_cosine_heads_start_at_unit_norm_and_scale_30():
    model = MODELS.build("ride_resnet32", num_classes=5).eval()
    for head in model.classifier.heads:
        torch.testing.assert_close(head.weight.norm(dim=1), torch.ones(5))
        assert float(head.scale) == 30.0
    model(torch.randn(4, 3, 32, 32))
    assert model.expert_logits.abs().max() <= 30.0 + 1e-4


def test_the_shared_trunk_is_one_parameter_set_used_by_every_expert():
    model = MODELS.build("ride_resnet32", num_classes=4).eval()
    x = torch.randn(2, 3, 32, 32)
    model(x)
    model.expert_logits[:, 1].sum().backward()  # one expert's output reaches the shared trunk ...
    assert model.stage1[0].conv1.weight.grad.abs().sum() > 0
    # ... but not another expert (zero gradients through the stack of expert logits).
    assert all(p.grad is None or not p.grad.any() for p in model.experts[0].parameters())
    before = model.expert_logits.detach().clone()
    with torch.no_grad():
        model.stage1[0].conv1.weight.mul_(2)
    model(x)
    assert all(not torch.allclose(model.expert_logits[:, k], before[:, k]) for k in range(3))


def test_a_model_after_a_training_forward_can_be_copied():
    model = MODELS.build("ride_resnet32", num_classes=4, num_experts=2)
    model(torch.randn(2, 3, 32, 32))
    assert model.expert_logits.grad_fn is not None
    twin = copy.deepcopy(model)
    assert twin.expert_logits is None and model.expert_logits is not None
    for a, b in zip(model.state_dict().values(), twin.state_dict().values()):
        assert torch.equal(a, b)


def test_mix_points_and_number_of_experts_are_checked():
    model = MODELS.build("ride_resnet32", num_classes=4, num_experts=2).eval()
    x = torch.randn(2, 3, 32, 32)
    calls_per_point = {"input": 1, "stem": 1, "stage1": 1, "stage2": 2, "stage3": 2, "pool": 1}
    assert set(calls_per_point) == set(MIX_POINTS)
    for point, calls in calls_per_point.items():
        seen = []
        model(x, point, lambda h: (seen.append(tuple(h.shape)), h)[1])
        assert len(seen) == calls, point
    with pytest.raises(ValueError, match="mix_point='layer9'"):
        model(x, "layer9", lambda h: h)
    with pytest.raises(ValueError, match="num_experts=0 is out of range"):
        MODELS.build("ride_resnet32", num_classes=4, num_experts=0)


# --- the loss -------------------------------------------------------------------------------------

COUNTS = [16, 1, 81]  # n^(-1/4) = 1/2, 1, 1/3: margins 0.5 * that / 1 = [1/4, 1/2, 1/6]


def softmax(v):
    e = [math.exp(a) for a in v]
    return [a / sum(e) for a in e]


def ride_by_hand(experts, target, *, scale, factor, temperatures, weights=None):
    """sum_k [LDAM(z_k) + factor * mean(T)^2 * KL(softmax(z_bar/T) || softmax(z_k/T))], batchmean."""
    margins = [scale * m for m in (0.25, 0.5, 1 / 6)]
    batch, classes = len(target), len(COUNTS)
    mean = [[sum(e[i][c] for e in experts) / len(experts) for c in range(classes)] for i in range(batch)]
    t_mean = sum(temperatures) / classes
    total = 0.0
    for z in experts:
        losses = []
        for i, y in enumerate(target):
            lowered = [z[i][c] - (margins[c] if c == y else 0.0) for c in range(classes)]
            losses.append(-math.log(softmax(lowered)[y]))
        if weights is None:
            total += sum(losses) / batch
        else:
            w = [weights[y] for y in target]
            total += sum(a * b for a, b in zip(w, losses)) / sum(w)
        kl = 0.0
        for i in range(batch):
            p = softmax([mean[i][c] / temperatures[c] for c in range(classes)])
            q = softmax([z[i][c] / temperatures[c] for c in range(classes)])
            kl += sum(pc * math.log(pc / qc) for pc, qc in zip(p, q))
        total += factor * t_mean ** 2 * kl / batch
    return total


EXPERTS = [[[1.0, 0.0, -1.0], [0.5, 0.5, 0.0]],
           [[0.0, 1.0, 0.0], [-0.5, 0.0, 1.5]]]
TARGET = [0, 2]


def loss_of(loss, experts=EXPERTS, target=TARGET):
    e = torch.tensor(experts, dtype=torch.float32).transpose(0, 1)  # [B, K, C]
    return loss(e.mean(dim=1), torch.tensor(target), expert_logits=e)


def test_before_reweighting_two_experts_three_classes_by_hand():
    loss = LOSSES.build("ride", class_counts=COUNTS, drw_epoch=5, scale=2.0, diversity_factor=-0.45,
                        temperature=2.0)
    loss.set_epoch(4)
    expected = ride_by_hand(EXPERTS, TARGET, scale=2.0, factor=-0.45, temperatures=[2.0, 2.0, 2.0])
    assert float(loss_of(loss)) == pytest.approx(expected, rel=1e-6)


def test_after_reweighting_by_hand():
    beta, r = 0.5, 0.5
    loss = LOSSES.build("ride", class_counts=COUNTS, drw_epoch=5, beta=beta, scale=2.0,
                        diversity_factor=-0.45, temperature=2.0, reweight_factor=r)
    loss.set_epoch(5)
    inverse = [(1 - beta) / (1 - beta ** n) for n in COUNTS]
    weights = [3 * w / sum(inverse) for w in inverse]  # Cui et al.: sum to C
    v = [3 * (n / sum(COUNTS)) * r + 1 - r for n in COUNTS]
    temperatures = [2.0 * a / max(v) for a in v]
    expected = ride_by_hand(EXPERTS, TARGET, scale=2.0, factor=-0.45, temperatures=temperatures,
                            weights=weights)
    assert float(loss_of(loss)) == pytest.approx(expected, rel=1e-6)
    torch.testing.assert_close(diversity_temperatures(COUNTS, r), torch.tensor(v) / max(v))


def test_identical_experts_have_no_diversity_term():
    same = [EXPERTS[0], EXPERTS[0], EXPERTS[0]]
    with_diversity = LOSSES.build("ride", class_counts=COUNTS, scale=2.0)
    without = LOSSES.build("ride", class_counts=COUNTS, scale=2.0, diversity_factor=0.0)
    for epoch in (0, 160):  # both phases
        with_diversity.set_epoch(epoch)
        without.set_epoch(epoch)
        torch.testing.assert_close(loss_of(with_diversity, same), loss_of(without, same))
    # ... so the loss is K times one expert's LDAM-DRW term.
    one = ride_by_hand([EXPERTS[0]], TARGET, scale=2.0, factor=0.0, temperatures=[1.0] * 3,
                       weights=[float(w) for w in with_diversity.drw_weights])
    assert float(loss_of(with_diversity, same)) == pytest.approx(3 * one, rel=1e-6)


def test_diversity_rewards_experts_that_differ_from_the_ensemble():
    loss = LOSSES.build("ride", class_counts=COUNTS, scale=2.0)
    plain = LOSSES.build("ride", class_counts=COUNTS, scale=2.0, diversity_factor=0.0)
    assert float(loss_of(loss)) < float(loss_of(plain))  # KL > 0 and the factor is negative


def test_gradients_do_not_flow_through_the_ensemble_target():
    e = torch.tensor(EXPERTS, dtype=torch.float32).transpose(0, 1).requires_grad_(True)
    mean = e.detach().mean(dim=1).requires_grad_(True)  # the ensemble as its own leaf
    LOSSES.build("ride", class_counts=COUNTS)(mean, torch.tensor(TARGET), expert_logits=e).backward()
    assert mean.grad is None and e.grad.abs().sum() > 0


def test_phase_key_switches_at_the_drw_epoch_and_defaults_are_the_cifar100_config():
    loss = LOSSES.build("ride", class_counts=COUNTS)
    assert isinstance(loss, RIDELoss) and loss.drw_epoch == 160 and loss.needs_expert_logits
    assert (loss.diversity_factor, loss.temperature, loss.scale, loss.max_margin) == (-0.45, 1.0, 30.0, 0.5)
    assert loss.phase_key(159) != loss.phase_key(160) == loss.phase_key(199)
    assert loss.phase_key(0) != LOSSES.build("ride", class_counts=COUNTS, drw_epoch=100).phase_key(0)


def test_works_through_mixup_with_the_expert_logits_bound():
    loss = LOSSES.build("ride", class_counts=COUNTS, scale=2.0)
    e = torch.tensor(EXPERTS, dtype=torch.float32).transpose(0, 1)
    pair = MixPair(0.25, torch.tensor([1, 0]))
    bound = functools.partial(loss, expert_logits=e)
    mixed = MixUp(alpha=1.0).mixed_loss(bound, e.mean(dim=1), torch.tensor(TARGET), pair)
    swapped = [TARGET[1], TARGET[0]]
    expected = 0.25 * float(loss_of(loss)) + 0.75 * float(loss_of(loss, target=swapped))
    assert float(mixed) == pytest.approx(expected, rel=1e-6)


def test_bad_calls_and_parameters_are_one_line_errors():
    loss = LOSSES.build("ride", class_counts=COUNTS)
    logits, target = torch.zeros(2, 3), torch.tensor(TARGET)
    with pytest.raises(ValueError, match=r"^ride: expert_logits of shape None; allowed: .*\[2, K, 3\]"):
        loss(logits, target)
    with pytest.raises(ValueError, match=r"expert_logits of shape \(2, 3\)"):
        loss(logits, target, expert_logits=logits)
    for params, message in [({"diversity_factor": float("nan")}, "diversity_factor=nan"),
                            ({"temperature": 0}, "temperature=0"),
                            ({"reweight_factor": 1.5}, "reweight_factor=1.5"),
                            ({"beta": 1.0}, "beta=1.0"), ({"drw_epoch": -1}, "drw_epoch=-1"),
                            ({"max_margin": 0}, "max_margin=0")]:
        with pytest.raises(ValueError, match=f"^ride: {message}"):
            LOSSES.build("ride", class_counts=COUNTS, **params)


def test_model_and_loss_together_train_one_step():
    torch.manual_seed(0)
    model = MODELS.build("ride_resnet32", num_classes=3, num_experts=2)
    loss = LOSSES.build("ride", class_counts=COUNTS)
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 0])
    value = loss(model(x), y, expert_logits=model.expert_logits)
    value.backward()
    assert torch.isfinite(value) and model.experts[1]["stage3"][0].conv1.weight.grad is not None
