"""The 2020-2022 recipes through the engine: SAM's step, per-run augmentation policies, CutMix,
Remix, RIDE, MiSLAS's stage 2 in the store, and their bad settings refused by the schema."""

import copy
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import stored_runs
from imbalance_baselines.data.synthetic import make_synthetic_lt
from imbalance_baselines.study.methods import METHODS
from imbalance_baselines.study.params import notebook_parameters, parse_study
from imbalance_baselines.study.yaml12 import ConfigError
from imbalance_baselines.study.store import Store
from imbalance_baselines.train import engine
from imbalance_baselines.train.distributed import current_world
from imbalance_baselines.train.groups import RunState, initial_groups
from imbalance_baselines.train.sources import make_source
from imbalance_baselines.train.spec import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
CONFIG = TrainConfig(epochs=2, batch_size=16, warmup_epochs=0, milestones=(1,), factors=(0.1,), eval_every=1,
                     precision="fp32", channels_last=False)


@pytest.fixture(scope="module")
def data():
    return make_synthetic_lt(num_classes=3, n_max=32, imbalance_factor=4, val_per_class=2, test_per_class=6, seed=4)


def recipe(name, **hyperparameters):
    return METHODS.get(name).run(CONFIG, 0, hyperparameters, name=name, model="resnet8")


def test_the_engines_sam_step_is_ascent_then_descent_by_hand(data):
    """w' = w - lr * (g(w + rho g / ||g||) + wd * w) for SGD's first step (its momentum buffer is the
    gradient); both passes on the same batch, BatchNorm in training mode as in the engine. In float64:
    the parallel reductions' summation order varies with the machine's load (seen: up to 1.5e-5 in
    fp32, about 1e-9 in float64, amplified by BatchNorm on 16 images), far below the tolerance of 1e-7,
    while SAM's own change to the step (about 1e-2 here) is far above it (checked last)."""
    run = RunState.build(recipe("CE + SAM", sam_rho=0.05), data.train.labels, data.class_counts)
    group = initial_groups([run], data.num_classes, torch.device("cpu"), CONFIG)[0]
    group.model.double()  # the same Parameter objects, so the optimizer still holds them
    for parameter_group in group.optimizer.param_groups:
        parameter_group["lr"] = 0.1
    x, y = data.train.images[:16].double() / 255, data.train.labels[:16]
    reference, first_forward_only = copy.deepcopy(group.model), copy.deepcopy(group.model)
    first_forward_only(x)  # BatchNorm's running statistics after the step's first forward, at w
    parameters = [p for p in reference.parameters() if p.requires_grad]
    g = torch.autograd.grad(F.cross_entropy(reference(x), y), parameters)
    norm = torch.sqrt(sum((gi ** 2).sum() for gi in g))
    start = [p.detach().clone() for p in parameters]
    with torch.no_grad():
        for p, gi in zip(parameters, g):
            p.add_(0.05 * gi / norm)
    g_adv = torch.autograd.grad(F.cross_entropy(reference(x), y), parameters)
    expected = [w - 0.1 * (ga + CONFIG.weight_decay * w) for w, ga in zip(start, g_adv)]
    totals, world = engine._EpochTotals(torch.device("cpu")), current_world(torch.device("cpu"))
    engine._step(group, x, y, 0, totals, torch.Generator().manual_seed(0), "fp32", world)
    plain = [w - 0.1 * (gi + CONFIG.weight_decay * w) for w, gi in zip(start, g)]
    trained = [p.detach() for p in group.model.parameters() if p.requires_grad]
    for actual, wanted in zip(trained, expected):
        torch.testing.assert_close(actual, wanted, rtol=0, atol=1e-7)
    assert max((a - b).abs().max().item() for a, b in zip(trained, plain)) > 1e-4  # SAM is not plain SGD
    # The perturbed forward does not move the running statistics: they are the first forward's,
    # and differ from those two forwards leave (the reference above, w then w + e).
    kept = dict(group.model.named_buffers())
    for name, wanted in first_forward_only.named_buffers():
        torch.testing.assert_close(kept[name], wanted, rtol=0, atol=1e-12)
    twice = dict(reference.named_buffers())
    assert max((kept[n] - twice[n]).abs().max().item() for n in kept if n.endswith("running_mean")) > 1e-6


