"""Figures used by the notebooks (matplotlib + seaborn). Each function returns its ``Figure``.

Accuracies arrive as fractions and are drawn as percentages. Every figure takes a ``caption``
(dataset copy, epochs, seeds, precision, machine, final epoch) shown under the axes, so a saved PNG
says what produced it. Nothing misleads by construction: comparisons are dot plots with their
intervals (no caps where there is no interval), identical lines are merged and labelled so, and a
line that is an earlier one until some epoch says until when.
"""

from __future__ import annotations

import textwrap

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib import ticker
from matplotlib.figure import Figure

sns.set_theme(style="whitegrid", context="notebook")
PERCENT = (0.0, 100.0)  # the range of every metric drawn here: accuracies and ECE in percent
ACCURACY_AXIS = (0.0, 102.0)  # accuracy axes start at 0 (no exaggerated gaps); room for a dot at 100


def _caption(fig: Figure, caption: str | None) -> Figure:
    if caption:
        width = max(40, int(fig.get_figwidth() * 14))  # characters of 8-pt text per line
        lines = textwrap.wrap(caption, width)
        fig.text(0.01, 0.005, "\n".join(lines), fontsize=8, color="0.35", ha="left", va="bottom")
        fig.tight_layout(rect=(0, 0.03 + 0.2 * len(lines) / fig.get_figheight(), 1, 1))
    else:
        fig.tight_layout()
    return fig


