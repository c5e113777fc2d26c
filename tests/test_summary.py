"""The summary tables against values computed by hand from hand-written study files."""

import json
import math

import pandas as pd
import pytest

from imbalance_baselines import summary


def _run(method, seed, top1, epochs=200, factor=100, dataset="cifar10_lt", folder=None, status="finished",
         precision="fp32", capability="AVX512"):
    return {"method": method, "seed": seed, "status": status, "folder": folder or f"{method}-{seed}",
            "data": {"name": dataset, "imbalance_factor": factor}, "config": {"epochs": epochs},
            "test": {"top1": top1, "many_shot": 0.9, "medium_shot": None, "few_shot": 0.3, "ece": 0.1},
            "training": {"precision": precision,
                         "stretches": [{"cpu_capability": capability, "seconds": 1800.0}]}}


def _write(folder, name, runs):
    (folder / name).write_text(json.dumps({"name": name, "runs": runs}))


def test_finished_runs_counts_a_shared_run_once_and_skips_unfinished_and_corrupt(tmp_path):
    _write(tmp_path, "a.json", [_run("CE", 0, 0.70), _run("CE-DRW", 0, 0.75, status="running")])
    _write(tmp_path, "b.json", [_run("CE", 0, 0.70)])  # the same CE run listed by a second study
    (tmp_path / "c.json").write_text('{"runs": [')
    with pytest.warns(UserWarning, match="c.json"):
        runs = summary.finished_runs(tmp_path)
    assert list(runs["method"]) == ["CE"]
    row = runs.iloc[0]
    assert row["top1"] == pytest.approx(70.0) and math.isnan(row["medium"]) and row["few"] == pytest.approx(30.0)
    assert row["train_hours"] == pytest.approx(0.5) and row["machines"] == ["AVX512"]


def test_leaderboard_mean_and_t_interval_by_hand(tmp_path):
    _write(tmp_path, "s.json", [_run("CE", 0, 0.70), _run("CE", 1, 0.72), _run("CE", 2, 0.74),
                                _run("LDAM-DRW", 0, 0.77)])
    board = summary.leaderboard(summary.finished_runs(tmp_path))
    assert list(board["method"]) == ["LDAM-DRW", "CE"]  # best first
    ce = board.set_index("method").loc["CE"]
    # mean 72, sample sd 2, t(0.975, df=2) = 4.3027 (tabulated to 3 decimals): 4.3027 * 2 / sqrt(3)
    assert ce["top-1"] == pytest.approx(72.0) and ce["seeds"] == 3
    assert ce["±95%"] == pytest.approx(4.302653 * 2 / math.sqrt(3), rel=1e-4)


@pytest.mark.parametrize("difference, epoch, words", [
    (1.99, "final", "reproduced"), (-2.0, "final", "reproduced"), (2.5, "final", "ours higher by 2.5"),
    (-3.25, "best", "ours lower by 3.2"),
])
def test_verdict_threshold_and_direction(difference, epoch, words):
    text = summary.verdict(difference, epoch)
    assert text.startswith(words)
    assert ("best test epoch" in text) == (epoch == "best")


def test_published_vs_ours_matches_method_dataset_and_factor_only(tmp_path):
    _write(tmp_path, "s.json", [_run("CE", 0, 0.70), _run("CE", 0, 0.50, epochs=20, folder="short")])
    comparison = summary.published_vs_ours(summary.finished_runs(tmp_path), protocol_epochs=200)
    published = summary.published_numbers()
    expected = published[(published["method"] == "CE") & (published["dataset"] == "cifar10_lt")
                         & (published["imbalance_factor"] == 100)]
    assert len(comparison) == len(expected) > 0  # the 20-epoch run is not compared
    assert (comparison["ours"] == 70.0).all()
    assert sorted(comparison["difference"]) == pytest.approx(sorted(70.0 - expected["top1"]))


def test_group_caption_names_seeds_precision_and_machine(tmp_path):
    _write(tmp_path, "s.json", [_run("CE", 0, 0.7), _run("CE", 1, 0.7, capability="AVX2"),
                                _run("Focal", 0, 0.6, precision="bf16")])
    caption = summary.group_caption(summary.finished_runs(tmp_path), "cifar10_lt", 100, "full")
    assert caption == ("cifar10_lt IF100, profile full, 200 epochs, 1-2 seed(s) per method, "
                       "bf16/fp32 on AVX2, AVX512")


def test_a_fixed_split_without_imbalance_factor_is_its_own_group(tmp_path):
    _write(tmp_path, "s.json", [_run("CE", 0, 0.7), _run("CE", 0, 0.4, factor=None, dataset="imagenet_lt",
                                                       folder="large")])
    runs = summary.finished_runs(tmp_path)
    board = summary.leaderboard(runs)
    keys = [key for key, _ in summary.groups(board)]
    assert sorted(keys, key=str) == sorted([("cifar10_lt", 100), ("imagenet_lt", None)], key=str)
    assert summary.figure_name("imagenet_lt", None) == "99_summary-imagenet_lt"
    assert summary.figure_name("cifar10_lt", 100) == "99_summary-cifar10_lt-IF100"
    caption = summary.group_caption(runs, "imagenet_lt", None, "full")
    assert caption.startswith("imagenet_lt, profile full, 200 epochs, 1 seed(s)")
    assert "- imagenet_lt, 200 epochs (full): best **CE** 40.0%" in summary.conclusion(board, pd.DataFrame(), "full")


def test_mixed_schedules_share_a_group_with_epochs_in_the_labels(tmp_path):
    _write(tmp_path, "s.json", [_run("CE", 0, 0.50, epochs=20), _run("LDAM", 0, 0.55, epochs=20),
                                _run("CBD", 0, 0.69, epochs=5)])
    board = summary.leaderboard(summary.finished_runs(tmp_path))
    [((name, factor), part)] = summary.groups(board)
    assert summary.labels(part) == ["CBD (5 ep.)", "LDAM (20 ep.)", "CE (20 ep.)"]  # best first
    assert summary.epochs_text(part) == "5 / 20 epochs"
    assert summary.baseline(part, "CE") == pytest.approx(50.0) and summary.baseline(part, "Focal") is None
    text = summary.conclusion(board, pd.DataFrame(), "quick")
    assert "- cifar10_lt IF100, 5 / 20 epochs (quick): best **CBD (5 ep.)** 69.0% (CE 50.0%) among 3" in text
    one = board[board["method"] != "CBD"]
    assert summary.labels(one) == ["LDAM", "CE"] and summary.epochs_text(one) == "20 epochs"


def test_conclusion_states_only_what_the_tables_show():
    board = pd.DataFrame([{"dataset": "cifar10_lt", "imbalance_factor": 100, "epochs": 20, "method": "BS",
                           "top-1": 56.7}, {"dataset": "cifar10_lt", "imbalance_factor": 100, "epochs": 20,
                                            "method": "CE", "top-1": 50.6}])
    text = summary.conclusion(board, pd.DataFrame(), "quick")
    assert "best **BS** 56.7% (CE 50.6%) among 2 methods" in text
    assert "No paper-protocol reference run has finished" in text
