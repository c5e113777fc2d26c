"""Study-level reporting: wall time of a one-pass study and the wording of the conclusion."""

import pandas as pd
import pytest

from imbalance_baselines import report


def _run(*stretches):
    return {"training": {"stretches": [{"from_epoch": a, "to_epoch": b, "seconds": s, "cpu_capability": "AVX2"}
                                       for a, b, s in stretches]}}


def test_wall_seconds_counts_a_shared_pass_once():
    # Three runs of one pass (epochs 0-20 in 100 s), resumed for 20-40 (50 s); a fourth run alone (7 s).
    runs = [_run((0, 20, 100.0), (20, 40, 50.0))] * 3 + [_run((0, 5, 7.0))]
    assert report.wall_seconds(runs) == pytest.approx(157.0)
    assert report.wall_seconds([]) == 0.0


def test_conclusion_separates_clear_gains_from_noise():
    table = pd.DataFrame({"top-1": [50.0, 50.5, 53.0, 45.0], "seeds": [1, 1, 1, 1]},
                         index=["CE", "A", "B", "C"])
    text = report.conclusion(table)
    assert "Best top-1: **B** with 53.0%" in text
    assert "1 of 3 methods higher by more than 2 points, 1 within 2 points, 1 lower by more" in text
    assert "+3.0 points" in text and "One seed per method" in text
