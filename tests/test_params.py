"""The study schema: every bad input refused before any work, with file, field, value and what is allowed."""

from pathlib import Path

import pytest

from imbalance_baselines.study.params import notebook_parameters, parse_study
from imbalance_baselines.study.yaml12 import ConfigError, load_yaml, read_params

ROOT = Path(__file__).resolve().parents[1]
CIFAR = {"name": "cifar10_lt", "imbalance_factor": 100, "val_per_class": 100}


def defaults(notebook):
    return notebook_parameters(ROOT / "notebooks" / f"{notebook}.ipynb")


def refused(notebook, values, message, where="params/x/file.yaml"):
    with pytest.raises(ConfigError) as error:
        parse_study(notebook, where, values, defaults(notebook))
    text = str(error.value)
    assert text.startswith(where) and message in text and "\n" not in text, text
    return text


@pytest.mark.parametrize("values, message", [
    # names
    ({"methdos": ["CE"]}, "unknown key 'methdos' (did you mean 'methods'?)"),
    ({"methods": ["CE", "Focall"]}, "methods[1].method='Focall' is unknown (did you mean 'Focal'?)"),
    ({"train": {"epoch": 10}}, "unknown key 'epoch'"),
    ({"hyperparameters": {"betta": 0.9}}, "unknown key 'betta'"),
    ({"dataset": {"name": "cifar11_lt"}}, "dataset.name='cifar11_lt' is unknown (did you mean 'cifar10_lt'?)"),
    ({"dataset": {**CIFAR, "imbalance_ratio": 100}}, "dataset.imbalance_ratio=100 is not a parameter of cifar10_lt"),
    ({"model": "resnet33"}, "model='resnet33' is unknown"),
    ({"profile": "quick"}, "profile is set by make reproduce"),
    ({"methods": [{"method": "CE", "hyperparameter": {}}]}, "unknown key 'hyperparameter'"),
    # types
    ({"seeds": "0"}, "seeds='0' has type str"),
    ({"dataset": {**CIFAR, "imbalance_factor": "100"}}, "dataset.imbalance_factor='100' has type str; allowed: float"),
    ({"train": {"epochs": 20.5}}, "epochs=20.5 has type float; allowed: int"),
    ({"train": {"lr": "0.1"}}, "lr='0.1' has type str"),
    # ranges
    ({"seeds": [-1]}, "seeds=[-1] is out of range"),
    ({"seeds": [0, 0]}, "seeds=[0, 0] is out of range; allowed: a non-empty list of distinct integers"),
    ({"train": {"epochs": 0}}, "train.epochs=0 is out of range; allowed: epochs >= 1"),
    ({"train": {"milestones": [16, 16], "factors": [0.1, 0.1]}}, "train.milestones=(16, 16) is out of range; "
                                                                 "allowed: strictly increasing"),
    ({"train": {"momentum": 1.0}}, "train.momentum=1.0 is out of range"),
    ({"dataset": {**CIFAR, "imbalance_factor": 0}}, "dataset.imbalance_factor=0 is out of range; allowed: a number >= 1"),
    ({"dataset": {**CIFAR, "val_per_class": -1}}, "dataset.val_per_class=-1 is out of range"),
    ({"dataset": {**CIFAR, "profile": "linear"}}, "dataset.profile='linear' is out of range; allowed: 'exp' or 'step'"),
    ({"dataset": CIFAR, "train": {"batch_size": 20000}}, "train.batch_size=20000 is out of range; allowed: "
                                                          "1 <= batch_size <= 12306 (training images)"),
    ({"hyperparameters": {"beta": 1.0}, "methods": ["CB Focal"]}, "methods[0] 'CB Focal' (hyperparameters "
                                                                   "{'beta': 1.0}): cb_focal: beta=1.0 is out of range"),
    ({"methods": [{"method": "Focal", "hyperparameters": {"gamma": -1.0}}]}, "focal: gamma=-1.0 is out of range"),
    ({"hyperparameters": {"mixup_alpha": 0.0}, "methods": ["Input mix-up"]}, "mixup: alpha=0.0 is out of range"),
    ({"hyperparameters": {"manifold_point": "stage9"}, "methods": ["Manifold mix-up"]}, "point='stage9'"),
    ({"methods": ["CE", "CE"]}, "methods='CE' is listed twice"),
    # deferred switches outside the schedule (the first milestone, else 80% of the epochs)
    ({"train": {"epochs": 10, "milestones": [], "factors": []}, "methods": ["CE-DRW"]}, None),
])
def test_bad_study_values_are_refused(values, message):
    if message is None:  # 80% of 10 epochs: epoch 8 is inside the schedule, so this one is accepted
        parse_study("01_reweighting", "params/x/file.yaml", values, defaults("01_reweighting"))
        return
    refused("01_reweighting", values, message)


