"""The interactive results explorer: every finished run on disk, compared in JupyterLab.

Reads the study files of every profile (``<results_root>/<profile>/*.json``: the records of the
results store each study used, with their method and seed) and the try-a-method store; trains
nothing. ``Explorer`` offers ipywidgets
controls (dataset, imbalance factor, profile, methods, metric) and redraws a table of mean +- 95% CI
over seeds, per-class accuracy against class size and the training curves of the selected runs. A
corrupted or half-written file is skipped with a warning naming it. "Try a method" trains a
smoke-sized run of a registered loss and sampler (synthetic data, ResNet-8, next to a CE baseline)
into ``<results_root>/explore-smoke/store/`` and adds it to the comparison.
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from . import plots
from .params import train_config
from .yaml12 import read_params
from ..data import make_synthetic_lt
from ..evaluate import mean_and_interval
from ..losses import LOSSES
from .methods import DEFAULT_HYPERPARAMETERS, METHODS
from .report import METRICS
from ..samplers import SAMPLERS
from .record import RunRecord
from .store import Store
from ..train.engine import train
from ..train.spec import RunSpec, TrainConfig

METRIC_KEYS = ("top1", "balanced_accuracy", "many_shot", "medium_shot", "few_shot", "ece")
LOWER_IS_BETTER = {"ece"}
TRY_PROFILE = "explore-smoke"
TRY_MODEL = "resnet8"
# The smoke profile's data and schedule (the method notebooks' defaults): seconds on a CPU.
TRY_DATA = {"num_classes": 6, "n_max": 80, "imbalance_factor": 10, "val_per_class": 4, "test_per_class": 30}
TRY_TRAIN = {"epochs": 4, "batch_size": 32, "warmup_epochs": 1, "milestones": [3], "factors": [0.1],
             "eval_every": 1, "precision": "fp32"}
# JupyterLab may deliver widget messages on a kernel subshell (another thread), and after each one
# the kernel runs the post-execute hooks that draw every open pyplot figure. matplotlib is not
# thread-safe: figures are built one at a time, with interactive mode off so that no hook touches them.
_DRAWING = threading.Lock()
NO_RESULTS = ("No finished results under `{root}` yet. Make some with `make reproduce PROFILE=smoke` "
              "(synthetic data, minutes) or `make reproduce` (the quick profile, CIFAR-10-LT, hours), "
              "or train one below with *Try a method*.")


def load_results(results_root: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """Every finished run of every profile's study files and of the try-a-method store (one row each:
    profile, dataset, IF, method, seed, model, epochs, metrics in percent, per-class accuracy, train
    counts, history) and one note per file or run skipped (``"<path>: <why>"``)."""
    root = Path(results_root)
    rows, skipped, seen = [], [], set()
    for path in sorted(root.glob("*/*.json")):
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            skipped.append(f"{path}: skipped, not readable JSON (corrupted or half-written: "
                           f"{error.__class__.__name__})")
            continue
        for entry in document.get("runs", []) if isinstance(document, dict) else []:
            try:
                record = RunRecord.from_dict({k: v for k, v in entry.items()
                                              if k not in ("method", "seed", "folder", "images")})
            except (ValueError, TypeError, KeyError) as error:
                skipped.append(f"{path}: a run of {entry.get('method', '?')!r} skipped, not a complete record ({error})")
                continue
            _add(rows, skipped, seen, path.parent.name, entry["method"], record, path, entry.get("folder"))
    for path in sorted((root / TRY_PROFILE / "store").glob("*/*/result.json")):
        record = RunRecord.read(path)
        if record is None:
            skipped.append(f"{path}: skipped, not a complete record (corrupted or half-written)")
            continue
        _add(rows, skipped, seen, TRY_PROFILE, method_name(record), record, path, str(path.parent))
    return pd.DataFrame(rows), skipped


def _add(rows: list, skipped: list, seen: set, profile: str, method: str, record: RunRecord, path: Path,
         folder: str | None) -> None:
    # One run listed by two studies (the precision study's "CE (fp32)" is CE) is one row, under the
    # first name read, as in the summary; a stage-2 key is unique only beside its base run.
    identity = (profile, folder, record.key)
    if identity in seen:
        return
    seen.add(identity)
    if not record.finished:
        skipped.append(f"{path}: {method} stopped ({record.error}); not compared")
        return
    rows.append(_row(profile, method, record, path))


def method_name(record: RunRecord) -> str:
    """The method a stored run belongs to: its run name without the seed."""
    return record.name.rsplit(" [seed ", 1)[0]


def _row(profile: str, method: str, record: RunRecord, path: Path) -> dict[str, Any]:
    test = record.test
    return {"profile": profile, "dataset": record.data["name"],
            "imbalance_factor": float(record.data.get("imbalance_factor") or float("nan")), "method": method,
            "seed": record.seed, "model": record.run["model"], "epochs": record.epochs,
            **{key: np.nan if test.get(key) is None else 100 * test[key] for key in METRIC_KEYS},
            "per_class": test["per_class_accuracy"], "train_counts": record.data["train_counts"],
            "history": record.history, "path": str(path)}


def select(runs: pd.DataFrame, dataset: str, imbalance_factor: float, profile: str,
           methods: Sequence[str] | None = None) -> pd.DataFrame:
    """The runs of one (dataset, IF, profile), restricted to ``methods`` when given."""
    if runs.empty:
        return runs
    chosen = runs[(runs["dataset"] == dataset) & (runs["imbalance_factor"] == imbalance_factor)
                  & (runs["profile"] == profile)]
    return chosen if methods is None else chosen[chosen["method"].isin(list(methods))]


def comparison_table(runs: pd.DataFrame, metric: str = "top1") -> pd.DataFrame:
    """One row per (method, model, epochs): mean and 95% CI half-width of ``metric`` (percent) over
    seeds, and the number of seeds; best first (lowest for ECE), methods without a value last."""
    rows = []
    for (method, model, epochs), group in runs.groupby(["method", "model", "epochs"], sort=False):
        values = list(group[metric].dropna())
        stats = mean_and_interval(values) if values else {"mean": np.nan, "ci95": np.nan}
        rows.append({"method": method, "model": model, "epochs": epochs, "seeds": len(group),
                     "mean": stats["mean"], "ci95": stats["ci95"]})
    table = pd.DataFrame(rows, columns=["method", "model", "epochs", "seeds", "mean", "ci95"])
    ascending = metric in LOWER_IS_BETTER
    return table.sort_values("mean", ascending=ascending, na_position="last").reset_index(drop=True)


def formatted(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``comparison_table`` for reading: '<mean> ± <CI>' in one column named after the metric."""
    def cell(row: pd.Series) -> str:
        if np.isnan(row["mean"]):
            return "no value (no class in this group)"
        spread = "one seed, no CI" if np.isnan(row["ci95"]) else f"± {row['ci95']:.1f}"
        return f"{row['mean']:.1f} {spread}"

    shown = table[["method", "model", "epochs", "seeds"]].copy()
    shown[f"{METRICS[metric]} (%, mean ± 95% CI)"] = table.apply(cell, axis=1)
    return shown.set_index("method")


