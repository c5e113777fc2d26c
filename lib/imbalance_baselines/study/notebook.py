"""What a method notebook calls: its parameters validated, its data, its results from the store.

A notebook's code reads as question, parameters, run, table, plot, conclusion::

    study = notebook.Study("01_reweighting", globals())   # the parameters cell, validated
    data = study.data()                                    # prints the training profile
    results = study.results()                              # records by (method, seed)
    table = results.table()                                # mean ± 95%, paired Δ vs CE, verdicts

Rendered by ``make reproduce`` (``train_missing=False``), a notebook never trains: the profile's run
queue trained everything first, and the notebook shows "k of n runs finished" and the command that
finishes the rest. Run interactively (``train_missing=True``, the default of the smoke parameters),
it trains what is missing in this process with the queue's own code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from ..paths import notebooks_dir
from ..stage2 import training_passes
from ..train.groups import RunState
from .execute import DataCache, complete, result
from .params import StudyParams, dataset_params, notebook_parameters, parse_study
from .plan import PosthocRequest, Request, RunRequest, Stage2Request, study_requests
from .record import RunRecord
from .report import caption, conclusion, results_table, write_study_results
from .store import Store, resolve_device


def images_seen(request: Request, data: Any) -> float:
    """Images the request's training drew: its sampler's draws over every epoch, its teachers', and
    a stage-2 method's passes of the training set through the network (``stage2.training_passes``)."""
    if isinstance(request, PosthocRequest):
        return images_seen(request.base, data)
    if isinstance(request, Stage2Request):
        passes = training_passes(request.stage2, request.params)
        return images_seen(request.base, data) + passes * len(data.train)
    state = RunState.build(replace(request.spec, distill=None), data.train.labels, data.class_counts)
    own = sum(state.sampler.num_samples(epoch) for epoch in range(request.config.epochs))
    return own + sum(images_seen(t, data) for t in request.teachers)


@dataclass
class StudyResults:
    """A study's records by (method, seed), ``None`` where not finished, with its requests."""

    study: "Study"
    records: dict[tuple[str, int], RunRecord | None]
    requests: list[Request] = field(default_factory=list)

    @property
    def finished(self) -> int:
        return sum(r is not None for r in self.records.values())

    def progress(self) -> str:
        """``"k of n runs finished"`` and, when some are missing, the command that finishes them."""
        text = f"{self.finished} of {len(self.records)} runs finished"
        if self.finished < len(self.records):
            text += (f"; the rest: make queue PROFILE={self.study.profile} (trains the profile's queue; then "
                     f"make reproduce PROFILE={self.study.profile} renders), progress: make status "
                     f"PROFILE={self.study.profile}")
        return text

    def budgets(self) -> dict[str, float]:
        """Images each method's training drew (stage 2 and teachers included)."""
        data = self.study.data(quiet=True)
        budgets: dict[str, float] = {}
        for request in self.requests:
            budgets.setdefault(request.method, images_seen(request, data))
        return budgets

    def table(self, baseline: str | None = None) -> pd.DataFrame:
        return results_table(self.records, baseline or self.study.baseline, self.budgets())

    def first(self) -> dict[str, RunRecord]:
        """Each method's finished record of the lowest seed (for per-class plots and curves)."""
        out: dict[str, RunRecord] = {}
        for (method, _seed), record in sorted(self.records.items(), key=lambda item: item[0][1]):
            if record is not None and record.finished and method not in out:
                out[method] = record
        return {method: out[method] for method in dict.fromkeys(m for m, _ in self.records) if method in out}

    def first_caption(self) -> str:
        """The caption of the figures drawn from ``first`` (per-class accuracy, curves, confusion,
        weight norms): what produced those records alone, since they show one seed per method."""
        return caption(list(self.first().values()), self.study.profile, "each method's lowest finished seed")

    def stage1(self) -> dict[str, RunRecord]:
        """Finished stage-1 records by method, lowest seed (the trained networks and their curves;
        stage-2 and post-hoc rows share their base's)."""
        out: dict[str, RunRecord] = {}
        for request in sorted((r for r in self.requests if isinstance(r, RunRequest)), key=lambda r: r.seed):
            record = self.records.get((request.method, request.seed))
            if record is not None and record.finished:
                out.setdefault(request.method, record)
        return out

    def per_seed(self, metric: str = "top1") -> pd.DataFrame:
        """A metric in percent, one column per method, one row per seed (NaN where not finished)."""
        return pd.DataFrame({method: {seed: 100 * value if (value := r.metric(metric) if r else None) is not None
                                      else float("nan") for (m, seed), r in self.records.items() if m == method}
                             for method in dict.fromkeys(m for m, _ in self.records)})

    def caption(self, extra: str = "") -> str:
        return caption([r for r in self.records.values() if r is not None], self.study.profile, extra)

    def conclusion(self, baseline: str | None = None) -> str:
        return conclusion(self.table(baseline), self.records, baseline or self.study.baseline)

    def write(self) -> Path:
        """The study file ``results/<profile>/<tag>.json`` that the summary reads."""
        return write_study_results(self.study.results_root / self.study.profile / f"{self.study.tag}.json",
                                   self.study.tag, self.study.profile, dict(self.study.params.values), self.records,
                                   self.budgets())


