"""make reproduce: every file validated before anything runs, then the queue, then renderings whose
stamps cover every input and hold nothing machine-specific."""

import shutil
from pathlib import Path

import nbformat
import pytest

from imbalance_baselines.cli import queue as queue_cli
from imbalance_baselines.cli import reproduce
from imbalance_baselines.study.params import notebook_parameters, parse_study
from imbalance_baselines.study.yaml12 import ConfigError, read_params

ROOT = Path(__file__).resolve().parents[1]
PROFILES = sorted(p.name for p in (ROOT / "params").iterdir() if p.is_dir())


@pytest.mark.parametrize("profile", PROFILES)
def test_every_shipped_parameter_file_is_valid(profile):
    files = reproduce.profile_files(profile)
    assert files, profile
    for name, path in files.items():
        defaults = notebook_parameters(ROOT / "notebooks" / f"{name.split('.')[0]}.ipynb")
        parse_study(name.split(".")[0], str(path), read_params(path), defaults)


def test_unknown_profile_is_refused():
    with pytest.raises(ConfigError, match="PROFILE='quik' has no folder params/quik/; allowed: .*full"):
        reproduce.run_profile("quik", "data", "imbalance-baselines")


def test_ordered_puts_the_summary_last():
    assert reproduce.ordered(["99_summary", "01_reweighting.b", "00_datasets", "01_reweighting.a"]) == [
        "00_datasets", "01_reweighting.a", "01_reweighting.b", "99_summary"]