def _labels(runs: pd.DataFrame) -> pd.Series:
    """Method names, with model and epochs added only where one method has several settings."""
    several = runs.groupby("method")[["model", "epochs"]].nunique().max(axis=1) > 1
    return runs.apply(lambda r: f"{r['method']} ({r['model']}, {r['epochs']} ep)"
                      if several[r["method"]] else r["method"], axis=1)


def per_class_figure(runs: pd.DataFrame, caption: str | None = None) -> Figure:
    """Per-class test accuracy (mean over seeds) against training images per class."""
    labelled = runs.assign(label=_labels(runs))
    accuracies = {label: np.mean(np.array(list(group["per_class"]), dtype=float), axis=0)
                  for label, group in labelled.groupby("label", sort=False)}
    return plots.per_class_accuracy(accuracies, runs["train_counts"].iloc[0], caption=caption)


def curves_figure(runs: pd.DataFrame, caption: str | None = None) -> Figure:
    """Training loss and test top-1 per epoch of every selected run (one line per seed)."""
    labelled = runs.assign(label=_labels(runs))
    return plots.training_curves({f"{r.label} [seed {r.seed}]": r.history for r in labelled.itertuples()
                                  if r.history}, caption=caption)


@lru_cache(maxsize=1)
def planned_studies() -> frozenset[tuple[str, str, float]]:
    """(profile, dataset, IF) of every study the parameter files in ``params/`` make (empty when the
    package is used without its repository)."""
    from ..paths import notebooks_dir, params_dir
    from .params import notebook_parameters

    plans = set()
    for path in sorted(params_dir().glob("*/*.yaml")):
        notebook = notebooks_dir() / f"{path.stem.split('.')[0]}.ipynb"
        defaults = notebook_parameters(notebook) if notebook.exists() else {}
        if "methods" in defaults or "base_method" in defaults:
            dataset = read_params(path).get("dataset", defaults["dataset"])
            plans.add((path.parent.name, dataset["name"], float(dataset.get("imbalance_factor", 100))))
    return frozenset(plans)


