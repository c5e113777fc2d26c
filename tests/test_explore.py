"""The results explorer without a browser: loading, bad files, the table, the hints, the widget."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("agg")

from imbalance_baselines.study import explore  # noqa: E402  (after the backend is chosen)
from imbalance_baselines.study.params import train_config  # noqa: E402
from imbalance_baselines.evaluate import mean_and_interval  # noqa: E402
from conftest import record_entry  # noqa: E402


def entry(dataset: str, factor: float, method: str, seed: int, top1: float, ece: float = 0.1) -> dict:
    """A study file's run entry with the fields of the real record the explorer reads."""
    test = {"top1": top1, "balanced_accuracy": top1, "many_shot": None, "medium_shot": top1,
            "few_shot": top1 / 2, "ece": ece, "per_class_accuracy": [1.0, top1, top1 / 2]}
    return record_entry(method, seed, top1, epochs=4, factor=factor, dataset=dataset, test=test,
                        key=f"{dataset}-{method}-{seed}",
                        history=[{"epoch": 1, "loss": 1.0, "test_acc": top1}, {"epoch": 2, "loss": 0.5}])


def write_study(root: Path, profile: str, name: str, entries: list[dict]) -> Path:
    path = root / profile / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"study": name, "runs": entries}))
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """smoke/synthetic_lt IF10: CE and Focal with two seeds; quick/cifar10_lt IF100: CE, one seed."""
    runs = []
    for seed, (ce, focal) in enumerate([(0.50, 0.70), (0.60, 0.74)]):
        runs += [entry("synthetic_lt", 10, "CE", seed, ce, ece=0.3), entry("synthetic_lt", 10, "Focal", seed, focal, ece=0.2)]
    write_study(tmp_path, "smoke", "01_reweighting-synthetic_lt-IF10", runs)
    write_study(tmp_path, "quick", "01_reweighting-cifar10_lt-IF100", [entry("cifar10_lt", 100, "CE", 0, 0.70)])
    return tmp_path


def test_load_results_reads_every_run_in_percent(tree):
    runs, skipped = explore.load_results(tree)
    assert skipped == []
    assert len(runs) == 5
    assert set(runs["profile"]) == {"smoke", "quick"}
    focal = runs[(runs["method"] == "Focal") & (runs["seed"] == 1)].iloc[0]
    assert focal["top1"] == pytest.approx(74.0) and focal["few_shot"] == pytest.approx(37.0)
    assert math.isnan(focal["many_shot"])  # an empty group is NaN, not 0


def test_stage2_results_with_the_same_key_beside_two_bases_are_two_runs(tmp_path):
    """A stage-2 key is unique only beside its base run (the store's layout): both are shown."""
    both = [{**entry(dataset, 100, "cRT", 0, 0.7), "key": "stage2-crt-1", "folder": f"../store/{dataset}/CE-0"}
            for dataset in ("cifar10_lt", "cifar100_lt")]
    write_study(tmp_path, "full", "04_decoupling", both)
    runs, _ = explore.load_results(tmp_path)
    assert sorted(runs["dataset"]) == ["cifar100_lt", "cifar10_lt"]


def test_a_run_listed_by_two_studies_under_two_names_is_one_row(tmp_path):
    ce = {**entry("cifar10_lt", 100, "CE", 0, 0.7), "folder": "../store/cifar10_lt/CE-0"}
    write_study(tmp_path, "full", "01_reweighting", [ce])
    write_study(tmp_path, "full", "90_precision", [{**ce, "method": "CE (fp32)"}])
    runs, _ = explore.load_results(tmp_path)
    assert list(runs["method"]) == ["CE"]


def test_bad_files_are_skipped_with_a_note_naming_them(tree):
    half = write_study(tree, "smoke", "02_half", [entry("synthetic_lt", 10, "LDAM", 0, 0.5)])
    half.write_text(half.read_text()[:40])  # a half-written file
    old = {**entry("synthetic_lt", 10, "Old", 0, 0.5), "schema": 1}
    broken = {**entry("synthetic_lt", 10, "Broken", 0, 0.5), "test": {}}
    stopped = entry("synthetic_lt", 10, "Stopped", 0, 0.5)
    stopped.update(status="stopped", test=None, error="loss is not finite")
    mixed = write_study(tree, "smoke", "03_mixed", [old, broken, stopped])
    runs, skipped = explore.load_results(tree)
    assert len(runs) == 5
    assert len(skipped) == 4
    assert skipped[0].startswith(str(half)) and "half-written" in skipped[0]
    assert all(note.startswith(str(mixed)) for note in skipped[1:])
    assert "Stopped stopped (loss is not finite)" in skipped[3]


def test_empty_or_missing_root_gives_no_runs(tmp_path):
    runs, skipped = explore.load_results(tmp_path / "nothing")
    assert runs.empty and skipped == []


