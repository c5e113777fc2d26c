"""Class-balanced distillation (CBD): the loss against hand computations, the teachers' target, frozen
teachers, the trained converter, an end-to-end run with its stage 2, bit-identical resume, bad input
stopped before training, and unchanged keys for runs without distillation."""

import numpy as np
import pytest
import torch
from torch import nn

from conftest import stored_runs
from imbalance_baselines.study.store import Store
from imbalance_baselines.data.synthetic import make_synthetic_lt
from imbalance_baselines.train.distillation import CONVERTER, cbd_loss, teacher_target
from imbalance_baselines.study.methods import METHODS
from imbalance_baselines.train import engine
from imbalance_baselines.train.distributed import current_world
from imbalance_baselines.train.engine import study_key, train
from imbalance_baselines.train.groups import RunState, initial_groups
from imbalance_baselines.train.spec import RunSpec, TrainConfig

COSINE = {"head": "cosine", "head_params": {"scale": 10.0, "learn_scale": True}}
TEACHER = "CE (cosine classifier)"


def config(**overrides):
    base = dict(epochs=2, batch_size=16, warmup_epochs=1, milestones=(1,), factors=(0.1,),
                eval_every=1, precision="fp32")
    return TrainConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def data():
    return make_synthetic_lt(num_classes=3, n_max=40, imbalance_factor=4, test_per_class=6,
                             val_per_class=2, seed=1)


def teacher_specs(seeds=(0, 1)):
    return [METHODS.get(TEACHER).run(config(epochs=1, milestones=(), factors=()), s, name=f"teacher {s}",
                                     model="resnet8") for s in seeds]


@pytest.fixture(scope="module")
def teachers(data, tmp_path_factory):
    """Two 1-epoch CE (cosine) runs, seeds 0 and 1, weights kept, described as teachers."""
    records = stored_runs(teacher_specs(), data, config(epochs=1, milestones=(), factors=()),
                          tmp_path_factory.mktemp("teachers"))
    return [Store.teacher(record) for record in records]


def cbd(name, teachers, alpha=0.8, beta=100.0, **fields):
    spec = METHODS.get("CBD").run(config(), 0, {"teachers": teachers, "distill_alpha": alpha,
                                                "distill_beta": beta}, name=name, model="resnet8")
    return RunSpec(**{**spec.to_dict(), **fields})


# --- the loss and the target against hand computations ------------------------------------------
def test_identical_features_give_no_distillation_term():
    features = torch.randn(5, 8)
    logits, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 0, 1])
    assert abs(float(cbd_loss(logits, y, features, features.clone(), 1.0, 1.0))) < 1e-6


def test_orthogonal_features_give_one_per_sample():
    student, teacher = torch.eye(4)[:2], torch.eye(4)[2:]
    logits, y = torch.zeros(2, 3), torch.tensor([0, 1])
    assert float(cbd_loss(logits, y, student, teacher, 1.0, 1.0)) == pytest.approx(1.0, abs=1e-7)
    assert float(cbd_loss(logits, y, student, teacher, 1.0, 7.5)) == pytest.approx(7.5, abs=1e-6)


