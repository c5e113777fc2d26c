"""SAM (Foret et al. 2021) and ASAM (Kwon et al. 2021) against their update rules computed by hand:
e = rho g / ||g|| (global norm), gradient at w + e, base step from w."""

import math

import pytest
import torch
from torch import nn
from torch.func import functional_call

from imbalance_baselines.models import MODELS
from imbalance_baselines.optim import OPTIMIZERS, SAM

RHO, LR = 0.3, 0.1


def tiny_mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()


def batch(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(5, 3, generator=generator, dtype=torch.float64), torch.tensor([0, 1, 1, 0, 1])


def loss_at(model: nn.Module, params: dict[str, torch.Tensor], x, y) -> torch.Tensor:
    return nn.functional.cross_entropy(functional_call(model, params, (x,)), y)


def grads_at(model, params, x, y) -> dict[str, torch.Tensor]:
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    values = torch.autograd.grad(loss_at(model, leaves, x, y), list(leaves.values()))
    return dict(zip(leaves, values))


def ascent_gradient(model, params, x, y, rho=RHO, adaptive=False) -> dict[str, torch.Tensor]:
    """g_adv = grad L at w + e(w); e = rho g / ||g|| (SAM) or rho |w|^2 g / || |w| g || (ASAM)."""
    g = grads_at(model, params, x, y)
    scaled = {k: (params[k].abs() * g[k] if adaptive else g[k]) for k in g}
    norm = math.sqrt(sum(float((s ** 2).sum()) for s in scaled.values()))
    e = {k: rho * (params[k].abs() * scaled[k] if adaptive else scaled[k]) / norm for k in g}
    return grads_at(model, {k: params[k] + e[k] for k in params}, x, y)


def sam_step(model: nn.Module, sam: SAM, x, y) -> None:
    sam.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    sam.step(lambda: nn.functional.cross_entropy(model(x), y).backward())


def test_one_step_is_ascent_then_plain_sgd_descent():
    model, (x, y) = tiny_mlp(), batch()
    w = {k: v.detach().clone() for k, v in model.named_parameters()}
    g_adv = ascent_gradient(model, w, x, y)
    sam = SAM(model.parameters(), torch.optim.SGD(model.parameters(), lr=LR), rho=RHO)
    sam_step(model, sam, x, y)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), w[name] - LR * g_adv[name], rtol=0, atol=1e-12)


def test_first_and_second_step_by_hand_equal_step_with_closure():
    (x, y), models = batch(), [tiny_mlp(), tiny_mlp()]
    sams = [SAM(m.parameters(), torch.optim.SGD(m.parameters(), lr=LR), rho=RHO) for m in models]
    sam_step(models[0], sams[0], x, y)
    nn.functional.cross_entropy(models[1](x), y).backward()
    sams[1].first_step()
    sams[1].zero_grad()
    nn.functional.cross_entropy(models[1](x), y).backward()
    sams[1].second_step()
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        assert torch.equal(a, b)
    assert not sams[1].state  # nothing is kept between steps


def test_momentum_and_weight_decay_are_the_base_sgd_step_with_the_ascent_gradient():
    model, reference, (x, y) = tiny_mlp(), tiny_mlp(), batch()

    def groups(m: nn.Module) -> list[dict]:  # weight decay on the weights only, as an engine would
        return [{"params": [m[0].weight, m[2].weight], "weight_decay": 0.1},
                {"params": [m[0].bias, m[2].bias], "weight_decay": 0.0}]

    sam = SAM(model.parameters(), torch.optim.SGD(groups(model), lr=LR, momentum=0.9), rho=RHO)
    sgd = torch.optim.SGD(groups(reference), lr=LR, momentum=0.9)
    for _ in range(3):  # momentum buffers carry over between steps
        w = {k: v.detach().clone() for k, v in reference.named_parameters()}
        g_adv = ascent_gradient(reference, w, x, y)
        for name, p in reference.named_parameters():
            p.grad = g_adv[name]
        sgd.step()
        sam_step(model, sam, x, y)
        for a, b in zip(model.parameters(), reference.parameters()):
            torch.testing.assert_close(a.detach(), b.detach(), rtol=0, atol=1e-12)


def test_adaptive_sam_perturbs_by_the_asam_formula():
    model, (x, y) = tiny_mlp(), batch()
    w = {k: v.detach().clone() for k, v in model.named_parameters()}
    g_adv = ascent_gradient(model, w, x, y, adaptive=True)
    sam = SAM(model.parameters(), torch.optim.SGD(model.parameters(), lr=LR), rho=RHO, adaptive=True)
    sam_step(model, sam, x, y)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), w[name] - LR * g_adv[name], rtol=0, atol=1e-12)
    # And the perturbation differs from plain SAM's.
    plain = ascent_gradient(model, w, x, y)
    assert not torch.allclose(plain["0.weight"], g_adv["0.weight"])


