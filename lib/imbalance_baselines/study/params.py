"""The one parameter schema of a study, checked completely before any work starts.

A study's parameters come from a notebook's tagged ``parameters`` cell (the defaults) overridden by a
profile's file ``params/<profile>/<notebook>[.<variant>].yaml``. ``parse_study`` turns them into a
typed, frozen ``StudyParams`` and refuses anything wrong with one ``ConfigError`` line naming the
file, the field, the value and what is allowed: unknown names, wrong types, values out of range (the
dataset loader's arguments, the schedule, every method's hyper-parameters, stage 2, CBD), a batch
larger than the training set, a deferred switch (DRW, DRS, mix-up fine-tuning) outside the schedule,
a method listed twice, missing data files. Losses, samplers and mix-up check their own ranges; they
are built here on the planned class counts (nothing is loaded) so their errors surface now, not after
an hour of training. ``make reproduce`` parses every file of a profile before any notebook starts,
and each notebook parses its own parameters again.

Files are read as YAML 1.2 reads them (``yaml12``).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..data.checks import same_kind
from ..train.precision import PRECISIONS
from ..train.spec import RunSpec, TrainConfig
from .yaml12 import ConfigError


# -- names and types ------------------------------------------------------------------------------
def _type_name(value: Any) -> str:
    return type(value).__name__


def check_keys(where: str, given: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
    """Unknown keys and wrong types in ``given`` against the keys/types of ``defaults``."""
    if not isinstance(given, Mapping):
        raise ConfigError(f"{where}={given!r} has type {_type_name(given)}; allowed: a mapping")
    for key, value in given.items():
        if key not in defaults:
            close = difflib.get_close_matches(str(key), list(defaults), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint}; allowed: {', '.join(sorted(defaults))}")
        if not same_kind(value, defaults[key]):
            raise ConfigError(f"{where}: {key}={value!r} has type {_type_name(value)}; "
                              f"allowed: {_type_name(defaults[key])}")


def train_config(where: str, overrides: Mapping[str, Any], num_train: int | None = None) -> TrainConfig:
    """A validated ``TrainConfig`` from a mapping of overrides (e.g. a params file's ``train``)."""
    defaults = {f.name: getattr(TrainConfig(), f.name) for f in fields(TrainConfig)}
    check_keys(f"{where}: train", overrides, defaults)
    config = TrainConfig(**overrides)
    try:
        config.validate(num_train if num_train is not None else 10**9)
    except ValueError as error:
        raise ConfigError(f"{where}: train.{str(error).removeprefix('train config: ')}") from None
    return config


# -- the typed schema -----------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetParams:
    """A dataset by registered name with its loader's arguments (``data.DATASETS``)."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.options}


@dataclass(frozen=True)
class MethodParams:
    """A recipe of ``study.methods.METHODS`` under a display name, with its own hyper-parameters."""

    method: str
    name: str
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CBDParams:
    """CBD (Iscen et al. 2021): teachers (the stage-1 method, one per teacher seed), the student's
    schedule, a and b of the loss, and the stage-2 methods run on each student."""

    teacher_seeds: tuple[int, ...]
    alpha: float
    beta: float
    train: TrainConfig
    stage2: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class StudyParams:
    """Everything one notebook's study computes from, validated (``parse_study``)."""

    notebook: str
    where: str
    values: Mapping[str, Any]               # every parameter of the notebook, defaults filled in
    dataset: DatasetParams | None = None
    train: TrainConfig | None = None
    model: str = "resnet32"
    seeds: tuple[int, ...] = (0,)
    methods: tuple[MethodParams, ...] = ()
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    base_method: str | None = None
    stage2: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    cbd: CBDParams | None = None
    precisions: tuple[str, ...] = ()
    posthoc: Mapping[str, Any] = field(default_factory=dict)  # {"base": method, "tau": tau} or {}
    planned_counts: tuple[int, ...] | None = None

    @property
    def stage1_methods(self) -> tuple[MethodParams, ...]:
        """The trained methods: the listed ones, plus the stage-2 base when stage 2 or CBD asks for it."""
        listed = self.methods
        if self.base_method and not any(m.name == self.base_method for m in listed):
            listed = listed + (MethodParams(self.base_method, self.base_method),)
        return listed


# Parameters set by the runner (make reproduce), never by a file.
RUNNER_PARAMETERS = ("profile", "data_dir", "results_root", "study_name", "progress", "interactive",
                     "train_missing")
# Ranges of notebook parameters that are not part of a study's computation.
_EXTRA_RANGES: dict[str, tuple[Any, str]] = {
    "imbalance_factors": (lambda v: len(v) > 0 and all(isinstance(x, (int, float)) and x >= 1 for x in v),
                          "a non-empty list of numbers >= 1"),
    "samples_per_class": (lambda v: v >= 1, "an integer >= 1"),
    "toy_imbalance_ratios": (lambda v: len(v) > 0 and all(isinstance(x, (int, float)) and x >= 1 for x in v),
                             "a non-empty list of numbers >= 1"),
    "protocol_epochs": (lambda v: v >= 1, "an integer >= 1"),
    "lr_reference_batch": (lambda v: v >= 0, "an integer >= 0 (0: the lr as given)"),
}


def _fail(where: str, field_name: str, value: Any, allowed: str, problem: str = "is out of range") -> None:
    raise ConfigError(f"{where}: {field_name}={value!r} {problem}; allowed: {allowed}")


def _seeds(where: str, field_name: str, seeds: Any) -> tuple[int, ...]:
    ok = isinstance(seeds, (list, tuple)) and seeds and all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds) and len(set(seeds)) == len(seeds)
    if not ok:
        _fail(where, field_name, seeds, "a non-empty list of distinct integers >= 0")
    return tuple(seeds)


