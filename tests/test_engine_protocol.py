"""The training protocol (SPEC 7) as the engine actually runs it, stated directly.

- The learning rate of every epoch, both recorded in the history and set in the optimiser for each
  step, is linear warm-up over the first ``warmup_epochs`` epochs, then step decay (lr x factor_k
  from milestone_k on) or cosine decay.
- Reported test metrics (the engine's periodic ``test_acc``, the stored final ``test`` report) are
  of the model on exactly the full test split.
- A run's sampler draws depend on its own seed: the same seed draws the same order, another seed
  another order.
- A deferred re-weighting (DRW) or re-sampling (DRS) run trained alone behaves as the plain run
  before its switch epoch and switches exactly at it.

Expected values are computed here from the definitions, never by the library code under test. The
runs are observed through torch's global hooks (module forward, optimiser step) and a spy on the
sampler's draws; what they compute is unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor, nn
from torch.nn.modules.module import register_module_forward_hook
from torch.optim.optimizer import register_optimizer_step_pre_hook

from imbalance_baselines.data.bundle import ImageSplit, LongTailedData
from imbalance_baselines.data.synthetic import make_synthetic_lt
from imbalance_baselines.losses import Loss
from imbalance_baselines.losses.drw import DeferredReweighting
from imbalance_baselines.models.resnet_cifar import ResNetCifar
from imbalance_baselines.samplers import SeededSampler
from imbalance_baselines.train import RunSpec, TrainConfig, train

TINY = {"model": "resnet8"}
BATCH = 16


@pytest.fixture(scope="module")
def data() -> LongTailedData:
    """3 classes: 37 / 20 / 10 training images (long-tailed), 6 test and 3 validation images each."""
    return make_synthetic_lt(num_classes=3, n_max=40, imbalance_factor=4, test_per_class=6,
                             val_per_class=3, seed=1)


def config(**overrides) -> TrainConfig:
    base = dict(epochs=3, batch_size=BATCH, warmup_epochs=1, milestones=(), factors=(),
                eval_every=100, precision="fp32")
    return TrainConfig(**{**base, **overrides})


def steps_per_epoch(data: LongTailedData) -> int:
    """An instance-sampled (or class-balanced) epoch is N draws, in batches of ``BATCH``."""
    return math.ceil(len(data.train.labels) / BATCH)


def by_epoch(items: list, data: LongTailedData) -> list[list]:
    """Per-step observations of a run (one call per step) cut into its epochs."""
    steps = steps_per_epoch(data)
    return [items[start:start + steps] for start in range(0, len(items), steps)]


@dataclass
class Call:
    """One forward call of a module, as seen by torch's global forward hook (tensors detached)."""

    training: bool
    inputs: tuple[Tensor, ...]
    output: Tensor


@pytest.fixture
def calls_of() -> Iterator[Callable[[type], list[Call]]]:
    """``calls_of(kind)``: a list that fills with every call of a module of type ``kind`` until the
    test ends."""
    handles = []

    def record(kind: type) -> list[Call]:
        calls: list[Call] = []

        def hook(module: nn.Module, inputs: tuple, output: Tensor) -> None:
            if isinstance(module, kind):
                calls.append(Call(module.training,
                                  tuple(t.detach().clone() for t in inputs if isinstance(t, Tensor)),
                                  output.detach().clone()))

        handles.append(register_module_forward_hook(hook))
        return calls

    yield record
    for handle in handles:
        handle.remove()