def test_loss_is_the_weighted_sum_of_hand_computed_terms():
    generator = torch.Generator().manual_seed(0)
    logits, y = torch.randn(6, 4, generator=generator), torch.tensor([0, 1, 2, 3, 0, 1])
    s, t = torch.randn(6, 5, generator=generator), torch.randn(6, 5, generator=generator)
    z = logits.numpy().astype(np.float64)
    log_softmax = z - z.max(1, keepdims=True) - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True))
    ce = -log_softmax[np.arange(6), y.numpy()].mean()
    a, b = s.numpy().astype(np.float64), t.numpy().astype(np.float64)
    one_minus_cos = (1 - (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).mean()
    assert float(cbd_loss(logits, y, s, t, 0.0, 100.0)) == pytest.approx(ce, rel=1e-6)
    assert float(cbd_loss(logits, y, s, t, 1.0, 1.0)) == pytest.approx(one_minus_cos, rel=1e-6)
    assert float(cbd_loss(logits, y, s, t, 0.8, 100.0)) == pytest.approx(
        0.2 * ce + 80 * one_minus_cos, rel=1e-6)


class _Fixed(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.value = features

    def features(self, x):
        return self.value


def test_teacher_target_normalises_each_teacher_then_the_concatenation():
    first, second = np.array([[3.0, 4.0], [1.0, 0.0]]), np.array([[0.0, 2.0, 0.0], [1.0, 1.0, 1.0]])

    def unit(rows):
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    expected = unit(np.concatenate([unit(first), unit(second)], axis=1))
    target = teacher_target([_Fixed(torch.tensor(first, dtype=torch.float32)),
                             _Fixed(torch.tensor(second, dtype=torch.float32))], torch.zeros(2))
    np.testing.assert_allclose(target.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(expected[0], [0.6 / 2**0.5, 0.8 / 2**0.5, 0, 2**-0.5, 0])


# --- the engine: frozen teachers, trained converter, separate groups ----------------------------
def test_teachers_stay_frozen_and_the_converter_learns(data, teachers):
    run = RunState.build(cbd("cbd", teachers), data.train.labels, data.class_counts)
    before = [{k: v.clone() for k, v in t.state_dict().items()} for t in run.distiller.teachers]
    group = initial_groups([run], data.num_classes, torch.device("cpu"), config())[0]
    converter = getattr(group.model, CONVERTER)
    assert converter.out_features == 2 * 64  # two 64-d teachers
    assert any(p is converter.weight for g in group.optimizer.param_groups for p in g["params"])
    start = converter.weight.detach().clone()
    totals, world = engine._EpochTotals(torch.device("cpu")), current_world(torch.device("cpu"))
    x, y = data.train.images[:16].float() / 255, data.train.labels[:16]
    for step in range(3):
        engine._step(group, x, y, step, totals, torch.Generator(), "fp32", world)
        assert converter.weight.grad is not None and converter.weight.grad.abs().sum() > 0
    assert not torch.equal(converter.weight, start)
    for teacher, saved in zip(run.distiller.teachers, before):
        assert not teacher.training
        assert all(p.grad is None for p in teacher.parameters())
        for key, value in teacher.state_dict().items():  # weights and BatchNorm statistics
            assert torch.equal(value, saved[key]), key


def test_distilled_runs_never_share_a_group_with_plain_runs(data, teachers):
    student = cbd("cbd", teachers[:1])
    plain = RunSpec(**{k: v for k, v in student.to_dict().items() if k != "distill"})
    states = [RunState.build(s, data.train.labels, data.class_counts) for s in (student, plain)]
    assert states[0].phase_key(0) != states[1].phase_key(0)
    assert states[0].stream_key(0) == states[1].stream_key(0)  # same batches, separate models


# --- keys -------------------------------------------------------------------------------------------
def test_runs_without_distillation_keep_their_keys():
    # Values computed with the code before distillation existed.
    data = make_synthetic_lt(num_classes=3, n_max=40, imbalance_factor=4, test_per_class=6, seed=1)
    assert RunSpec("x").key() == "522e7d1a57d1"
    assert RunSpec("CE", loss="ce", sampler="class_aware", model="resnet8",
                   model_params={"classifier": "cosine"}, seed=3).key() == "e9af0e5515a1"
    runs = [RunSpec("ce", model="resnet8"),
            RunSpec("ca", sampler="class_aware", model_params={"head": "cosine"}, seed=2)]
    assert study_key(runs, data, TrainConfig()) == "7487955ce7ba"
    assert "distill" not in RunSpec("x").to_dict()


def test_distilled_key_names_teachers_by_run_not_location(teachers):
    elsewhere = [{**t, "weights": f"/elsewhere/{t['run']}/model.pt"} for t in teachers]
    here, moved = cbd("a", teachers), cbd("a", elsewhere)
    assert here.key() == moved.key()
    assert here.key() != cbd("a", teachers[:1]).key() != cbd("a", teachers, beta=200.0).key()


# --- end to end ---------------------------------------------------------------------------------------
def test_cbd_trains_like_alone_and_feeds_a_stage2(data, teachers, tmp_path):
    student = cbd("cbd", teachers)
    plain = RunSpec(**{k: v for k, v in student.to_dict().items() if k not in ("distill", "name")}, name="ca")
    together = train([student, plain], data, config(), progress=False)
    alone = train([student], data, config(), progress=False)["cbd"]
    assert [h["loss"] for h in together["cbd"].history] == [h["loss"] for h in alone.history]
    assert all(np.isfinite(h["loss"]) for h in alone.history) and len(alone.history) == 2
    assert alone.history[0]["phase"]["distill"] == "cbd(alpha=0.8,beta=100.0,teachers=2)"
    assert not hasattr(alone.model, CONVERTER)  # the result is the plain network
    assert together["cbd"].history[0]["loss"] != together["ca"].history[0]["loss"]



def test_cbd_requests_train_teachers_then_students_then_stage2(tmp_path):
    """The study layer's CBD chain: teachers (kept), a student on its own schedule distilled from
    them, TailCalibX on the student."""
    from imbalance_baselines.study.execute import DataCache, complete, result
    from imbalance_baselines.study.params import parse_study
    from imbalance_baselines.study.plan import study_requests

    defaults = {"dataset": {"name": "synthetic_lt", "num_classes": 3, "n_max": 40, "imbalance_factor": 4,
                            "test_per_class": 6, "val_per_class": 2, "seed": 1},
                "train": {"epochs": 2, "batch_size": 16, "warmup_epochs": 1, "milestones": [1], "factors": [0.1],
                          "eval_every": 1, "precision": "fp32"},
                "model": "resnet8", "seeds": [0], "methods": [], "hyperparameters": {}, "base_method": TEACHER,
                "stage2": {}, "cbd": {"teacher_seeds": [0, 1], "train": {"epochs": 3, "milestones": [2]},
                                      "stage2": {"TailCalibX": {"epochs": 1, "topk": 1}}}}
    study = parse_study("05_tailcalib", "test", {}, defaults, from_file=False)
    data_for = DataCache(tmp_path)
    data = data_for(study.dataset)
    requests = study_requests(study, data.key(), data.num_classes)
    assert [r.method for r in requests] == [TEACHER, "CBD", "CBD + TailCalibX"]
    store = Store(tmp_path / "store")
    complete(requests, store, data_for, "cpu")
    records = {r.method: result(r, store, data, "cpu", compute=False) for r in requests}
    student = records["CBD"]
    assert student.config["epochs"] == 3  # the student's own schedule
    teacher_keys = [t["run"] for t in student.run["distill"]["teachers"]]
    teacher_records = [store.find(data.name, t.spec, data.key(), t.config) for t in requests[1].teachers]
    assert teacher_keys == [r.key for r in teacher_records] and {r.epochs for r in teacher_records} == {2}
    assert student.run["distill"]["alpha"] == 0.8
    assert 0 <= records["CBD + TailCalibX"].test["top1"] <= 1
    assert store.load_model(student).classifier.weight.shape == (3, 64)


def test_resume_after_a_kill_is_bit_identical(data, teachers, tmp_path, kill_at_epoch):
    runs = [cbd("cbd", teachers)]
    cfg = config(epochs=3, checkpoint_every=1, milestones=(2,))
    reference = train(runs, data, cfg, progress=False)["cbd"]

    path = tmp_path / "state.pt"
    kill_at_epoch(1)
    with pytest.raises(KeyboardInterrupt):
        train(runs, data, cfg, checkpoint_path=path, progress=False)
    saved = torch.load(path, weights_only=False)  # teachers are reloaded from their folders
    assert saved["next_epoch"] == 1 and f"{CONVERTER}.weight" in saved["groups"][0]["model"]
    kill_at_epoch(None)
    resumed = train(runs, data, cfg, checkpoint_path=path, progress=False)["cbd"]
    for key, value in reference.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in reference.history]


# --- bad input ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bad_teachers(data, teachers, tmp_path_factory):
    """A teacher whose weights file is missing, and a teacher of four classes."""
    root = tmp_path_factory.mktemp("bad")
    four = make_synthetic_lt(num_classes=4, n_max=20, imbalance_factor=2, test_per_class=2, seed=3)
    other = stored_runs(teacher_specs((0,)), four, config(epochs=1, milestones=(), factors=()), root)[0]
    assert other.finished
    return {"no_weights": {**teachers[0], "weights": str(root / "no-weights" / "model.pt")},
            "four_classes": Store.teacher(other)}


@pytest.mark.parametrize("change, message", [
    (lambda t, bad: {"teachers": [bad["no_weights"]]}, r"distill\.teachers\[0\]\.weights='.*no-weights.*' is missing"),
    (lambda t, bad: {"teachers": [t[0], bad["four_classes"]]},
     r"distill\.teachers\[1\]='.*' classifies 4 classes; allowed: teachers of this dataset's 3 classes"),
    (lambda t, bad: {"teachers": []}, r"distill\.teachers=\[\] is not a list of teachers; allowed: a non-empty"),
    (lambda t, bad: {"alpha": 1.5}, r"distill\.alpha=1\.5 is out of range; allowed: a number in \[0, 1\]"),
    (lambda t, bad: {"alpha": -0.1}, r"distill\.alpha=-0\.1 is out of range"),
    (lambda t, bad: {"beta": -1.0}, r"distill\.beta=-1\.0 is out of range; allowed: a number >= 0"),
    (lambda t, bad: {"head": "linear"}, r"distill\.student head='linear' is not supported; allowed: 'cosine'"),
    (lambda t, bad: {"mixup": {"alpha": 1.0}}, r"distill with mixup=.* is not supported"),
])
def test_bad_input_stops_before_training(data, teachers, bad_teachers, change, message, monkeypatch):
    monkeypatch.setattr(engine, "_step", lambda *a, **k: pytest.fail("trained despite bad input"))
    changed = change(teachers, bad_teachers)
    student = cbd("cbd", changed.get("teachers", teachers), changed.get("alpha", 0.8), changed.get("beta", 100.0))
    if "head" in changed:
        student = RunSpec(**{**student.to_dict(), "model_params": {}})
    if "mixup" in changed:
        student = RunSpec(**{**student.to_dict(), "mixup": changed["mixup"]})
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        train([student], data, config(), progress=False)