def test_a_drw_switch_outside_the_schedule_is_refused(monkeypatch):
    from imbalance_baselines.study import methods

    monkeypatch.setattr(methods, "switch_epoch", lambda config: config.epochs + 5)
    refused("01_reweighting", {"methods": ["CE-DRW"]}, "methods[0] 'CE-DRW': loss_params.drw_epoch=9 is outside "
                                                      "the schedule; allowed: 1..3")
    refused("02_resampling", {"methods": ["CE-DRS"]}, "sampler_params.start_epoch=9 is outside the schedule")
    refused("03_mixup", {"methods": ["Input mix-up + FT"]}, "mixup.stop_epoch=9 is outside the schedule")


@pytest.mark.parametrize("notebook, values, message", [
    ("04_decoupling", {"stage2": {"cRT2": {}}}, "stage2.cRT2={} is not a stage-2 method"),
    ("04_decoupling", {"stage2": {"cRT": {"epoch": 10}}}, "stage2.cRT.epoch=10 is not a parameter of cRT"),
    ("04_decoupling", {"stage2": {"cRT": {"lr": 0}}}, "stage2.cRT.lr=0 is out of range; allowed: a number > 0"),
    ("05_tailcalib", {"stage2": {"TailCalib": {"topk": 7}}}, "stage2.TailCalib.topk=7 is out of range; allowed: "
                                                              "an integer in 1..6"),
    ("05_tailcalib", {"cbd": {"alpha": 1.5}}, "cbd.alpha=1.5 is out of range"),
    ("05_tailcalib", {"cbd": {"train": {"epochs": 0}}}, "cbd: train.epochs=0 is out of range"),
    ("05_tailcalib", {"cbd": {"teachers_seeds": [0]}}, "unknown key 'teachers_seeds'"),
    ("05_tailcalib", {"cbd": {"stage2": {"TailCalibX": {"topk": 0}}}}, "cbd.stage2.TailCalibX.topk=0 is out of range"),
    ("01_reweighting", {"posthoc": {"base": "Remix", "tau": 1.0}}, "posthoc.base='Remix' is not a listed method"),
    ("90_precision", {"precisions": ["fp16"]}, "precisions='fp16' is unknown"),
    ("00_datasets", {"imbalance_factors": [100, 0.5]}, "imbalance_factors=[100, 0.5] is out of range"),
])
def test_bad_stage2_cbd_and_notebook_values_are_refused(notebook, values, message):
    refused(notebook, values, message)


def test_stage2_topk_is_checked_against_the_class_count_before_stage1():
    # CIFAR-10-LT: 10 classes; the smoke default dataset has 6.
    refused("05_tailcalib", {"dataset": CIFAR, "stage2": {"TailCalib": {"topk": 11}}},
            "stage2.TailCalib.topk=11 is out of range; allowed: an integer in 1..10")


def test_yaml_is_read_as_yaml_1_2_and_duplicate_keys_are_refused(tmp_path):
    assert load_yaml("a: 1e6\nb: 1.5e-3\nc: 100\nd: yes\ne: true\nf: .5", "x") == {
        "a": 1e6, "b": 1.5e-3, "c": 100, "d": "yes", "e": True, "f": 0.5}
    assert isinstance(load_yaml("a: 1e6", "x")["a"], float)
    path = tmp_path / "twice.yaml"
    path.write_text("seeds: [0]\ntrain: {epochs: 2}\nseeds: [1]\n")
    with pytest.raises(ConfigError, match=r"twice\.yaml: line 3: not valid YAML \(key 'seeds' is given twice "
                                          r"\(lines 1 and 3\)\)"):
        read_params(path)
    path.write_text("train: {epochs: 2, epochs: 3}\n")
    with pytest.raises(ConfigError, match="key 'epochs' is given twice"):
        read_params(path)
    path.write_text("train: [epochs\n")
    with pytest.raises(ConfigError, match=r"twice\.yaml: line \d+: not valid YAML"):
        read_params(path)


def test_a_valid_study_is_typed():
    study = parse_study("04_decoupling", "w", {"dataset": CIFAR, "seeds": [0, 1, 2]}, defaults("04_decoupling"))
    assert study.seeds == (0, 1, 2) and study.dataset.options["imbalance_factor"] == 100
    assert study.planned_counts[0] == 4900 and sum(study.planned_counts) == 12306
    assert [m.name for m in study.stage1_methods] == ["CE"] and set(study.stage2) == {"cRT", "tau-norm", "LWS"}


def test_the_summarys_reference_profile_must_exist():
    refused("99_summary", {"reference_profile": "cpu-reference"}, "reference_profile='cpu-reference' is not a profile")