# -- a project of its own: two notebooks, one profile ------------------------------------------------
SMALL = {"dataset": {"name": "synthetic_lt", "num_classes": 3, "n_max": 30, "imbalance_factor": 3,
                     "val_per_class": 2, "test_per_class": 5, "seed": 2},
         "train": {"epochs": 1, "batch_size": 16, "warmup_epochs": 0, "milestones": [], "factors": [],
                   "precision": "fp32"},
         "model": "resnet8", "methods": ["CE", "Balanced Softmax"]}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder (params/mini/, notebooks/) that the package resolves as the project."""
    root = tmp_path / "project"
    (root / "params" / "mini").mkdir(parents=True)
    (root / "notebooks").mkdir()
    for name in ("01_reweighting", "99_summary"):
        shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", root / "notebooks")
    import yaml

    (root / "params" / "mini" / "01_reweighting.yaml").write_text(yaml.safe_dump(SMALL))
    (root / "params" / "mini" / "99_summary.yaml").write_text("reference_profile: mini\n")
    monkeypatch.setenv("IMBALANCE_PROJECT", str(root))
    return root


class FakeKernel:
    """Stands in for papermill: records what is executed, writes the study file 01 would write."""

    def __init__(self):
        self.executed, self.fail, self.calls = [], None, 0

    def __call__(self, notebook, output, parameters, kernel, cwd):
        self.executed.append(output.stem)
        self.calls += 1
        if output.stem == self.fail:
            error = RuntimeError("cell failed")
            error.ename, error.evalue = "DatasetError", "no cifar10 data under /x"
            raise error
        output.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nbformat.read(notebook, 4), output)
        if not output.stem.startswith("99"):
            assert parameters["study_name"] == output.stem  # the study file's name, as the notebooks use it
            (output.parent / f"{output.stem}.json").write_text(f'{{"runs": [], "rendering": {self.calls}}}')


def run(project, fake, monkeypatch, jobs="1", results=None):
    monkeypatch.setattr(reproduce, "execute", fake)
    fake.executed = []
    return reproduce.run_profile("mini", str(project / "data"), "k", jobs=jobs,
                                 results_root=results or project / "results")


def test_a_fresh_clone_with_the_results_renders_nothing(project, monkeypatch, tmp_path, capsys):
    fake = FakeKernel()
    assert run(project, fake, monkeypatch) == 0
    assert fake.executed == ["01_reweighting", "99_summary"]
    assert len(list((project / "results" / "store" / "synthetic_lt").glob("*/result.json"))) == 2  # the queue trained
    assert run(project, fake, monkeypatch, jobs="0") == 0 and fake.executed == []
    clone = tmp_path / "elsewhere" / "clone"  # another absolute path, as a fresh clone on another machine
    shutil.copytree(project, clone)
    monkeypatch.setenv("IMBALANCE_PROJECT", str(clone))
    assert run(clone, fake, monkeypatch, jobs="0") == 0 and fake.executed == []
    assert "notebooks 0 rendered, 2 up to date, 0 failed; runs 2 reused, 0 trained, 0 missing" in capsys.readouterr().out


def test_two_parameter_files_of_one_notebook_write_two_study_files(project, monkeypatch, capsys):
    """Each rendering is told its parameter file's name, which names its study file (as
    notebook.Study.tag does); a study file no parameter file writes is removed before the summary."""
    import yaml

    (project / "params" / "mini" / "01_reweighting.seeds.yaml").write_text(yaml.safe_dump({**SMALL, "seeds": [0, 1]}))
    stale = project / "results" / "mini" / "01_reweighting-synthetic_lt-IF3.json"
    stale.parent.mkdir(parents=True)
    stale.write_text('{"runs": []}')
    fake = FakeKernel()
    assert run(project, fake, monkeypatch) == 0
    assert fake.executed == ["01_reweighting", "01_reweighting.seeds", "99_summary"]
    assert sorted(p.name for p in (project / "results" / "mini").glob("*.json")) == [
        "01_reweighting.json", "01_reweighting.seeds.json"]
    assert "mini: removed 01_reweighting-synthetic_lt-IF3.json (no parameter file of the profile writes it)" in \
        capsys.readouterr().out
    from imbalance_baselines.study.notebook import Study

    parameters = {**SMALL, "profile": "mini", "results_root": str(project / "results"), "train_missing": False}
    assert Study("01_reweighting", {**parameters, "study_name": "01_reweighting.seeds"}).tag == "01_reweighting.seeds"
    assert Study("01_reweighting", parameters).tag == "01_reweighting-synthetic_lt-IF3"  # run by hand


def test_a_changed_result_rerenders_its_notebook_and_then_the_summary(project, monkeypatch):
    fake = FakeKernel()
    run(project, fake, monkeypatch)
    record = next((project / "results" / "store" / "synthetic_lt").glob("CE_*/result.json"))
    record.write_text(record.read_text().replace('"finished_at": "', '"finished_at": "2'))
    assert run(project, fake, monkeypatch, jobs="0") == 0
    assert fake.executed == ["01_reweighting", "99_summary"]  # the study file 01 rewrote changes the summary


def test_the_summary_is_not_stamped_after_a_failure(project, monkeypatch, capsys):
    fake = FakeKernel()
    run(project, fake, monkeypatch)
    (project / "params" / "mini" / "01_reweighting.yaml").write_text(
        (project / "params" / "mini" / "01_reweighting.yaml").read_text() + "# edited\n")
    fake.fail = "01_reweighting"
    assert run(project, fake, monkeypatch, jobs="0") == 1
    err = capsys.readouterr().err
    assert "mini/01_reweighting: FAILED: DatasetError: no cifar10 data under /x; see" in err
    assert "mini/99_summary: not rendered: 01_reweighting failed" in err
    assert fake.executed == ["01_reweighting"]
    fake.fail = None
    assert run(project, fake, monkeypatch, jobs="0") == 0 and fake.executed == ["01_reweighting", "99_summary"]


def test_a_bad_file_stops_everything_before_any_training_or_kernel(project, monkeypatch, capsys):
    (project / "params" / "mini" / "99_summary.yaml").write_text("reference_profil: mini\n")
    monkeypatch.setattr(reproduce, "execute", lambda *a: pytest.fail("a notebook ran"))
    monkeypatch.setattr(reproduce, "run_queue", lambda *a, **k: pytest.fail("the queue ran"))
    assert reproduce.main(["--profile", "mini", "--data-dir", str(project / "data")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: params/mini/99_summary.yaml: unknown key 'reference_profil' (did you mean "
                   "'reference_profile'?); allowed: profile, protocol_epochs, reference_profile, results_root")


def test_the_queue_command_validates_before_it_trains(project, monkeypatch, capsys):
    (project / "params" / "mini" / "01_reweighting.yaml").write_text("seeds: [0, 0]\n")
    monkeypatch.setattr(queue_cli, "run_queue", lambda *a, **k: pytest.fail("the queue ran"))
    assert queue_cli.main(["--profile", "mini", "--data-dir", str(project / "data")]) == 2
    assert "seeds=[0, 0] is out of range" in capsys.readouterr().err


def test_missing_cifar_is_named_before_anything_runs(project, monkeypatch, capsys):
    (project / "params" / "mini" / "01_reweighting.yaml").write_text("dataset: {name: cifar10_lt}\n")
    assert reproduce.main(["--profile", "mini", "--data-dir", str(project / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cifar-10-batches-py" in err and "01_reweighting.yaml" in err


# -- large-scale profiles ---------------------------------------------------------------------------
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


def test_places_lt_without_initial_weights_names_the_file(tmp_path, capsys):
    for split in ("train", "val", "test"):
        (tmp_path / f"Places_LT_{split}.txt").write_text("")
    assert reproduce.main(["--profile", "places-lt", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "resnet152_imagenet.pth") in err and "IMAGENET1K_V1" in err


def test_refreshing_an_unknown_reference_is_refused():
    with pytest.raises(ConfigError, match="'07_large_scael' is not in profile 'smoke'"):
        reproduce.refresh_references("imbalance-baselines", "07_large_scael")