def test_comparison_table_mean_and_ci_over_seeds(tree):
    runs, _ = explore.load_results(tree)
    chosen = explore.select(runs, "synthetic_lt", 10.0, "smoke")
    table = explore.comparison_table(chosen, "top1")
    assert list(table["method"]) == ["Focal", "CE"]
    expected = mean_and_interval([70.0, 74.0])
    assert table.loc[0, "mean"] == pytest.approx(expected["mean"])
    assert table.loc[0, "ci95"] == pytest.approx(expected["ci95"])
    assert list(explore.comparison_table(chosen, "ece")["method"]) == ["Focal", "CE"]  # lowest first
    shown = explore.formatted(table, "top1")
    assert shown.loc["Focal", "top-1 (%, mean ± 95% CI)"] == f"72.0 ± {expected['ci95']:.1f}"
    single = explore.formatted(explore.comparison_table(explore.select(runs, "cifar10_lt", 100.0, "quick"),
                                                        "many_shot"), "many_shot")
    assert single.iloc[0, -1].startswith("no value")


def test_select_restricts_to_the_methods(tree):
    runs, _ = explore.load_results(tree)
    assert set(explore.select(runs, "synthetic_lt", 10.0, "smoke", ["CE"])["method"]) == {"CE"}
    assert explore.select(runs, "synthetic_lt", 10.0, "quick").empty


def test_missing_message_names_the_command():
    assert "`make reproduce PROFILE=quick`" in explore.missing_message("cifar10_lt", 100.0, "quick")
    other = explore.missing_message("cifar100_lt", 50.0, "quick")
    assert "does not include" in other and "`make reproduce PROFILE=full`" in other
    assert "no profile includes it" in explore.missing_message("cifar10_lt", 7.0, "quick")
    assert "train and compare" in explore.missing_message("synthetic_lt", 10.0, explore.TRY_PROFILE)


def test_recipe_params_follow_the_registered_methods():
    config = train_config("test", explore.TRY_TRAIN)
    assert explore.recipe_params("ldam", "instance", config)["model_params"]["head"] == "cosine"
    drw = explore.recipe_params("ce_drw", "progressive", config)
    assert drw["loss_params"] == {"drw_epoch": config.milestones[0]}
    assert drw["sampler_params"] == {"total_epochs": config.epochs}
    assert explore.recipe_params("softmax_focal", "instance", config) == {}


@pytest.fixture
def shown(monkeypatch):
    """What the explorer displays, as a list of objects (no kernel needed)."""
    displayed: list = []
    monkeypatch.setattr(explore, "display", lambda *objects: displayed.extend(objects))
    return displayed


def text_of(displayed: list) -> str:
    return "\n".join(getattr(o, "data", None) or (o.to_string() if hasattr(o, "to_string") else "")
                     for o in displayed)


def test_explorer_redraws_on_every_control(tree, shown):
    explorer = explore.Explorer(tree)
    assert [c.description for c in (explorer.dataset, explorer.factor, explorer.profile,
                                    explorer.methods, explorer.metric)] == [
        "dataset", "imbalance factor", "profile", "methods", "metric"]
    assert (explorer.profile.value, explorer.dataset.value, explorer.factor.value) == (
        "smoke", "synthetic_lt", 10.0)  # the combination with the most runs
    assert explorer.methods.value == ("CE", "Focal")
    assert "Focal" in text_of(shown) and "4 runs" in text_of(shown)
    shown.clear()
    explorer.methods.value = ("CE",)
    assert "Focal" not in text_of(shown) and "2 runs" in text_of(shown)
    shown.clear()
    explorer.dataset.value = "cifar10_lt"
    assert "`make reproduce PROFILE=full`" in text_of(shown)  # cifar10_lt IF10 is in the full profile
    shown.clear()
    explorer.factor.value, explorer.profile.value = 100.0, "quick"
    assert "70.0 one seed" in text_of(shown)


def test_explorer_without_results_says_how_to_make_some(tmp_path, shown):
    explorer = explore.Explorer(tmp_path)
    assert "make reproduce PROFILE=smoke" in text_of(shown)
    assert explorer.notes.value == ""


def test_explorer_warns_about_a_corrupted_file(tree, shown):
    broken = tree / "smoke" / "01_reweighting-synthetic_lt-IF10.json"
    document = json.loads(broken.read_text())
    document["runs"][0]["test"] = {}  # CE seed 0: not a complete record any more
    broken.write_text(json.dumps(document))
    explorer = explore.Explorer(tree)
    assert str(broken) in explorer.notes.value and "⚠" in explorer.notes.value
    assert "3 runs" in text_of(shown)


@pytest.mark.slow
def test_try_method_trains_and_joins_the_comparison(tmp_path, shown):
    explorer = explore.Explorer(tmp_path)
    explorer.loss.value, explorer.sampler.value = "focal", "class_balanced"
    explorer.train.click()
    assert (explorer.profile.value, explorer.dataset.value) == (explore.TRY_PROFILE, "synthetic_lt")
    assert set(explorer.methods.value) == {"CE", "try: focal + class_balanced"}
    assert "try: focal + class_balanced" in text_of(shown)
    runs, skipped = explore.load_results(tmp_path)
    assert skipped == [] and len(runs) == 2 and set(runs["epochs"]) == {explore.TRY_TRAIN["epochs"]}
    assert explore.try_method("focal", "class_balanced", tmp_path) == "try: focal + class_balanced"  # cached
