"""Study tables and conclusions from records: seed intervals, paired differences, wording, wall time."""

import math
from types import SimpleNamespace

import pytest

from imbalance_baselines.study import report, stats
from imbalance_baselines.study.notebook import StudyResults
from imbalance_baselines.study.record import RunRecord, Stretch

T975_DF2 = 4.302653  # evaluate.mean_and_interval tabulates it to 3 decimals (4.303): compare to 1e-3


def record(seed, top1, status="finished", stretches=((0, 4, 10.0),), precision="fp32"):
    return RunRecord(status=status, name=f"m [seed {seed}]", key=f"k{seed}{top1}", run={"seed": seed},
                     config={"epochs": 4}, data={"name": "d", "train_counts": [5, 1]}, history=[],
                     stretches=[Stretch(a, b, s, precision, cpu_capability="AVX2") for a, b, s in stretches],
                     test={"top1": top1, "ece": 0.1} if status == "finished" else None,
                     error=None if status == "finished" else "loss is not finite at epoch 3")


def test_wall_seconds_counts_a_shared_pass_once():
    # Three runs of one pass (epochs 0-20 in 100 s), resumed for 20-40 (50 s); a fourth run alone (7 s).
    runs = [record(0, 0.5, stretches=((0, 20, 100.0), (20, 40, 50.0)))] * 3 + [record(1, 0.5, stretches=((0, 5, 7.0),))]
    assert report.wall_seconds(runs) == pytest.approx(157.0)
    assert report.wall_seconds([]) == 0.0


def test_table_gives_intervals_paired_differences_and_marks_missing_and_stopped():
    results = {("CE", 0): record(0, 0.70), ("CE", 1): record(1, 0.72), ("CE", 2): record(2, 0.74),
               ("A", 0): record(0, 0.73), ("A", 1): record(1, 0.74), ("A", 2): record(2, 0.78),
               ("B", 0): record(0, 0.80), ("B", 1): None,
               ("C", 0): record(0, 0.1, status="stopped")}
    table = report.results_table(results)
    assert table.loc["CE", "top-1"] == pytest.approx(72.0)
    assert table.loc["CE", "±95%"] == pytest.approx(T975_DF2 * 2 / math.sqrt(3), rel=1e-3)
    assert table.loc["A", "Δ vs CE"] == pytest.approx(3.0) and table.loc["A", "verdict"] == "better"
    assert table.loc["B", "runs"] == "1 of 2" and table.loc["B", "seeds"] == 1
    assert math.isnan(table.loc["B", "±95%"])  # one seed: no interval
    assert table.loc["B", "verdict"] == "cannot tell"
    assert table.loc["C", "note"] == "stopped: loss is not finite at epoch 3" and table.loc["C", "seeds"] == 0


@pytest.mark.parametrize("values, baseline, expected", [
    ({0: 73.0, 1: 74.0, 2: 78.0}, {0: 70.0, 1: 72.0, 2: 74.0}, "better"),     # 3 ± 2.48
    ({0: 67.0, 1: 70.0, 2: 70.0}, {0: 70.0, 1: 72.0, 2: 74.0}, "worse"),      # -3 ± 2.48
    ({0: 71.0, 1: 70.0, 2: 77.0}, {0: 70.0, 1: 72.0, 2: 74.0}, "cannot tell"),  # 0.67 ± 6.3
    ({0: 90.0}, {0: 70.0}, "cannot tell"),                                       # one seed
    ({0: 73.0, 1: 74.0, 5: 99.0}, {0: 70.0, 1: 72.0}, "cannot tell"),  # common seeds 0, 1: 2.5 ± 6.35 (df 1)
])
def test_verdict_needs_the_paired_interval_to_exclude_zero(values, baseline, expected):
    difference = stats.paired_difference(values, baseline)
    assert stats.verdict(difference) == expected


def test_paired_difference_by_hand():
    difference = stats.paired_difference({0: 73.0, 1: 74.0, 2: 78.0}, {0: 70.0, 1: 72.0, 2: 74.0})
    assert difference["mean"] == pytest.approx(3.0) and difference["n"] == 3 and difference["seeds"] == [0, 1, 2]
    assert difference["ci95"] == pytest.approx(T975_DF2 / math.sqrt(3), rel=1e-3)


def test_verdict_words_say_cannot_tell_and_give_the_interval():
    close = stats.paired_difference({0: 71.0, 1: 70.0, 2: 77.0}, {0: 70.0, 1: 72.0, 2: 74.0})
    text = stats.verdict_words("A", "CE", close)
    assert text.startswith("A - CE: +0.7 ± 6.3 points of top-1 (paired over 3 seeds, 95% t-interval)")
    assert text.endswith("the interval contains 0, so the study cannot tell A from CE.")
    single = stats.verdict_words("B", "CE", stats.paired_difference({0: 90.0}, {0: 70.0}))
    assert "one seed gives no interval, so the study cannot tell" in single
    assert stats.mean_text({"mean": 71.25, "ci95": float("nan"), "n": 1}) == "71.2 (1 seed)"
    assert stats.mean_text({"mean": 71.25, "ci95": 0.81, "n": 3}) == "71.2 ± 0.8 (3 seeds)"


def test_conclusion_names_ties_and_never_calls_a_single_seed_better():
    results = {("CE", 0): record(0, 0.70), ("A", 0): record(0, 0.75), ("B", 0): record(0, 0.75)}
    table = report.results_table(results)
    text = report.conclusion(table, results)
    assert "Highest mean top-1: **A** 75.0% (tied: A, B)" in text
    assert "better 0, worse 0, cannot tell 2" in text
    assert "2 method(s) have one seed in common with CE (A, B)" in text


def test_conclusion_reports_paired_verdicts_with_several_seeds():
    results = {("CE", s): record(s, v) for s, v in enumerate((0.70, 0.72, 0.74))}
    results.update({("A", s): record(s, v) for s, v in enumerate((0.73, 0.74, 0.78))})
    text = report.conclusion(report.results_table(results), results)
    assert "better 1, worse 0, cannot tell 0 (paired 95% intervals over seeds): A better." in text
    assert "A - CE: +3.0 ± 2.5 points of top-1 (paired over 3 seeds, 95% t-interval); A is better than CE." in text


def test_caption_names_a_weight_decay_other_than_the_protocols():
    plain, heavy = record(0, 0.5), record(1, 0.4)
    heavy.config = {"epochs": 4, "weight_decay": 5e-3}  # weight balancing's stage 1
    assert "weight decay" not in report.caption([plain], "quick")
    text = report.caption([heavy], "quick")
    assert "4 epochs, weight decay 0.005, final epoch" in text
    assert "weight decay 0.0002/0.005" in report.caption([plain, heavy], "quick")


def test_the_one_seed_figures_caption_names_only_the_seed_they_show():
    results = StudyResults(SimpleNamespace(profile="full"),
                           {("CE", 1): record(1, 0.72), ("CE", 0): record(0, 0.70), ("A", 2): record(2, 0.71),
                            ("A", 0): None})
    assert {m: r.seed for m, r in results.first().items()} == {"CE": 0, "A": 2}
    assert "seeds [0, 1, 2]" in results.caption()
    text = results.first_caption()
    assert "seeds [0, 2]" in text and text.endswith("; each method's lowest finished seed")