class Study:
    """A notebook's study (module docstring): ``namespace`` holds the parameters cell's variables."""

    def __init__(self, notebook: str, namespace: Mapping[str, Any]) -> None:
        defaults = notebook_parameters(notebooks_dir() / f"{notebook}.ipynb")
        values = {name: namespace[name] for name in defaults if name in namespace}
        self.params: StudyParams = parse_study(notebook, f"{notebook} parameters", values, defaults, from_file=False)
        self.notebook = notebook
        self.profile = values.get("profile", "smoke")
        self.data_dir = Path(values.get("data_dir", "../data"))
        self.results_root = Path(values.get("results_root", "../results"))
        self.study_name = values.get("study_name")
        self.device = resolve_device(values.get("device", "auto"))
        self.progress_bars = bool(values.get("progress", False))
        self.train_missing = bool(values.get("train_missing", True))
        self.store = Store(self.results_root / "store")
        self._data = DataCache(self.data_dir)
        # What every row is compared with: a notebook's ``baseline`` parameter, else the stage-1 base
        # of its stage 2 (decoupling's CE), else CE.
        self.baseline = values.get("baseline") or self.params.base_method or "CE"

    @property
    def tag(self) -> str:
        """Names this study's files: the parameter file's name that ``make reproduce`` passes as
        ``study_name`` (unique in its profile: two files of one notebook and one dataset, such as
        ``01_reweighting`` and ``01_reweighting.ce-seeds``, write two study files), else
        ``<notebook>-<dataset>[-IF<factor>]``."""
        if self.study_name:
            return str(self.study_name)
        data = self.data(quiet=True)
        factor = data.identity.get("imbalance_factor")
        return f"{self.notebook}-{data.name}" + (f"-IF{factor:g}" if factor else "")

    @property
    def figures(self) -> Path:
        return self.results_root / self.profile / "figures"

    def data(self, quiet: bool = False) -> Any:
        """The study's dataset (loaded once); prints its profile unless ``quiet``."""
        data = self._data(self.params.dataset)
        if not quiet:
            config = self.params.train
            schedule = f"; {config.epochs} epochs on {self.device}" if config is not None else ""
            print(f"{data.name}: {len(data.train):,} training images, {data.num_classes} classes, "
                  f"{len(data.test):,} test images{schedule}")
            print("training images per class:", data.class_counts)
        return data

    def load(self, dataset: Mapping[str, Any]) -> Any:
        """Another dataset (validated like the study's own), e.g. the same one at another IF."""
        return self._data(dataset_params(f"{self.notebook} parameters", dataset))

    def requests(self, model_params: Mapping[str, Any] | None = None) -> list[Request]:
        data = self.data(quiet=True)
        return study_requests(self.params, data.key(), data.num_classes, model_params)

    def results(self, model_params: Mapping[str, Any] | None = None) -> StudyResults:
        """Records of every request; with ``train_missing`` the missing ones are trained first."""
        requests = self.requests(model_params)
        if self.train_missing:
            complete(requests, self.store, self._data, self.device, self.progress_bars)
        data = self.data(quiet=True)
        records = {(r.method, r.seed): result(r, self.store, data, self.device, compute=self.train_missing)
                   for r in requests}
        return StudyResults(self, records, requests)