def test_a_policy_acts_on_the_crops_before_normalisation_and_has_its_own_stream(data):
    cutout = RunState.build(recipe("CE + Cutout", cutout_length=8), data.train.labels, data.class_counts)
    plain = RunState.build(recipe("CE"), data.train.labels, data.class_counts)
    assert cutout.stream_key(0) != plain.stream_key(0) and cutout.phase_key(0) != plain.phase_key(0)
    source = make_source(data, torch.device("cpu"), channels_last=False)
    world = current_world(torch.device("cpu"))
    x, _ = next(source.batches(cutout.sampler, 0, cutout.stream_key(0), 0, 16, world, cutout.policy))
    base, _ = next(source.batches(cutout.sampler, 0, cutout.stream_key(0), 0, 16, world))
    holes = (x != base).any(dim=1)  # [B, H, W]: where the policy changed a pixel
    assert holes.any()
    per_image = holes.flatten(1).sum(1)
    assert (per_image <= 8 * 8).all() and (per_image > 0).any()  # one 8x8 hole at most, clipped at borders
    fill = (torch.tensor(cutout.policy.fill).view(3, 1) * 255).round() / 255
    normalised_fill = (fill - torch.tensor(data.mean).view(3, 1)) / torch.tensor(data.std).view(3, 1)
    changed = x.permute(0, 2, 3, 1)[holes]  # [pixels, 3]
    torch.testing.assert_close(changed, normalised_fill.T.expand_as(changed), atol=0.02, rtol=0)


@pytest.mark.parametrize("name", ["CE + SAM", "CE + AutoAugment", "CE + RandAugment", "CutMix", "Remix-DRW",
                                  "Label smoothing", "RIDE"])
def test_every_new_recipe_trains_through_the_engine(data, name):
    outcome = engine.train([recipe(name)], data, CONFIG, progress=False)[name]
    assert outcome.error is None and len(outcome.history) == 2
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in outcome.history)
    phase = outcome.history[0]["phase"]
    assert ("optimizer" in phase) == ("SAM" in name) and ("augment" in phase) == ("Augment" in name)
    if name == "RIDE":
        assert outcome.spec.model == "ride_resnet32"


def test_mislas_stage2_is_evaluated_on_the_adapted_network(data, tmp_path):
    base = stored_runs([recipe("Input mix-up")], data, CONFIG, tmp_path)[0]
    after = Store(tmp_path).run_stage2(base, data, "MiSLAS", {"epochs": 1}, "cpu", 0)
    assert after.finished and 0 <= after.test["top1"] <= 1 and after.stage2.info["evaluate_on"] == "images"
    total = sum(map(sum, after.test["confusion_matrix"]))
    assert total == len(data.test)


@pytest.mark.parametrize("hyperparameters, message", [
    ({"sam_rho": -0.1}, "sam_rho=-0.1 is out of range"),
    ({"remix_kappa": 0.5}, "kappa=0.5"), ({"remix_tau": 1.5}, "tau=1.5"),
    ({"randaugment": [2, 40]}, "magnitude=40"), ({"cutout_length": 0}, "length=0"),
    ({"experts": 0}, "experts=0 is out of range"), ({"smoothing": 1.0}, "epsilon=1.0"),
    ({"cutmix_prob": 1.5}, "prob=1.5"),
])
def test_bad_new_hyperparameters_are_refused_by_the_schema(hyperparameters, message):
    defaults = notebook_parameters(ROOT / "notebooks" / "06_regularisation.ipynb")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        parse_study("06_regularisation", "f.yaml", {"hyperparameters": hyperparameters}, defaults)


def test_bad_maxnorm_and_mislas_settings_are_refused_by_the_schema():
    defaults = notebook_parameters(ROOT / "notebooks" / "06_regularisation.ipynb")
    for stage2, message in (({"MaxNorm": {"threshold": 0}}, "stage2.MaxNorm.threshold=0 is out of range"),
                            ({"MiSLAS": {"epochs": 0}}, "stage2.MiSLAS.epochs=0 is out of range")):
        with pytest.raises(ConfigError, match=message):
            parse_study("06_regularisation", "f.yaml", {"stage2": stage2}, defaults)


def test_sam_runs_trained_before_the_batch_norm_fix_are_not_reused():
    """optimizer's code version 2 enters SAM runs' keys (the records with BatchNorm statistics moved by
    the perturbed forward no longer match); runs without a bumped optional field keep their keys."""
    from imbalance_baselines.train.spec import RunSpec, short_hash

    def old_key(spec: RunSpec) -> str:  # the description before code versions existed
        described = spec.to_dict()
        described.pop("name")
        return short_hash(described)

    sam = RunSpec("CE + SAM", optimizer={"name": "sam", "rho": 0.1})
    augmented = RunSpec("CE + Cutout", augment={"name": "cutout", "size": 16})
    assert sam.key() != old_key(sam)
    versioned = {k: v for k, v in sam.to_dict().items() if k != "name"} | {"optimizer_code_version": 2}
    assert sam.key() == short_hash(versioned)
    assert augmented.key() == old_key(augmented) and RunSpec("CE").key() == old_key(RunSpec("CE"))