def test_perturbation_has_norm_rho_and_the_weights_come_back():
    model, (x, y) = tiny_mlp(), batch()
    w = [p.detach().clone() for p in model.parameters()]
    sam = SAM(model.parameters(), torch.optim.SGD(model.parameters(), lr=LR), rho=RHO)
    nn.functional.cross_entropy(model(x), y).backward()
    sam.first_step()
    moved = math.sqrt(sum(float(((p.detach() - w0) ** 2).sum()) for p, w0 in zip(model.parameters(), w)))
    assert moved == pytest.approx(RHO, rel=1e-12)
    sam.param_groups[0]["lr"] = 0.0  # a base step of size 0: second_step only restores w
    sam.second_step()
    for p, w0 in zip(model.parameters(), w):
        assert torch.equal(p.detach(), w0)


def test_parameters_without_a_gradient_are_not_perturbed_nor_counted():
    model, (x, y) = tiny_mlp(), batch()
    unused = nn.Parameter(torch.ones(3, dtype=torch.float64))
    frozen = model[0].bias.requires_grad_(False)
    w = {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}
    before_frozen = frozen.detach().clone()

    def loss_without_frozen(params):  # the frozen bias enters as a constant
        return loss_at(model, {**params, "0.bias": before_frozen}, x, y)

    def grads(params):
        leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
        return dict(zip(leaves, torch.autograd.grad(loss_without_frozen(leaves), list(leaves.values()))))

    g = grads(w)
    norm = math.sqrt(sum(float((v ** 2).sum()) for v in g.values()))
    g_adv = grads({k: w[k] + RHO * g[k] / norm for k in w})
    params = [*model.parameters(), unused]
    sam = SAM(params, torch.optim.SGD(params, lr=LR), rho=RHO)
    sam_step(model, sam, x, y)
    assert unused.grad is None and torch.equal(unused.detach(), torch.ones(3, dtype=torch.float64))
    assert torch.equal(frozen, before_frozen)
    for name, p in model.named_parameters():
        if p.requires_grad:
            torch.testing.assert_close(p.detach(), w[name] - LR * g_adv[name], rtol=0, atol=1e-12)


def test_frozen_parameters_outside_the_base_optimizer_are_ignored():
    # As the engine builds it: the optimizer holds only trainable parameters (a cosine head's fixed
    # scale is not among them), SAM is given model.parameters().
    model = MODELS.build("resnet8", num_classes=3, head="cosine", head_params={"scale": 10.0}).double()
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert len(trainable) < len(list(model.parameters()))
    sam = SAM(model.parameters(), torch.optim.SGD(trainable, lr=LR), rho=RHO)
    x, y = torch.randn(4, 3, 32, 32, dtype=torch.float64), torch.tensor([0, 1, 2, 0])
    sam_step(model, sam, x, y)
    assert float(model.classifier.scale) == 10.0


def test_zero_gradient_gives_no_perturbation_and_no_nan():
    layer = nn.Linear(2, 1).double()
    sam = SAM(layer.parameters(), torch.optim.SGD(layer.parameters(), lr=LR), rho=RHO)
    before = [p.detach().clone() for p in layer.parameters()]
    (layer(torch.zeros(1, 2, dtype=torch.float64)) * 0).sum().backward()
    sam.first_step()
    for p, b in zip(layer.parameters(), before):
        assert torch.equal(p.detach(), b)


@pytest.mark.parametrize("rho", [0, -0.1, float("nan"), "0.05", True])
def test_rho_must_be_a_positive_number(rho):
    layer = nn.Linear(2, 1)
    with pytest.raises(ValueError, match=r"^SAM: rho=.*allowed: rho > 0$"):
        SAM(layer.parameters(), torch.optim.SGD(layer.parameters(), lr=LR), rho=rho)


def test_other_arguments_are_checked():
    layer, other = nn.Linear(2, 1), nn.Linear(2, 1)
    sgd = torch.optim.SGD(layer.parameters(), lr=LR)
    with pytest.raises(ValueError, match="SAM: base_optimizer="):
        SAM(layer.parameters(), torch.optim.SGD, rho=0.1)
    with pytest.raises(ValueError, match="subset of base_optimizer's parameters"):
        SAM(other.parameters(), sgd)
    with pytest.raises(ValueError, match="SAM: params holds a non-tensor"):
        SAM([1.0], sgd)
    with pytest.raises(ValueError, match="SAM: adaptive="):
        SAM(layer.parameters(), sgd, adaptive=1)
    with pytest.raises(ValueError, match="SAM: closure=None"):
        SAM(layer.parameters(), sgd).step()


def test_schedulers_checkpoints_and_the_registry_see_the_base_optimizer():
    model, (x, y) = tiny_mlp(), batch()
    sam = OPTIMIZERS.build("sam", params=model.parameters(),
                           base_optimizer=torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9), rho=RHO)
    assert isinstance(sam, torch.optim.Optimizer)
    schedule = torch.optim.lr_scheduler.StepLR(sam, step_size=1, gamma=0.5)
    sam_step(model, sam, x, y)
    schedule.step()
    assert sam.base_optimizer.param_groups[0]["lr"] == pytest.approx(LR / 2)
    saved = sam.state_dict()
    assert saved == sam.base_optimizer.state_dict() and len(saved["state"]) == 4  # momentum buffers
    restored = SAM(model.parameters(), torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9))
    restored.load_state_dict(saved)
    restored.param_groups[0]["lr"] = 0.123
    assert restored.base_optimizer.param_groups[0]["lr"] == 0.123
