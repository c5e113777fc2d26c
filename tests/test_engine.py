"""The training engine: one pass equals separate training, resume is bit-identical, schedules switch
at the right epoch, a NaN stops only its run, bad input stops before training."""

import pytest
import torch

from imbalance_baselines.data.synthetic import make_synthetic_lt
from imbalance_baselines.losses import LOSSES, Loss
from imbalance_baselines.train import engine
from imbalance_baselines.train.engine import train
from imbalance_baselines.train.spec import RunSpec, TrainConfig

TINY = {"model": "resnet8"}


@pytest.fixture(scope="module")
def data():
    return make_synthetic_lt(num_classes=3, n_max=40, imbalance_factor=4, test_per_class=6, seed=1)


def config(**overrides):
    base = dict(epochs=3, batch_size=16, warmup_epochs=1, milestones=(2,), factors=(0.1,),
                eval_every=1, precision="fp32")
    return TrainConfig(**{**base, **overrides})


def weights(outcome):
    return outcome.model.state_dict()


def assert_same_weights(a, b):
    for key in weights(a):
        assert torch.equal(weights(a)[key], weights(b)[key]), key


def test_one_pass_equals_training_each_run_alone(data):
    runs = [RunSpec("ce", **TINY), RunSpec("focal", loss="focal", loss_params={"gamma": 1.0}, **TINY),
            RunSpec("ce-seed1", seed=1, **TINY),
            RunSpec("ce-cb", sampler="class_balanced", **TINY)]
    together = train(runs, data, config(), progress=False)
    for run in runs:
        alone = train([run], data, config(), progress=False)[run.name]
        # Bit-identical on the CPU (tolerance 0): the same operations on the same numbers.
        assert_same_weights(together[run.name], alone)
        assert together[run.name].history == [
            {**r, "seconds": together[run.name].history[i]["seconds"]} for i, r in enumerate(alone.history)]


def test_runs_with_different_seeds_or_losses_differ(data):
    runs = [RunSpec("a", **TINY), RunSpec("b", seed=1, **TINY), RunSpec("c", loss="balanced_softmax", **TINY)]
    out = train(runs, data, config(epochs=1, milestones=(), factors=()), progress=False)
    w = {name: weights(o)["classifier.weight"] for name, o in out.items()}
    assert not torch.equal(w["a"], w["b"]) and not torch.equal(w["a"], w["c"])


def test_deferred_switches_happen_at_their_epoch(data):
    runs = [RunSpec("ce", **TINY),
            RunSpec("ce-drw", loss="ce_drw", loss_params={"drw_epoch": 2}, **TINY),
            RunSpec("ce-drs", sampler="drs", sampler_params={"start_epoch": 1}, **TINY),
            RunSpec("mixup-ft", mixup={"alpha": 1.0, "stop_epoch": 2}, **TINY)]
    out = train(runs, data, config(epochs=3), progress=False)
    loss = {name: [h["loss"] for h in o.history] for name, o in out.items()}
    # DRW: identical to CE for epochs 0-1, different from epoch 2 (0-based) on.
    assert loss["ce-drw"][:2] == loss["ce"][:2] and loss["ce-drw"][2] != loss["ce"][2]
    # DRS: identical for epoch 0 only.
    assert loss["ce-drs"][0] == loss["ce"][0] and loss["ce-drs"][1] != loss["ce"][1]
    phases = [h["phase"] for h in out["mixup-ft"].history]
    assert [p["mixup"] != "off" for p in phases] == [True, True, False]
    assert [("weight" in p["loss"]) or ("cb" in p["loss"]) for p in
            (h["phase"] for h in out["ce-drw"].history)] == [False, False, True]


def test_resume_after_a_kill_is_bit_identical(data, tmp_path, kill_at_epoch):
    runs = [RunSpec("ce", **TINY), RunSpec("ce-drw", loss="ce_drw", loss_params={"drw_epoch": 2}, **TINY)]
    cfg = config(epochs=4, checkpoint_every=1, milestones=(3,))
    reference = train(runs, data, cfg, progress=False)

    path = tmp_path / "state.pt"
    kill_at_epoch(2)
    with pytest.raises(KeyboardInterrupt):
        train(runs, data, cfg, checkpoint_path=path, progress=False)
    assert torch.load(path, weights_only=False)["next_epoch"] == 2
    kill_at_epoch(None)
    resumed = train(runs, data, cfg, checkpoint_path=path, progress=False)
    for name in ("ce", "ce-drw"):
        assert_same_weights(resumed[name], reference[name])
        assert [h["loss"] for h in resumed[name].history] == [h["loss"] for h in reference[name].history]
    assert [s["from_epoch"] for s in resumed["ce"].info["stretches"]] == [0, 2]


def test_resume_against_changed_parameters_is_refused(data, tmp_path):
    path = tmp_path / "state.pt"
    short = config(epochs=1, milestones=(), factors=())
    train([RunSpec("ce", **TINY)], data, short, checkpoint_path=path, progress=False)
    with pytest.raises(ValueError, match="parameters changed"):
        train([RunSpec("ce", seed=5, **TINY)], data, short, checkpoint_path=path, progress=False)


class _ExplodesAtEpoch1(Loss):
    def __init__(self, class_counts):
        super().__init__("explodes", class_counts)
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def sample_key(self):
        return "explodes"

    def phase_key(self, epoch):
        return f"explodes@{min(epoch, 1)}"

    def per_sample(self, logits, target):
        value = torch.nn.functional.cross_entropy(logits.float(), target, reduction="none")
        return value * float("nan") if self.epoch >= 1 else value


def test_nan_loss_stops_only_that_run(data, monkeypatch):
    monkeypatch.setitem(LOSSES._entries, "test_explodes",
                        lambda *, class_counts: _ExplodesAtEpoch1(class_counts))
    runs = [RunSpec("ok", **TINY), RunSpec("bad", loss="test_explodes", **TINY)]
    out = train(runs, data, config(epochs=3), progress=False)
    assert out["ok"].error is None and len(out["ok"].history) == 3 and out["ok"].model is not None
    assert out["bad"].model is None and len(out["bad"].history) == 1
    assert "run bad" in out["bad"].error and "epoch 2 batch 1" in out["bad"].error


@pytest.mark.parametrize("runs, cfg, message", [
    ([RunSpec("a", **TINY), RunSpec("a", **TINY)], {}, "duplicate run names"),
    ([RunSpec("a", loss="cross_entropy", **TINY)], {}, "unknown loss 'cross_entropy'"),
    ([RunSpec("a", sampler="balanced", **TINY)], {}, "unknown sampler 'balanced'"),
    ([RunSpec("a", model="resnet33")], {}, "unknown model 'resnet33'"),
    ([RunSpec("a", **TINY)], {"epochs": 0}, "epochs=0"),
    ([RunSpec("a", **TINY)], {"milestones": (5,)}, "milestones=(5,)"),
    ([RunSpec("a", **TINY)], {"batch_size": 10_000}, "batch_size=10000"),
    ([], {}, "no runs"),
])
def test_bad_input_stops_before_training(data, runs, cfg, message, monkeypatch):
    monkeypatch.setattr(engine, "_step", lambda *a, **k: pytest.fail("trained despite bad input"))
    with pytest.raises((ValueError, KeyError), match=message.replace("(", r"\(").replace(")", r"\)")):
        train(runs, data, config(**cfg), progress=False)