def normalized(split: ImageSplit, data: LongTailedData) -> Tensor:
    """The split as the network sees it at evaluation: x / 255 minus the training mean, over the
    training std, per channel; no augmentation."""
    mean = torch.tensor(data.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(data.std, dtype=torch.float32).view(1, 3, 1, 1)
    return (split.images.float() / 255.0 - mean) / std


@torch.no_grad()
def predicted(model: nn.Module, split: ImageSplit, data: LongTailedData) -> Tensor:
    """Top-1 classes of ``model`` (evaluation mode) on the un-augmented split."""
    model.eval()
    return model(normalized(split, data)).argmax(1)


def accuracy(model: nn.Module, split: ImageSplit, data: LongTailedData) -> float:
    return (predicted(model, split, data) == split.labels).double().mean().item()


# -- learning rate ----------------------------------------------------------------------------------

# base 0.1, 6 epochs, warm-up 2 (0.1 * 1/2, 0.1 * 2/2), milestones 3 and 5.
STEP = [0.05, 0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1, 0.1 * 0.01]  # x 0.1 from epoch 3, x 0.01 from epoch 5
# Cosine to zero over the 4 epochs after warm-up: 0.1 * (1 + cos(pi * k / 4)) / 2, k = 0..3
# (the milestones do not apply).
COSINE = [0.05, 0.1] + [0.1 * 0.5 * (1 + math.cos(math.pi * k / 4)) for k in range(4)]


@pytest.mark.parametrize("schedule, expected", [("step", STEP), ("cosine", COSINE)])
def test_every_epoch_trains_at_the_scheduled_learning_rate(data: LongTailedData, schedule: str,
                                                           expected: list[float]) -> None:
    """History ``lr`` and the lr in every optimiser parameter group at every step of epoch e are
    base * (e + 1) / warmup during warm-up, then the step or cosine decay."""
    stepped: list[list[float]] = []
    handle = register_optimizer_step_pre_hook(
        lambda optimizer, args, kwargs: stepped.append([g["lr"] for g in optimizer.param_groups]))
    try:
        cfg = config(epochs=6, lr=0.1, warmup_epochs=2, schedule=schedule, milestones=(3, 5),
                     factors=(0.1, 0.01))
        out = train([RunSpec("ce", **TINY)], data, cfg, progress=False)["ce"]
    finally:
        handle.remove()
    assert [h["lr"] for h in out.history] == pytest.approx(expected, rel=1e-12)
    used = by_epoch(stepped, data)
    assert len(used) == len(expected)
    for epoch, steps in enumerate(used):
        assert len(steps) == steps_per_epoch(data)
        assert [lr for step in steps for lr in step] == pytest.approx(
            [expected[epoch]] * sum(map(len, steps)), rel=1e-12), f"epoch {epoch}"


# -- test metrics ---------------------------------------------------------------------------------

# Small enough that after 2 epochs the network is far from fitting the (easy) synthetic classes, so
# its accuracy on the long-tailed training set differs from that on the balanced test set.
UNDERFIT_LR = 0.001


def test_periodic_test_accuracy_is_on_the_full_test_split(data: LongTailedData, calls_of) -> None:
    """Every evaluation feeds the network exactly the normalised test images (all of them, in order,
    once per evaluated epoch), and the final ``test_acc`` is the final model's test top-1."""
    network_calls = calls_of(ResNetCifar)
    out = train([RunSpec("ce", **TINY)], data, config(epochs=2, lr=UNDERFIT_LR, eval_every=1),
                progress=False)["ce"]
    evaluated = [call.inputs[0] for call in network_calls if not call.training]
    test_images = normalized(data.test, data)
    assert sum(len(x) for x in evaluated) == 2 * len(test_images)
    assert torch.equal(torch.cat(evaluated), torch.cat([test_images, test_images])), "not the test images"
    assert all("test_acc" in h for h in out.history)
    final = accuracy(out.model, data.test, data)
    assert out.history[-1]["test_acc"] == pytest.approx(final, abs=1e-6)
    # The check can tell the splits apart: the training set's accuracy differs.
    assert accuracy(out.model, data.train, data) != pytest.approx(final, abs=1e-6)


# The one test of the study layer, against its store API: the lines to adapt if the layer moves.
def test_stored_reports_are_of_the_kept_model_on_the_full_test_and_val_splits(data: LongTailedData,
                                                                               tmp_path) -> None:
    """The study store's ``test`` / ``val`` report: a confusion matrix summing to the split's size
    with the split's per-class counts as rows, equal to the kept model's predictions on that split,
    and its top-1 (which differs from the training set's)."""
    from imbalance_baselines.study.store import Store

    cfg = config(epochs=2, lr=UNDERFIT_LR)
    outcome = train([RunSpec("ce", **TINY)], data, cfg, progress=False)["ce"]
    record = Store(tmp_path).save(outcome, data, cfg, device="cpu", keep_weights=True)
    model = Store.load_model(record)
    for split_name in ("test", "val"):
        split: ImageSplit = getattr(data, split_name)
        report = getattr(record, split_name)
        labels, guesses = split.labels.tolist(), predicted(model, split, data).tolist()
        classes = range(data.num_classes)
        matrix = [[sum((t, p) == (true, guess) for t, p in zip(labels, guesses)) for guess in classes]
                  for true in classes]
        assert sum(map(sum, report["confusion_matrix"])) == len(labels), f"{split_name} split size"
        assert [sum(row) for row in report["confusion_matrix"]] == [labels.count(c) for c in classes]
        assert report["confusion_matrix"] == matrix, f"{split_name} predictions"
        top1 = sum(t == p for t, p in zip(labels, guesses)) / len(labels)
        assert report["top1"] == pytest.approx(top1, abs=1e-6), f"{split_name} top-1"
    assert record.test["top1"] != pytest.approx(accuracy(model, data.train, data), abs=1e-6)


# -- sampler seeding --------------------------------------------------------------------------------

@pytest.mark.parametrize("sampler", ["instance", "class_balanced"])
def test_a_runs_sampler_order_depends_on_its_seed(data: LongTailedData, sampler: str, calls_of,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs identical but for the seed draw different orders; the same seed the same order;
    and the batches trained on are the draw, in order."""
    draws: list[Tensor] = []
    real_indices = SeededSampler.indices

    def recorded(self: SeededSampler, epoch: int) -> Tensor:
        drawn = real_indices(self, epoch)
        draws.append(drawn)
        return drawn

    monkeypatch.setattr(SeededSampler, "indices", recorded)
    loss_calls = calls_of(Loss)

    def order_drawn(seed: int) -> Tensor:
        draws.clear()
        loss_calls.clear()
        train([RunSpec("run", sampler=sampler, seed=seed, **TINY)], data, config(epochs=1),
              progress=False)
        order = torch.cat(draws)
        trained_labels = torch.cat([call.inputs[1] for call in loss_calls])
        assert torch.equal(trained_labels, data.train.labels[order])
        return order

    seed0, seed1, seed1_again = order_drawn(0), order_drawn(1), order_drawn(1)
    assert torch.equal(seed1, seed1_again)
    assert not torch.equal(seed0, seed1), "seeds 0 and 1 drew the same order"


# -- deferred re-weighting and re-sampling, trained alone ------------------------------------------

def test_drw_alone_is_unweighted_before_its_epoch_and_class_balanced_from_it(data: LongTailedData,
                                                                             calls_of) -> None:
    """Each step's loss is the plain mean cross-entropy for epochs < drw_epoch and, from drw_epoch
    on, the weighted mean with Cui et al.'s w_c = (1 - beta) / (1 - beta^n_c), beta = 0.9999."""
    drw_epoch, beta = 2, 0.9999
    loss_calls = calls_of(DeferredReweighting)
    run = RunSpec("ce-drw", loss="ce_drw", loss_params={"drw_epoch": drw_epoch, "beta": beta}, **TINY)
    out = train([run], data, config(epochs=3, lr=0.01), progress=False)["ce-drw"]
    phases = [h["phase"]["loss"] for h in out.history]
    assert phases[0] == phases[1] != phases[2], phases

    counts = torch.bincount(data.train.labels, minlength=data.num_classes).double()
    w = (1 - beta) / (1 - beta ** counts)
    epochs = by_epoch(loss_calls, data)
    assert len(epochs) == 3
    for epoch, calls in enumerate(epochs):
        used, unweighted, balanced = [], [], []
        for call in calls:
            logits, target = call.inputs
            per_sample = -logits.double().log_softmax(1).gather(1, target[:, None]).squeeze(1)
            used.append(call.output.item())
            unweighted.append(per_sample.mean().item())
            balanced.append(((w[target] * per_sample).sum() / w[target].sum()).item())
        expected, other = (unweighted, balanced) if epoch < drw_epoch else (balanced, unweighted)
        assert used == pytest.approx(expected, rel=1e-5, abs=1e-6), f"epoch {epoch}"
        assert used != pytest.approx(other, rel=1e-5, abs=1e-6), f"epoch {epoch}: indistinguishable"


def test_drs_alone_samples_instances_before_its_epoch_and_classes_from_it(data: LongTailedData,
                                                                         calls_of) -> None:
    """Epochs < start_epoch draw every training image exactly once (the class counts of the data);
    from start_epoch on, classes with probability 1 / C: the head drawn less, the tail more."""
    start_epoch = 1
    loss_calls = calls_of(Loss)
    run = RunSpec("ce-drs", sampler="drs", sampler_params={"start_epoch": start_epoch}, **TINY)
    out = train([run], data, config(epochs=3), progress=False)["ce-drs"]
    assert [h["phase"]["sampler"].split("|")[0] for h in out.history] == [
        "instance", "class_balanced(q=0.0)", "class_balanced(q=0.0)"]

    counts = torch.bincount(data.train.labels, minlength=data.num_classes)
    head, tail = int(counts.argmax()), int(counts.argmin())
    epochs = by_epoch(loss_calls, data)
    assert len(epochs) == 3
    for epoch, calls in enumerate(epochs):
        drawn = torch.bincount(torch.cat([call.inputs[1] for call in calls]), minlength=data.num_classes)
        if epoch < start_epoch:
            assert drawn.tolist() == counts.tolist(), f"epoch {epoch}"
        else:
            assert drawn[head] < counts[head] and drawn[tail] > counts[tail], f"epoch {epoch}: {drawn}"
