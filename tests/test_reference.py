"""The reference campaign end to end on a tiny synthetic study: stage 2 on the kept run, written
into the study file; --study runs only the named studies; bad stage-2 settings refused first."""

from pathlib import Path

import pytest
import yaml

from imbalance_baselines import summary
from imbalance_baselines.config import ConfigError
from imbalance_baselines.reference import run_campaign, validate_campaign

DATASET = {"name": "synthetic_lt", "num_classes": 3, "n_max": 40, "imbalance_factor": 4, "val_per_class": 4,
           "test_per_class": 6}


def _campaign(tmp_path: Path, **study) -> Path:
    campaign = {"results_dir": str(tmp_path / "results"), "device": "cpu",
                "train": {"epochs": 1, "batch_size": 16, "warmup_epochs": 0, "milestones": [], "factors": [],
                          "precision": "fp32"},
                "studies": [{"name": "first", "dataset": DATASET, "methods": ["CE"], "keep_weights": ["CE"],
                             **study},
                            {"name": "second", "dataset": DATASET, "methods": ["Focal"]}]}
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(campaign))
    return path


def test_stage2_runs_on_the_kept_network_and_only_the_named_study_runs(tmp_path):
    path = _campaign(tmp_path, stage2_base="CE", stage2={"tau-norm": {}, "cRT": {"epochs": 1}})
    run_campaign(path, tmp_path / "data", only=["first"])
    runs = summary.finished_runs(tmp_path / "results")
    assert sorted(runs["method"]) == ["CE", "cRT", "tau-norm"]  # "second" (Focal) was not run
    assert set(runs["epochs"]) == {1}  # a stage 2 counts under its backbone's schedule


@pytest.mark.parametrize("study, message", [
    ({"stage2_base": "Focal", "stage2": {"cRT": {}}}, "stage2_base='Focal' is not kept"),
    ({"stage2_base": "CE", "stage2": {"cRTT": {}}}, "unknown method 'cRTT'"),
])
def test_bad_stage2_settings_are_refused(tmp_path, study, message):
    path = _campaign(tmp_path, **study)
    with pytest.raises(ConfigError, match=message):
        validate_campaign(path, yaml.safe_load(path.read_text()))


def test_an_unknown_study_name_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="--study 'frist' is not a study; allowed: first, second"):
        run_campaign(_campaign(tmp_path), tmp_path / "data", only=["frist"])
