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


@pytest.mark.parametrize("cbd, message", [
    ({"train": {"epochs": 0}}, "cbd: train config: epochs=0"), ({"train": {"epoch": 5}}, "unknown key 'epoch'"),
    ({"teachers_seeds": [0]}, "unknown key 'teachers_seeds'"),
])
def test_bad_cbd_settings_are_refused(tmp_path, cbd, message):
    with pytest.raises(ConfigError, match=message):
        reproduce.validate(ROOT / "notebooks" / "05_tailcalib.ipynb", tmp_path / "x.yaml", {"cbd": cbd})


def test_unknown_stage2_method_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown method 'cRT2'"):
        reproduce.validate(ROOT / "notebooks" / "04_decoupling.ipynb", tmp_path / "x.yaml", {"stage2": {"cRT2": {}}})


@pytest.mark.parametrize("profile", ["smoke", "quick", "full", "imagenet-lt", "places-lt", "mini-imagenet-lt",
                                     "inat2018"])
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


@pytest.mark.parametrize("profile, missing", [
    ("imagenet-lt", "ImageNet_LT_train.txt"), ("places-lt", "Places_LT_train.txt"),
    ("mini-imagenet-lt", "mini_ImageNet_LT_train.txt"), ("inat2018", "train2018.json")])
def test_large_scale_profile_without_images_stops_at_once(tmp_path, capsys, profile, missing):
    code = reproduce.main(["--profile", profile, "--data-dir", str(tmp_path / "nowhere")])
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2 and "executing" not in captured.out
    assert len(err.splitlines()) == 1, err
    assert str(tmp_path / "nowhere" / missing) in err and ("get" in err or "come with" in err or "build" in err)
    assert not (ROOT / "results" / profile).exists()


def test_places_lt_without_initial_weights_names_the_file(tmp_path, capsys):
    for split in ("train", "val", "test"):
        (tmp_path / f"Places_LT_{split}.txt").write_text("")
    assert reproduce.main(["--profile", "places-lt", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "resnet152_imagenet.pth") in err and "IMAGENET1K_V1" in err


def test_refreshing_an_unknown_reference_is_refused():
    with pytest.raises(ConfigError, match="'07_large_scael' is not in profile 'smoke'"):
        reproduce.refresh_references("imbalance-baselines", "07_large_scael")
