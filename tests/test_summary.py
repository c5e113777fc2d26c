"""The summary tables against values computed by hand from hand-written study files."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from conftest import record_entry
from imbalance_baselines.study import summary

T975 = {2: 4.302653, 3: 3.182446}  # Student t quantiles, 0.975, df = 2 and 3


def _write(folder, name, runs):
    (folder / name).write_text(json.dumps({"study": name, "runs": runs}))


def test_finished_runs_counts_a_shared_run_once_and_skips_unfinished_and_corrupt(tmp_path):
    _write(tmp_path, "a.json", [record_entry("CE", 0, 0.70), record_entry("CE-DRW", 0, 0.75, status="stopped")])
    _write(tmp_path, "b.json", [record_entry("CE", 0, 0.70)])  # the same CE run listed by a second study
    _write(tmp_path, "p.json", [{**record_entry("CE (fp32)", 0, 0.70, key="CE-0-200-cifar10_lt"),
                                 "folder": "runs/CE-0"}])  # and under another name
    # Stage 2 on two bases: the same stage-2 key beside each base run, two results.
    _write(tmp_path, "s.json", [{**record_entry("cRT", seed, 0.72, key="stage2-crt-1"), "folder": f"runs/CE-{seed}"}
                                for seed in (0, 1)])
    (tmp_path / "c.json").write_text('{"runs": [')
    with pytest.warns(UserWarning, match="c.json"):
        runs = summary.finished_runs(tmp_path)
    assert list(runs["method"]) == ["CE", "cRT", "cRT"]
    row = runs.iloc[0]
    assert row["top1"] == pytest.approx(70.0) and math.isnan(row["medium"]) and row["few"] == pytest.approx(30.0)
    assert row["train_hours"] == pytest.approx(0.5) and row["machines"] == ["AVX512 x2"]


def test_leaderboard_mean_interval_and_paired_difference_by_hand(tmp_path):
    # CE 70, 72, 74; LDAM-DRW 73, 74, 78: differences 3, 2, 4 -> mean 3, sd 1.
    _write(tmp_path, "s.json", [record_entry("CE", s, v) for s, v in enumerate((0.70, 0.72, 0.74))]
           + [record_entry("LDAM-DRW", s, v) for s, v in enumerate((0.73, 0.74, 0.78))]
           + [record_entry("Focal", 0, 0.80)])
    board = summary.leaderboard(summary.finished_runs(tmp_path)).set_index("method")
    assert list(board.index) == ["Focal", "LDAM-DRW", "CE"]  # best mean first
    ce, ldam = board.loc["CE"], board.loc["LDAM-DRW"]
    assert ce["top-1"] == pytest.approx(72.0) and ce["seeds"] == 3
    assert ce["±95%"] == pytest.approx(T975[2] * 2 / math.sqrt(3), rel=1e-4)
    assert ldam["Δ vs CE"] == pytest.approx(3.0)
    assert ldam["Δ ±95%"] == pytest.approx(T975[2] * 1 / math.sqrt(3), rel=1e-4)  # 2.48: excludes 0
    assert ldam["verdict"] == "better"
    assert board.loc["Focal", "verdict"] == "cannot tell"  # one seed: no interval, however large the gap


def test_one_method_name_with_two_recipes_is_two_rows_never_pooled_seeds(tmp_path):
    def ce(seed, top1, weight_decay, key):
        entry = record_entry("CE", seed, top1, key=key)
        entry["config"] = {"epochs": 200, "weight_decay": weight_decay, "eval_every": 10}
        return entry

    # CE at weight decay 2e-4, seeds 0-2 (70, 72, 74), and the weight-balancing study's CE stage 1
    # at 5e-3, seed 0 (40): pooled, CE would read 64 over "4 seeds" with seed 0 twice.
    runs = [ce(s, v, 2e-4, f"ce-{s}") for s, v in enumerate((0.70, 0.72, 0.74))] + [ce(0, 0.40, 5e-3, "wb-0")]
    runs[1]["config"]["eval_every"] = 5  # bookkeeping only: the same recipe
    _write(tmp_path, "s.json", runs)
    board = summary.leaderboard(summary.finished_runs(tmp_path)).set_index("method")
    assert board.loc["CE", "seeds"] == 3 and board.loc["CE", "top-1"] == pytest.approx(72.0)
    other = board.loc["CE (weight_decay 0.005)"]
    assert other["seeds"] == 1 and other["top-1"] == pytest.approx(40.0) and other["Δ vs CE"] == pytest.approx(-30.0)


def test_seeds_pool_whatever_precision_they_trained_in_and_a_same_seed_precision_twin_is_apart(tmp_path):
    def ce(seed, top1, requested, used):
        entry = record_entry("CE", seed, top1, precision=used, key=f"ce-{seed}-{requested}-{used}")
        entry["config"] = {"epochs": 200, "precision": requested}
        return entry

    # Seed 0 asked for fp32; seed 1 asked for "auto" on an AVX2 machine (fp32), seed 2 on a bf16
    # machine: three seeds of one recipe, as the store counts them, mean (70 + 72 + 77) / 3 = 73.
    # Seed 0 again, asked for bf16: not a fourth seed (pooled, seed 0 would count twice) but its own row.
    _write(tmp_path, "s.json", [ce(0, 0.70, "fp32", "fp32"), ce(1, 0.72, "auto", "fp32"), ce(2, 0.77, "auto", "bf16"),
                                ce(0, 0.60, "bf16", "bf16")])
    board = summary.leaderboard(summary.finished_runs(tmp_path)).set_index("method")
    assert board.loc["CE", "seeds"] == 3 and board.loc["CE", "top-1"] == pytest.approx(73.0)
    assert board.loc["CE", "precision"] == "bf16/fp32"  # the pooled precisions are said, not hidden
    twin = board.loc["CE (precision bf16)"]
    assert twin["seeds"] == 1 and twin["top-1"] == pytest.approx(60.0) and twin["Δ vs CE"] == pytest.approx(-10.0)


def test_the_leaderboard_names_stage_2_epochs(tmp_path):
    crt = {**record_entry("cRT", 0, 0.75, key="stage2-crt"),
           "stage2": {"method": "cRT", "params": {"epochs": 10}, "seed": 0, "info": {}, "base": "CE-0"}}
    _write(tmp_path, "s.json", [record_entry("CE", 0, 0.70), crt])
    board = summary.leaderboard(summary.finished_runs(tmp_path)).set_index("method")
    assert board.loc["cRT", "stage-2 epochs"] == 10 and math.isnan(board.loc["CE", "stage-2 epochs"])


def test_boards_of_other_budgets_are_other_boards(tmp_path):
    _write(tmp_path, "s.json", [record_entry("CE", 0, 0.70), record_entry("CE", 0, 0.50, epochs=20, key="short"),
                                record_entry("CE", 0, 0.40, factor=None, dataset="imagenet_lt", key="large")])
    board = summary.leaderboard(summary.finished_runs(tmp_path))
    keys = [key for key, _ in summary.groups(board)]
    assert keys == [("cifar10_lt", 100.0, 20), ("cifar10_lt", 100.0, 200), ("imagenet_lt", None, 200)]
    assert summary.figure_name("imagenet_lt", None, 200) == "99_summary-imagenet_lt-200ep"
    assert summary.setting_name("cifar10_lt", 100.0, 20) == "cifar10_lt IF100, 20 epochs"


def test_noise_floor_is_ces_seed_spread(tmp_path):
    _write(tmp_path, "s.json", [record_entry("CE", s, v, epochs=20) for s, v in enumerate((0.42, 0.50, 0.45))])
    floor = summary.noise_floors(summary.finished_runs(tmp_path)).iloc[0]
    assert floor["seeds"] == 3 and floor["range"] == pytest.approx(8.0)
    assert floor["sd"] == pytest.approx(pd.Series([42.0, 50.0, 45.0]).std())


def test_group_caption_names_final_epoch_seeds_precision_machine_and_code(tmp_path):
    _write(tmp_path, "s.json", [record_entry("CE", 0, 0.7), record_entry("CE", 1, 0.7, capability="AVX2"),
                                record_entry("Focal", 0, 0.6, precision="bf16")])
    caption = summary.group_caption(summary.finished_runs(tmp_path), "cifar10_lt", 100, 200, "full")
    assert caption == ("cifar10_lt IF100, 200 epochs, final epoch, profile full, 1-2 seed(s) per method, "
                       "bf16/fp32 on AVX2 x2, AVX512 x2, code abc")


def test_published_vs_ours_compares_only_the_same_protocol(tmp_path):
    _write(tmp_path, "s.json", [record_entry("CE", 0, 0.70), record_entry("CE", 1, 0.72),
                                record_entry("CE", 0, 0.50, epochs=20, key="short")])
    comparison = summary.published_vs_ours(summary.finished_runs(tmp_path), protocol_epochs=200)
    published = summary.published_numbers()
    cell = published[(published["method"] == "CE") & (published["dataset"] == "cifar10_lt")
                     & (published["imbalance_factor"] == 100)]
    primary = cell[cell["primary"] == True].iloc[0]  # noqa: E712
    assert primary["protocol_match"] == "same"
    row = comparison.iloc[0]
    assert len(comparison) == 1 and row["ours"] == pytest.approx(71.0) and row["seeds"] == 2  # 20 epochs not compared
    assert row["published (same protocol)"] == primary["top1"]
    assert row["difference"] == pytest.approx(71.0 - primary["top1"])
    others = cell[cell["protocol_match"] != "same"]
    for _, other in others.iterrows():
        assert other["protocol_difference"] in row["other protocols (not compared)"]


def test_a_gap_is_explained_by_the_best_epoch_only_with_evidence():
    ours = pd.DataFrame({"best_evaluated": [76.0]})
    assert summary.gap_reason(ours, 77.0, "best").startswith("the paper reports its best test epoch; our best")
    assert summary.gap_reason(ours, 80.0, "best") == "unexplained"  # 4 points away even at our best epoch
    assert summary.gap_reason(ours, 77.0, "final") == "unexplained"


def test_agreement_counts_within_one_point_per_method():
    # LDAM-DRW: 43.04 (a float32 fraction read back in percent) against 42.04 published.
    ours = 100 * float(np.float32(0.4304))
    comparison = pd.DataFrame({"method": ["CE", "CE", "Focal", "LDAM-DRW", "LDAM-DRW"],
                               "difference": [0.9, -1.5, -1.0, ours - 42.04, 1.01]})
    table = summary.agreement(comparison)
    assert table.loc["CE", "compared"] == 2 and table.loc["CE", "within_1_point"] == 1
    assert table.loc["Focal", "within_1_point"] == 1  # exactly 1.0 counts
    assert ours - 42.04 > 1.0 and table.loc["LDAM-DRW", "within_1_point"] == 1  # so does 1.0 after float32


def test_conclusion_states_the_noise_floor_and_the_verdicts(tmp_path):
    _write(tmp_path, "s.json", [record_entry("CE", s, v) for s, v in enumerate((0.70, 0.72, 0.74))]
           + [record_entry("LDAM-DRW", s, v) for s, v in enumerate((0.73, 0.74, 0.78))])
    runs = summary.finished_runs(tmp_path)
    text = summary.conclusion(summary.leaderboard(runs), summary.noise_floors(runs), pd.DataFrame(), "full")
    assert "CE over 3 seeds has sd 2.00 and range 4.0 points" in text
    assert "better 1, worse 0, cannot tell 0 (better: LDAM-DRW)" in text
    assert "No finished 200-epoch run has a same-protocol published number yet." in text
    assert "no ranking of methods is drawn" in text  # sd 2.00 > 1.5 points


def test_conclusion_says_a_one_seed_noise_floor_is_not_measured(tmp_path):
    _write(tmp_path, "s.json", [record_entry("CE", 0, 0.70), record_entry("LDAM-DRW", 0, 0.76)])
    runs = summary.finished_runs(tmp_path)
    text = summary.conclusion(summary.leaderboard(runs), summary.noise_floors(runs), pd.DataFrame(), "full")
    assert "Noise floor, cifar10_lt IF100, 200 epochs: not measured yet (CE has one seed" in text
    assert "2 methods; against CE better 0, worse 0, cannot tell 1; 1 with one seed, which cannot be told" in text