def _nothing_yet(message: str, caption: str | None) -> Figure:
    """A small figure that says what is missing instead of an empty plot."""
    fig, ax = plt.subplots(figsize=(7, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=10, color="0.3")
    return _caption(fig, caption)


def save(fig: Figure, path: str | Path) -> Path:
    """Save as PNG (folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def class_profiles(profiles: Mapping[str, Sequence[int]], caption: str | None = None) -> Figure:
    """Images per class (log scale) for several long-tailed profiles, head class first."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / len(profiles)
    for index, (label, counts) in enumerate(profiles.items()):
        x = np.arange(len(counts)) + index * width
        ax.bar(x, counts, width=width, label=f"{label} ({sum(counts):,} images)")
    ax.set_yscale("log")
    ax.set_xlabel("class index (sorted by training images)")
    ax.set_ylabel("training images (log)")
    ax.legend(fontsize=8)
    return _caption(fig, caption)


def sample_grid(images: np.ndarray, labels: Sequence[int], class_names: Sequence[str],
                per_class: int = 8, caption: str | None = None) -> Figure:
    """A grid of ``per_class`` images (uint8 [N, 3, H, W]) for each class, one row per class."""
    labels = np.asarray(labels)
    rows = len(class_names)
    fig, axes = plt.subplots(rows, per_class, figsize=(per_class * 0.9, rows * 0.95), squeeze=False)
    for c, row in enumerate(axes):
        members = np.flatnonzero(labels == c)[:per_class]
        for j, ax in enumerate(row):
            ax.axis("off")
            if j < len(members):
                ax.imshow(np.transpose(images[members[j]], (1, 2, 0)))
        row[0].set_title(class_names[c], fontsize=7, loc="left")
    return _caption(fig, caption)


def per_class_accuracy(accuracies: Mapping[str, Sequence[float]], train_counts: Sequence[int],
                       caption: str | None = None, class_names: Sequence[str] | None = None) -> Figure:
    """Per-class test accuracy (%) against training images per class (log x), one line per method
    (methods with identical values share a line and a label). With ``class_names`` and at most 20
    classes, each class is a tick named with its name and size."""
    if not accuracies:
        return _nothing_yet("no finished run yet", caption)
    fig, ax = plt.subplots(figsize=(7, 4))
    counts = np.asarray(train_counts)
    order = np.argsort(-counts, kind="stable")
    for label, values in _distinct(accuracies).items():
        ax.plot(counts[order], 100 * np.asarray(values, dtype=float)[order], marker="o", ms=3, lw=1,
                label=label)
    ax.set_xscale("log")
    ax.invert_xaxis()
    # Plain numbers (20, 50, 100) rather than 2x10^1; minor ticks labelled over short ranges only.
    ax.xaxis.set_major_formatter(ticker.LogFormatter(labelOnlyBase=False))
    ax.xaxis.set_minor_formatter(ticker.LogFormatter(labelOnlyBase=False, minor_thresholds=(1.5, 0.5)))
    if class_names is not None and len(class_names) <= 20 and len(set(counts.tolist())) == len(counts):
        ax.xaxis.set_major_locator(ticker.FixedLocator(counts[order]))
        ax.xaxis.set_major_formatter(ticker.FixedFormatter([f"{class_names[c]}\n{counts[c]:,}" for c in order]))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.xaxis.set_minor_locator(ticker.NullLocator())
        ax.tick_params(axis="x", labelsize=7, labelrotation=30)
    ax.set_xlabel("training images of the class (log; head on the left)")
    ax.set_ylabel("test accuracy of the class (%)")
    ax.set_ylim(*ACCURACY_AXIS)
    ax.legend(fontsize=7, ncol=2)
    return _caption(fig, caption)


def training_curves(histories: Mapping[str, Sequence[Mapping[str, Any]]],
                    caption: str | None = None) -> Figure:
    """Training loss and test top-1 (%) per epoch, one line per run. Identical runs share one line;
    a run that is the same run as an earlier one up to some epoch (CE-DRW and CE-DRS are CE until
    the deferred switch, SPEC 4) says so in its label, since the later line hides the earlier there."""
    if not histories:
        return _nothing_yet("no finished run yet", caption)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    curves = _shared_prefixes(_distinct({label: [(h["epoch"], h["loss"], h.get("test_acc")) for h in history]
                                         for label, history in histories.items()}))
    for label, points in curves.items():
        history = [{"epoch": e, "loss": loss, "test_acc": acc} for e, loss, acc in points]
        epochs = [h["epoch"] for h in history]
        left.plot(epochs, [h["loss"] for h in history], lw=1, label=label)
        tested = [(h["epoch"], 100 * h["test_acc"]) for h in history if h.get("test_acc") is not None]
        if tested:
            right.plot(*zip(*tested), marker="o", ms=3, lw=1, label=label)
    left.set(xlabel="epoch", ylabel="training loss", yscale="log")
    right.set(xlabel="epoch", ylabel="test top-1 (%)", ylim=ACCURACY_AXIS)
    right.legend(fontsize=7, ncol=2)
    return _caption(fig, caption)


def confusion(matrix: Sequence[Sequence[int]], class_names: Sequence[str], title: str = "",
              caption: str | None = None) -> Figure:
    """Row-normalised confusion matrix (% of each true class)."""
    matrix = np.asarray(matrix, dtype=float)
    share = 100 * matrix / np.clip(matrix.sum(1, keepdims=True), 1, None)
    size = max(4.0, 0.45 * len(class_names))
    fig, ax = plt.subplots(figsize=(size + 1, size))
    sns.heatmap(share, ax=ax, cmap="Blues", vmin=0, vmax=100, annot=len(class_names) <= 12,
                fmt=".0f", xticklabels=class_names, yticklabels=class_names, cbar_kws={"label": "%"})
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return _caption(fig, caption)


def method_comparison(table: Any, baseline: str | None = "CE", metric: str = "top-1",
                      caption: str | None = None) -> Figure:
    """A dot per method at its mean (percent) with its 95% t-interval as a line; a method with one
    seed is drawn hollow, without a line (it has no interval), and says so in its label. An interval
    past 0 or 100 % (two seeds: t = 12.7 times the sd over sqrt 2) is drawn to that end with an
    arrowhead there, and the axis label says so. The baseline's mean is a dashed line.
    ``table``: ``report.results_table``."""
    rows = table[table[metric].notna()] if metric in table else table.iloc[0:0]
    if rows.empty:
        return _nothing_yet("no finished run yet", caption)
    names = [f"{name} (1 seed)" if seeds == 1 else name for name, seeds in zip(rows.index, rows["seeds"])]
    fig, ax = plt.subplots(figsize=(7, max(2.4, 0.32 * len(rows) + 1.3)))  # one row still gets a visible axis
    y = np.arange(len(rows))
    colour = sns.color_palette("muted")[0]
    cut = False
    for position, (mean, half, seeds) in enumerate(zip(rows[metric], rows.get("±95%", [np.nan] * len(rows)),
                                                       rows["seeds"])):
        if seeds > 1 and np.isfinite(half):
            low, high = max(mean - half, PERCENT[0]), min(mean + half, PERCENT[1])
            ax.plot([low, high], [position, position], color=colour, lw=2)
            for end, past, arrow in ((low, mean - half < PERCENT[0], "<"), (high, mean + half > PERCENT[1], ">")):
                if past:
                    ax.plot(end, position, arrow, color=colour, ms=6)
                    cut = True
        ax.plot(mean, position, "o", color=colour, mfc=colour if seeds > 1 else "white", ms=6)
    if baseline is not None and baseline in rows.index:
        ax.axvline(rows.loc[baseline, metric], color="k", ls="--", lw=1, label=f"{baseline} mean")
        ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False)  # above the axes
    ax.set_yticks(y, names, fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # first row on top, half a row of room around every dot
    ax.margins(x=0.08)
    left, right = ax.get_xlim()
    ax.set_xlim(max(left, PERCENT[0] - 3), min(right, PERCENT[1] + 3))  # room for an arrowhead, no more
    ax.set_xlabel(f"test {metric} (%): mean, line = 95% t-interval over seeds"
                  + ("\n(an arrowhead: the interval runs on past 0 or 100 %)" if cut else ""))
    return _caption(fig, caption)


def _distinct(series: Mapping[str, Any]) -> dict[str, Any]:
    """Series with identical values merged under one label ("A = B"), so no line hides another."""
    merged: dict[str, Any] = {}
    for label, values in series.items():
        same = next((kept for kept, other in merged.items() if np.array_equal(np.asarray(other), np.asarray(values))), None)
        if same is None:
            merged[label] = values
        else:
            merged[f"{same} = {label} (identical)"] = merged.pop(same)
    return merged


def _shared_prefixes(curves: Mapping[str, Sequence[tuple[Any, ...]]]) -> dict[str, Sequence[tuple[Any, ...]]]:
    """Each curve's label extended by "(= <earlier curve> to epoch E)" when its points equal that
    earlier curve's from the first epoch through epoch E (the longest such earlier curve)."""
    labelled: dict[str, Sequence[tuple[Any, ...]]] = {}
    for position, (label, points) in enumerate(curves.items()):
        best, through = None, 0
        for earlier, others in list(curves.items())[:position]:
            shared = next((i for i, (a, b) in enumerate(zip(points, others)) if a != b), min(len(points), len(others)))
            if shared > through:
                best, through = earlier, shared
        labelled[f"{label} (= {best} to epoch {points[through - 1][0]})" if best else label] = points
    return labelled


def weight_norms(norms: Mapping[str, Sequence[float]], class_names: Sequence[str],
                 caption: str | None = None) -> Figure:
    """Norm of each class's classifier vector (head class first): Kang et al. 2020, Fig. 2."""
    fig, ax = plt.subplots(figsize=(7, 3.4))
    width = 0.8 / len(norms)
    for index, (label, values) in enumerate(norms.items()):
        ax.bar(np.arange(len(values)) + index * width, values, width=width, label=label)
    ax.set_xticks(np.arange(len(class_names)) + 0.4 - width / 2,
                  class_names if len(class_names) <= 20 else [""] * len(class_names), rotation=45, fontsize=7)
    ax.set_ylabel("||w_c||")
    ax.legend(fontsize=8)
    return _caption(fig, caption)


def validation_curve(scores: Mapping[float, float], chosen: float, xlabel: str = "tau",
                     caption: str | None = None) -> Figure:
    """Validation balanced accuracy (%) against a post-hoc parameter, the chosen value marked. The
    value axis is zoomed to the curve (where its maximum lies is the point, not the size of a gap
    between methods) and its label says it does not start at 0."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    points = sorted((float(x), 100 * y) for x, y in scores.items())  # JSON keys arrive as strings
    ax.plot(*zip(*points), marker="o", ms=3)
    ax.axvline(chosen, color="k", ls="--", lw=1, label=f"chosen {xlabel} = {chosen:g}")
    ax.set(xlabel=xlabel, ylabel="val. balanced acc. (%)\n(axis zoomed, not from 0)")
    ax.legend(fontsize=8)
    return _caption(fig, caption)


def feature_scatter(points: np.ndarray, labels: Sequence[int], generated: Sequence[bool],
                    class_labels: Mapping[int, str], title: str = "", caption: str | None = None) -> Figure:
    """2-D points (e.g. a PCA of features): real ones as dots, generated ones as crosses, by class;
    ``class_labels`` names each class in the legend (e.g. "truck (50 images)")."""
    labels, generated = np.asarray(labels), np.asarray(generated, dtype=bool)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    palette = sns.color_palette("tab10", n_colors=max(10, int(labels.max()) + 1))
    for c in np.unique(labels):
        for is_generated, marker, alpha in ((True, "x", 0.25), (False, "o", 0.8)):
            member = (labels == c) & (generated == is_generated)
            ax.scatter(points[member, 0], points[member, 1], s=10, marker=marker, alpha=alpha,
                       color=palette[int(c)], label=class_labels[int(c)] if not is_generated else None)
    ax.set(title=title, xlabel="component 1", ylabel="component 2")
    ax.legend(fontsize=7, markerscale=1.5, title="dots real, crosses generated", title_fontsize=7)
    return _caption(fig, caption)