def missing_message(dataset: str, imbalance_factor: float, profile: str) -> str:
    """Plain words (markdown) for a combination without results, with the command that makes them."""
    where = f"{dataset} IF {imbalance_factor:g} in profile {profile}"
    if profile == TRY_PROFILE:
        return f"No results yet for {where}: press **train and compare** under *Try a method* below."
    makers = sorted(p for p, d, f in planned_studies() if (d, f) == (dataset, imbalance_factor))
    if profile in makers:
        return f"No results yet for {where}. Make them with `make reproduce PROFILE={profile}`."
    if makers:
        commands = " or ".join(f"`make reproduce PROFILE={p}`" for p in makers)
        return f"No results for {where}: profile {profile} does not include it. Make it with {commands}."
    return (f"No results for {where}, and no profile includes it: add it to a parameter file under "
            f"`params/<profile>/`, then run `make reproduce PROFILE=<profile>`.")


def recipe_params(loss: str, sampler: str, config: TrainConfig) -> dict[str, Any]:
    """The RunSpec parameters a registered method gives this loss and sampler under ``config`` (e.g.
    LDAM's normalised head, the DRW switch epoch, the progressive schedule's length); none otherwise."""
    params: dict[str, Any] = {}
    for name in METHODS:
        fields = METHODS.get(name).fields(config, DEFAULT_HYPERPARAMETERS)
        if fields.get("loss", "ce") == loss and "loss_params" not in params and "mixup" not in fields:
            params.update(loss_params=fields.get("loss_params", {}),
                          model_params=fields.get("model_params", {}))
        if fields.get("sampler") == sampler and "sampler_params" not in params:
            params["sampler_params"] = fields.get("sampler_params", {})
    return params


def try_method(loss: str, sampler: str, results_root: str | Path, progress: bool = True) -> str:
    """Train (or load) a smoke-sized run of ``loss`` + ``sampler`` and a CE baseline into
    ``<results_root>/explore-smoke/synthetic_lt``; returns the tried run's method name as stored
    (a recipe already in the cache, e.g. CE + instance, keeps its first name)."""
    data = make_synthetic_lt(**TRY_DATA)
    config = train_config("try a method", TRY_TRAIN, len(data.train))
    name = f"try: {loss} + {sampler}"
    baseline = RunSpec(name="CE [seed 0]", model=TRY_MODEL)
    tried = RunSpec(name=f"{name} [seed 0]", loss=loss, sampler=sampler, model=TRY_MODEL,
                    **recipe_params(loss, sampler, config))
    runs = list({run.key(): run for run in (baseline, tried)}.values())  # CE + instance is the baseline
    store = Store(Path(results_root) / TRY_PROFILE / "store")
    missing = [run for run in runs if store.find(data.name, run, data.key(), config) is None]
    if missing:
        outcomes = train(missing, data, config, "cpu", progress=progress)
        for run in missing:
            store.save(outcomes[run.name], data, config, "cpu", keep_weights=False)
    return method_name(store.find(data.name, tried, data.key(), config))


