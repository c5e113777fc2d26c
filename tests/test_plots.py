"""Plots that do not mislead (issue 17): no interval drawn for one seed, identical lines said to
coincide, per-class ticks naming classes and sizes, a placeholder instead of an empty axis."""

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from imbalance_baselines.study import plots  # noqa: E402


def test_a_one_seed_method_gets_a_hollow_dot_and_no_interval():
    table = pd.DataFrame({"top-1": [47.0, 50.0], "±95%": [2.7, np.nan], "seeds": [5, 1]}, index=["CE", "Focal"])
    ax = plots.method_comparison(table, baseline="CE").axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["CE", "Focal (1 seed)"]
    intervals = [line for line in ax.get_lines() if len(line.get_xdata()) == 2 and line.get_linestyle() == "-"]
    assert len(intervals) == 1 and np.allclose(intervals[0].get_xdata(), [47.0 - 2.7, 47.0 + 2.7])
    dots = {tuple(np.ravel(line.get_ydata())): line.get_markerfacecolor() for line in ax.get_lines()
            if line.get_marker() == "o"}
    assert dots[(1,)] == "white" and dots[(0,)] != "white"
    # Every dot lies inside the axes with room around it (two rows once drew dots cut by the frame).
    (left, right), (bottom, top) = ax.get_xlim(), ax.get_ylim()
    assert left < 47.0 - 2.7 and right > 50.0 and bottom >= 1.5 and top <= -0.5


def test_an_interval_past_0_or_100_percent_is_cut_there_with_an_arrowhead():
    # Two seeds each: 53 +- 48 runs to 101, 20 +- 41 to -21; cut at 100 and at 0.
    table = pd.DataFrame({"top-1": [47.0, 53.0, 20.0], "±95%": [2.7, 48.0, 41.0], "seeds": [5, 2, 2]},
                         index=["CE", "MiSLAS", "CE-DRW + SAM"])
    ax = plots.method_comparison(table, baseline="CE").axes[0]
    intervals = [list(line.get_xdata()) for line in ax.get_lines()
                 if len(line.get_xdata()) == 2 and line.get_linestyle() == "-"]
    assert np.allclose(intervals, [[44.3, 49.7], [5.0, 100.0], [0.0, 61.0]])
    arrows = {line.get_marker(): (float(np.ravel(line.get_xdata())[0]), float(np.ravel(line.get_ydata())[0]))
              for line in ax.get_lines() if line.get_marker() in ("<", ">")}
    assert arrows == {">": (100.0, 1.0), "<": (0.0, 2.0)}
    left, right = ax.get_xlim()
    assert -3.0 <= left < 0.0 and 100.0 < right <= 103.0
    assert "arrowhead" in ax.get_xlabel()
    # Inside 0-100 nothing is cut and the label says nothing of it.
    plain = plots.method_comparison(table.iloc[:1], baseline="CE").axes[0]
    assert not [line for line in plain.get_lines() if line.get_marker() in ("<", ">")]
    assert "arrowhead" not in plain.get_xlabel()


def test_identical_lines_share_one_label_that_says_so():
    fig = plots.per_class_accuracy({"CE": [0.9, 0.5, 0.1], "LA": [0.8, 0.6, 0.4], "BS": [0.8, 0.6, 0.4]},
                                   [30, 17, 10])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["CE", "LA = BS (identical)"]


def test_per_class_ticks_name_each_class_with_its_size_head_first():
    fig = plots.per_class_accuracy({"CE": [0.9, 0.5, 0.1]}, [30, 17, 10], class_names=["cat", "dog", "emu"])
    fig.canvas.draw()
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["cat\n30", "dog\n17", "emu\n10"]
    assert fig.axes[0].xaxis_inverted()  # head (the largest class) on the left


def test_no_finished_run_gives_a_placeholder_not_an_empty_axis():
    fig = plots.method_comparison(pd.DataFrame(columns=["top-1", "±95%", "seeds"]))
    assert [t.get_text() for t in fig.axes[0].texts] == ["no finished run yet"]


def test_a_run_that_shares_its_start_with_an_earlier_one_says_until_which_epoch():
    # CE-DRW is CE until its switch (epoch 2 here): its line hides CE's there, so its label says so.
    ce = [{"epoch": 1, "loss": 2.0, "test_acc": None}, {"epoch": 2, "loss": 1.5, "test_acc": 0.4},
          {"epoch": 3, "loss": 1.0, "test_acc": 0.5}]
    drw = ce[:2] + [{"epoch": 3, "loss": 1.2, "test_acc": 0.6}]
    other = [{"epoch": 1, "loss": 2.1, "test_acc": None}] + ce[1:]  # differs at the first epoch: no shared start
    fig = plots.training_curves({"CE": ce, "CE-DRW": drw, "Focal": other})
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert labels == ["CE", "CE-DRW (= CE to epoch 2)", "Focal"]
    whole = plots.training_curves({"CE": ce, "copy": list(ce)})  # identical throughout: one line
    assert [t.get_text() for t in whole.axes[1].get_legend().get_texts()] == ["CE = copy (identical)"]


def test_accuracy_axes_start_at_0():
    per_class = plots.per_class_accuracy({"CE": [0.9, 0.5, 0.45]}, [30, 17, 10]).axes[0]
    curves = plots.training_curves({"CE": [{"epoch": 1, "loss": 1.0, "test_acc": 0.4},
                                           {"epoch": 2, "loss": 0.5, "test_acc": 0.45}]}).axes[1]
    for ax in (per_class, curves):
        bottom, top = ax.get_ylim()
        assert bottom == 0.0 and 100.0 <= top <= 103.0
    zoomed = plots.validation_curve({"0.0": 0.72, "1.0": 0.75}, 1.0).axes[0]
    assert zoomed.get_ylim()[0] > 0.0 and "not from 0" in zoomed.get_ylabel()