def dataset_params(where: str, value: Mapping[str, Any]) -> DatasetParams:
    """A validated ``DatasetParams`` from ``{name: ..., **loader arguments}``."""
    from ..data import DATASETS, DatasetError
    from ..data.checks import check_options

    if not isinstance(value, Mapping) or "name" not in value:
        _fail(where, "dataset", value, "a mapping with a name (e.g. {name: cifar10_lt, imbalance_factor: 100})",
              "has no name")
    options = {k: v for k, v in value.items() if k != "name"}
    if value["name"] not in DATASETS:
        close = difflib.get_close_matches(str(value["name"]), DATASETS.names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        _fail(where, "dataset.name", value["name"], ", ".join(DATASETS.names()), f"is unknown{hint}")
    try:
        check_options(value["name"], options)
    except DatasetError as error:
        raise ConfigError(f"{where}: {error}") from None
    return DatasetParams(value["name"], options)


def _methods(where: str, entries: Any, hyperparameters: Mapping[str, Any]) -> tuple[MethodParams, ...]:
    from .methods import DEFAULT_HYPERPARAMETERS, HYPERPARAMETER_RANGES, METHODS

    if not isinstance(entries, (list, tuple)):
        _fail(where, "methods", entries, "a list of method names or {method, name, hyperparameters}",
              "is not a list")
    parsed = []
    for index, entry in enumerate(entries):
        spot = f"methods[{index}]"
        entry = {"method": entry} if isinstance(entry, str) else entry
        if not isinstance(entry, Mapping):
            _fail(where, spot, entry, "a method name or {method, name, hyperparameters}", "is not a method")
        check_keys(f"{where}: {spot}", entry, {"method": "", "name": "", "hyperparameters": {}})
        if entry.get("method") not in METHODS:
            close = difflib.get_close_matches(str(entry.get("method")), METHODS.names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            _fail(where, f"{spot}.method", entry.get("method"), ", ".join(METHODS), f"is unknown{hint}")
        own = entry.get("hyperparameters", {})
        check_keys(f"{where}: {spot}.hyperparameters", own, DEFAULT_HYPERPARAMETERS)
        for key, value in {**hyperparameters, **own}.items():
            if key in HYPERPARAMETER_RANGES and not HYPERPARAMETER_RANGES[key][0](value):
                _fail(where, f"{spot}.hyperparameters.{key}", value, HYPERPARAMETER_RANGES[key][1])
        parsed.append(MethodParams(entry["method"], entry.get("name", entry["method"]),
                                   {**hyperparameters, **own}))
    names = [m.name for m in parsed]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        _fail(where, "methods", twice[0], "each method once (give a variant its own name: "
              "{method: ..., name: ..., hyperparameters: ...})", "is listed twice")
    return tuple(parsed)


def _stage2(where: str, field_name: str, value: Any, num_classes: int | None) -> dict[str, dict[str, Any]]:
    from ..stage2 import TWO_STAGE, check_stage2

    if not isinstance(value, Mapping):
        _fail(where, field_name, value, "a mapping of stage-2 method -> parameters", "is not a mapping")
    for method, params in value.items():
        if method not in TWO_STAGE:
            _fail(where, f"{field_name}.{method}", params, ", ".join(TWO_STAGE), "is not a stage-2 method")
        if not isinstance(params, Mapping):
            _fail(where, f"{field_name}.{method}", params, "a mapping of parameters", "is not a mapping")
        try:
            check_stage2(method, params, num_classes)
        except ValueError as error:
            raise ConfigError(f"{where}: {field_name}.{error}") from None
    return {method: dict(params) for method, params in value.items()}


def _cbd(where: str, value: Mapping[str, Any], train: TrainConfig, num_train: int | None,
         num_classes: int | None) -> CBDParams | None:
    if not value:
        return None
    defaults = {"teacher_seeds": [0], "alpha": 0.8, "beta": 100.0, "train": {}, "stage2": {}}
    check_keys(f"{where}: cbd", value, defaults)
    merged = {**defaults, **value}
    if not 0 <= merged["alpha"] <= 1:
        _fail(where, "cbd.alpha", merged["alpha"], "a number in [0, 1] (the paper's CIFAR setting: 0.8)")
    if merged["beta"] < 0:
        _fail(where, "cbd.beta", merged["beta"], "a number >= 0 (TailCalibX: 100 / 200 / 100 at IF 100 / 50 / 10)")
    student = train_config(f"{where}: cbd", {**_overrides(train), **merged["train"]}, num_train)
    return CBDParams(_seeds(where, "cbd.teacher_seeds", merged["teacher_seeds"]), float(merged["alpha"]),
                     float(merged["beta"]), student, _stage2(where, "cbd.stage2", merged["stage2"], num_classes))


def _posthoc(where: str, value: Mapping[str, Any], methods: tuple[MethodParams, ...], given: bool) -> dict[str, Any]:
    """Post-hoc logit adjustment of a listed method: ``{"base": name, "tau": tau >= 0}`` or ``{}``; a
    notebook's default for a base the file's methods do not list is dropped, a file's own refused."""
    if not value:
        return {}
    check_keys(f"{where}: posthoc", value, {"base": "", "tau": 1.0})
    if not given and value.get("base") not in [m.name for m in methods]:
        return {}
    if value.get("base") not in [m.name for m in methods]:
        _fail(where, "posthoc.base", value.get("base"), "a method of methods", "is not a listed method")
    if value.get("tau", 1.0) < 0:
        _fail(where, "posthoc.tau", value["tau"], "a number >= 0")
    return {"base": value["base"], "tau": float(value.get("tau", 1.0))}


def _overrides(config: TrainConfig) -> dict[str, Any]:
    """The fields of ``config`` that differ from the defaults (to layer a student's schedule on)."""
    default = TrainConfig()
    return {f.name: getattr(config, f.name) for f in fields(TrainConfig)
            if getattr(config, f.name) != getattr(default, f.name)}


def parse_study(notebook: str, where: str, values: Mapping[str, Any], defaults: Mapping[str, Any],
                from_file: bool = True) -> StudyParams:
    """The validated study of ``notebook``: ``values`` (a file's, or a notebook's own) over the
    notebook's ``defaults``. Raises ``ConfigError`` at the first problem (module docstring)."""
    from ..models import MODELS

    check_keys(where, values, defaults)
    if from_file:
        for key in RUNNER_PARAMETERS:
            if key in values:
                raise ConfigError(f"{where}: {key} is set by make reproduce; remove it from the file")
    merged = {**defaults, **values}
    for key, (ok, allowed) in _EXTRA_RANGES.items():
        if key in values and not ok(values[key]):
            _fail(where, key, values[key], allowed)
    if "reference_profile" in values:
        from ..paths import params_dir

        profiles = sorted(p.name for p in params_dir().iterdir() if p.is_dir())
        if values["reference_profile"] not in profiles:
            _fail(where, "reference_profile", values["reference_profile"], ", ".join(profiles), "is not a profile")
    dataset = dataset_params(where, merged["dataset"]) if "dataset" in merged else None
    planned = _planned(dataset)
    num_train = sum(planned) if planned else None
    num_classes = len(planned) if planned else None
    if "train" in merged and merged.get("lr_reference_batch"):
        from .methods import scaled_learning_rate  # the linear scaling rule for another batch or GPU count

        merged["train"] = scaled_learning_rate(merged["train"], merged["lr_reference_batch"])
    train = train_config(where, merged["train"], num_train) if "train" in merged else None
    model = merged.get("model", "resnet32")
    if model not in MODELS:
        _fail(where, "model", model, ", ".join(MODELS), "is unknown")
    seeds = _seeds(where, "seeds", merged["seeds"]) if "seeds" in merged else (0,)
    hyperparameters = merged.get("hyperparameters", {})
    from .methods import DEFAULT_HYPERPARAMETERS, METHODS

    check_keys(f"{where}: hyperparameters", hyperparameters, DEFAULT_HYPERPARAMETERS)
    methods = _methods(where, merged.get("methods", []), hyperparameters)
    base = merged.get("base_method")
    if base is not None and base not in METHODS:
        _fail(where, "base_method", base, ", ".join(METHODS), "is unknown")
    precisions = tuple(merged.get("precisions", ()))
    for precision in precisions:
        if precision not in PRECISIONS:
            _fail(where, "precisions", precision, ", ".join(PRECISIONS), "is unknown")
    study = StudyParams(
        notebook, where, merged, dataset, train, model, seeds, methods, hyperparameters, base,
        _stage2(where, "stage2", merged.get("stage2", {}), num_classes),
        _cbd(where, merged.get("cbd", {}), train, num_train, num_classes) if train is not None else None,
        precisions, _posthoc(where, merged.get("posthoc", {}), methods, "posthoc" in values), tuple(planned) if planned else None)
    if train is not None and planned:
        _build_components(study, planned)
    return study


def _planned(dataset: DatasetParams | None) -> list[int] | None:
    from ..data.checks import planned_train_counts

    return planned_train_counts(dataset.name, dataset.options) if dataset is not None else None


def deferred_epochs(spec: RunSpec) -> dict[str, int]:
    """The epochs where a run's recipe switches (DRW, DRS, the end of mix-up), by field."""
    switches = {"loss_params.drw_epoch": spec.loss_params.get("drw_epoch"),
                "sampler_params.start_epoch": spec.sampler_params.get("start_epoch"),
                "mixup.stop_epoch": (spec.mixup or {}).get("stop_epoch")}
    return {name: epoch for name, epoch in switches.items() if epoch is not None}


def _build_components(study: StudyParams, planned: Sequence[int]) -> None:
    """Every run's loss, sampler and mix-up built on the planned class counts (their own range
    checks), and every deferred switch inside the schedule."""
    import torch

    from ..train.groups import RunState
    from .methods import METHODS

    labels = torch.repeat_interleave(torch.arange(len(planned)), torch.tensor(list(planned)))
    for index, entry in enumerate(study.stage1_methods):
        config = study.train
        spec = METHODS.get(entry.method).run(config, study.seeds[0], entry.hyperparameters, model=study.model)
        spot = f"methods[{index}] {entry.name!r}"
        for name, epoch in deferred_epochs(spec).items():
            if not 0 < epoch < config.epochs:
                raise ConfigError(f"{study.where}: {spot}: {name}={epoch} is outside the schedule; allowed: "
                                  f"1..{config.epochs - 1} (train.epochs={config.epochs}; deferred methods switch "
                                  f"at the first lr milestone)")
        if spec.distill is not None:
            continue  # the teachers do not exist yet; CBD's own settings are checked in _cbd
        try:
            RunState.build(replace(spec, distill=None), labels, list(planned))
        except ValueError as error:
            raise ConfigError(f"{study.where}: {spot} (hyperparameters "
                              f"{dict(entry.hyperparameters) or 'defaults'}): {error}") from None


def notebook_parameters(notebook: Path) -> dict[str, Any]:
    """The notebook's tagged parameters cell as {name: default value}."""
    import ast

    import papermill

    inspected = papermill.inspect_notebook(str(notebook))
    return {name: ast.literal_eval(entry["default"]) for name, entry in inspected.items()}
