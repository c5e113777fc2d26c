"""The results cache: a finished run is loaded, never retrained; results are complete or absent."""

import json

import pytest

from imbalance_baselines import study
from imbalance_baselines.data.synthetic import make_synthetic_lt
from imbalance_baselines.train.spec import RunSpec, TrainConfig

TINY = {"model": "resnet8"}
CONFIG = TrainConfig(epochs=2, batch_size=16, warmup_epochs=1, milestones=(1,), factors=(0.1,),
                     eval_every=1, precision="fp32")


@pytest.fixture(scope="module")
def data():
    return make_synthetic_lt(num_classes=3, n_max=30, imbalance_factor=3, test_per_class=5,
                             val_per_class=3, seed=2)


def test_second_call_is_a_cache_hit(data, tmp_path, monkeypatch):
    runs = [RunSpec("ce", **TINY), RunSpec("bs", loss="balanced_softmax", **TINY)]
    first = study.run_study(runs, data, CONFIG, tmp_path, keep_weights=["ce"], progress=False)
    assert first["ce"].record["status"] == "finished"
    assert 0 <= first["ce"].test["top1"] <= 1 and "val" in first["ce"].record
    assert (first["ce"].folder / "model.pt").exists() and not (first["bs"].folder / "model.pt").exists()
    assert not list((tmp_path / "checkpoints").glob("*.pt"))  # removed once the study finished

    monkeypatch.setattr(study, "train", lambda *a, **k: pytest.fail("retrained a cached run"))
    again = study.run_study(runs, data, CONFIG, tmp_path, progress=False)
    assert again["ce"].test == first["ce"].test
    # A new display name for the same parameters is the same result.
    renamed = study.run_study([RunSpec("baseline", **TINY)], data, CONFIG, tmp_path, progress=False)
    assert renamed["baseline"].test == first["ce"].test
    model = first["ce"].load_model()
    assert model.classifier.out_features == 3


def test_changed_parameter_gets_a_new_folder(data, tmp_path):
    a = study.run_folder(tmp_path, RunSpec("ce", **TINY), data, CONFIG)
    b = study.run_folder(tmp_path, RunSpec("ce", seed=1, **TINY), data, CONFIG)
    c = study.run_folder(tmp_path, RunSpec("ce", **TINY), data, TrainConfig(**{**CONFIG.to_dict(), "lr": 0.05}))
    d = study.run_folder(tmp_path, RunSpec("ce", **TINY), data,
                         TrainConfig(**{**CONFIG.to_dict(), "eval_every": 2}))
    assert len({a, b, c}) == 3
    assert a == d  # evaluation cadence does not change what is trained


def test_half_written_or_foreign_result_is_not_trusted(data, tmp_path):
    folder = tmp_path / "runs" / "x"
    folder.mkdir(parents=True)
    (folder / "result.json").write_text('{"schema": 1, "status": "finis')
    assert study.load_result(folder) is None
    (folder / "result.json").write_text(json.dumps({"schema": 999, "status": "finished", "name": "x"}))
    assert study.load_result(folder) is None