class Explorer(widgets.VBox):
    """The explorer widget: controls, notes on skipped files, comparison table, figures, try a method."""

    def __init__(self, results_root: str | Path) -> None:
        self.root = Path(results_root)
        self._busy = False
        self.dataset = widgets.Dropdown(description="dataset")
        self.factor = widgets.Dropdown(description="imbalance factor")
        self.profile = widgets.Dropdown(description="profile")
        self.metric = widgets.Dropdown(description="metric", options=[(METRICS[k], k) for k in METRIC_KEYS])
        self.methods = widgets.SelectMultiple(description="methods", rows=8,
                                              layout=widgets.Layout(width="28em"))
        self.notes = widgets.HTML().add_class("explore-notes")
        self.table = widgets.Output().add_class("explore-table")
        self.figures = widgets.Output()
        self.loss = widgets.Dropdown(description="loss", options=LOSSES.names(), value="ce")
        self.sampler = widgets.Dropdown(description="sampler", options=SAMPLERS.names(), value="instance")
        self.train = widgets.Button(description="train and compare", icon="play",
                                    layout=widgets.Layout(width="14em"))
        self.progress = widgets.Output().add_class("explore-progress")
        style = {"description_width": "9.5em"}
        for control in (self.dataset, self.factor, self.profile, self.metric, self.methods):
            control.style = style
        super().__init__([
            widgets.HBox([widgets.VBox([self.dataset, self.factor, self.profile, self.metric]),
                          self.methods]),
            self.notes, self.table, self.figures,
            widgets.HTML("<b>Try a method</b>: a smoke-sized run (synthetic data, ResNet-8, "
                         f"{TRY_TRAIN['epochs']} epochs) into profile {TRY_PROFILE}, next to CE."),
            widgets.HBox([self.loss, self.sampler, self.train]), self.progress])
        self.add_class("explore")
        self.reload()
        for control in (self.dataset, self.factor, self.profile):
            control.observe(self._combination_changed, names="value")
        for control in (self.methods, self.metric):
            control.observe(self.redraw, names="value")
        self.train.on_click(self._try)

    def reload(self, choice: tuple[str, str, float] | None = None, methods: Sequence[str] = ()) -> None:
        """Read the results again and show ``choice`` = (profile, dataset, IF) with ``methods``
        (default: the combination with the most runs, all its methods)."""
        self.runs, skipped = load_results(self.root)
        self.notes.value = "".join(f"<div style='color:#9a6700'>⚠ {html.escape(note)}</div>"
                                   for note in skipped)
        found = set() if self.runs.empty else set(
            self.runs[["profile", "dataset", "imbalance_factor"]].itertuples(index=False, name=None))
        combos = found | set(planned_studies())
        if choice is None:
            counts = self.runs.groupby(["profile", "dataset", "imbalance_factor"]).size() if found else None
            choice = counts.idxmax() if found else ("smoke", "synthetic_lt", 10.0)
        self._busy = True
        self.profile.options = sorted({c[0] for c in combos} | {choice[0]})
        self.dataset.options = sorted({c[1] for c in combos} | {choice[1]})
        self.factor.options = [(f"{f:g}", f) for f in sorted({c[2] for c in combos} | {choice[2]})]
        self.profile.value, self.dataset.value, self.factor.value = choice
        self._busy = False
        self._combination_changed(keep=methods)

    def _combination_changed(self, _change: Any = None, keep: Sequence[str] = ()) -> None:
        """New (dataset, IF, profile): offer its methods, keeping the selected ones that it has."""
        if self._busy:
            return
        here = select(self.runs, self.dataset.value, self.factor.value, self.profile.value)
        available = sorted(set(here["method"]) if len(here) else set(), key=lambda m: (m != "CE", m))
        kept = [m for m in (keep or self.methods.value) if m in available] or available
        self._busy = True
        self.methods.options = available
        self.methods.value = kept
        self._busy = False
        self.redraw()

    def redraw(self, _change: Any = None) -> None:
        """Redraw the table and figures for the current controls."""
        if self._busy:
            return
        runs = select(self.runs, self.dataset.value, self.factor.value, self.profile.value,
                      self.methods.value)
        self.table.clear_output(wait=True)
        self.figures.clear_output(wait=not runs.empty)
        if runs.empty:
            message = (NO_RESULTS.format(root=self.root) if self.runs.empty else
                       "No method selected: pick one or more under *methods*." if self.methods.options else
                       missing_message(self.dataset.value, self.factor.value, self.profile.value))
            with self.table:
                display(Markdown(message))
            return
        caption = (f"{self.dataset.value} IF {self.factor.value:g}, profile {self.profile.value}: "
                   f"{runs['method'].nunique()} methods, {len(runs)} runs")
        with self.table:
            display(Markdown(f"**{caption}**"), formatted(comparison_table(runs, self.metric.value),
                                                          self.metric.value))
        with self.figures, _DRAWING, plt.ioff():
            for figure in (per_class_figure(runs, caption), curves_figure(runs, caption)):
                display(figure)
                plt.close(figure)

    def _try(self, _button: widgets.Button) -> None:
        self.train.disabled = True
        self.progress.clear_output()
        with self.progress:
            try:
                name = try_method(self.loss.value, self.sampler.value, self.root)
            except Exception as error:  # noqa: BLE001 - shown to the user; the explorer stays usable
                print(f"training {self.loss.value} + {self.sampler.value} failed: {error}")
                return
            finally:
                self.train.disabled = False
            print(f"done: {name} is in the comparison above (profile {TRY_PROFILE}).")
        self.reload((TRY_PROFILE, "synthetic_lt", float(TRY_DATA["imbalance_factor"])), [name, "CE"])
