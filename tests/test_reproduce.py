"""make reproduce's runner: parameter files are validated before anything runs."""

from pathlib import Path

import pytest

from imbalance_baselines import reproduce
from imbalance_baselines.config import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("params, message", [
    ({"methdos": ["CE"]}, "unknown key 'methdos' (did you mean 'methods'?)"),
    ({"seeds": "0"}, "seeds='0' has type str"),
    ({"methods": ["CE", "Focall"]}, "unknown method 'Focall'"),
    ({"train": {"epochs": 0}}, "epochs=0"),
    ({"train": {"epoch": 10}}, "unknown key 'epoch'"),
    ({"hyperparameters": {"betta": 0.9}}, "unknown key 'betta'"),
    ({"dataset": {"name": "cifar11_lt"}}, "dataset name='cifar11_lt'"),
    ({"model": "resnet33"}, "model='resnet33'"),
    ({"seeds": [-1]}, "seeds=[-1]"),
    ({"profile": "quick"}, "profile is set by make reproduce"),
])
def test_bad_parameter_files_are_refused_with_file_and_key(tmp_path, params, message):
    path = tmp_path / "01_reweighting.yaml"
    with pytest.raises(ConfigError) as error:
        reproduce.validate(ROOT / "notebooks" / "01_reweighting.ipynb", path, params)
    assert str(path) in str(error.value) and message in str(error.value)


def test_unknown_stage2_method_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown method 'cRT2'"):
        reproduce.validate(ROOT / "notebooks" / "04_decoupling.ipynb", tmp_path / "x.yaml", {"stage2": {"cRT2": {}}})


@pytest.mark.parametrize("profile", ["smoke", "quick", "full"])
def test_every_shipped_parameter_file_is_valid(profile):
    for path in sorted((ROOT / "params" / profile).glob("*.yaml")):
        notebook = ROOT / "notebooks" / f"{path.stem.split('.')[0]}.ipynb"
        reproduce.validate(notebook, path, reproduce.read_params(path))


def test_unknown_profile_is_refused():
    with pytest.raises(ConfigError, match="PROFILE='quik'"):
        reproduce.run_profile("quik", "data", "imbalance-baselines")


def test_ordered_puts_the_summary_last():
    assert reproduce.ordered(["99_summary", "01_reweighting.b", "00_datasets", "01_reweighting.a"]) == [
        "00_datasets", "01_reweighting.a", "01_reweighting.b", "99_summary"]


def test_the_shipped_campaign_is_valid():
    from imbalance_baselines.reference import validate_campaign

    path = ROOT / "params" / "cpu-reference.yaml"
    validate_campaign(path, reproduce.read_params(path))


@pytest.mark.parametrize("campaign, message", [
    ({"studies": []}, "studies is empty"),
    ({"studis": [{}]}, "unknown key 'studis'"),
    ({"studies": [{"dataset": {"name": "cifar10_lt"}, "methods": ["CE-DRWW"]}]}, "unknown method 'CE-DRWW'"),
    ({"studies": [{"dataset": {}, "methods": ["CE"]}]}, "dataset needs a name"),
    ({"train": {"epochs": -1}, "studies": [{"dataset": {"name": "cifar10_lt"}, "methods": ["CE"]}]}, "epochs=-1"),
    ({"studies": [{"dataset": {"name": "cifar10_lt"},
                   "methods": [{"method": "CB Focal", "hyperparameters": {"gama": 1}}]}]}, "unknown key 'gama'"),
])
def test_bad_campaigns_are_refused(campaign, message):
    from imbalance_baselines.reference import validate_campaign

    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        validate_campaign(Path("c.yaml"), campaign)
