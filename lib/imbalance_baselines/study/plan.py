"""What a study asks for: validated parameters -> run requests -> results found in the store.

A request is one row-and-seed of a study's table: a stage-1 run (``RunRequest``: method, seed,
dataset, schedule, the run's specification, whether its weights are kept, the teachers it distils
from), a stage-2 method on the frozen network of a kept run (``Stage2Request``), or post-hoc logit
adjustment of one (``PosthocRequest``). The stage-1 -> stage-2 chain is written here once: a
study's stage-1 methods, its ``stage2`` on each seed of ``base_method``, CBD's teachers, students
and their stage 2, and the precision study's per-precision runs all become requests, which the run
queue trains and the notebooks read back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Union

from ..train.spec import RunSpec, TrainConfig
from .params import CBDParams, DatasetParams, StudyParams
from .store import run_key


@dataclass(frozen=True)
class RunRequest:
    """A stage-1 training run of a study."""

    method: str
    seed: int
    dataset: DatasetParams
    spec: RunSpec
    config: TrainConfig
    keep_weights: bool = False
    teachers: tuple["RunRequest", ...] = ()

    def key(self, data_key: dict[str, Any]) -> str:
        return run_key(self.spec, data_key, self.config)


@dataclass(frozen=True)
class Stage2Request:
    """A stage-2 method (``stage2.TWO_STAGE``) on the kept network of ``base``."""

    method: str
    seed: int
    base: RunRequest
    stage2: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PosthocRequest:
    """Post-hoc logit adjustment (Menon et al. 2021) of the kept network of ``base``."""

    method: str
    seed: int
    base: RunRequest
    tau: float = 1.0


Request = Union[RunRequest, Stage2Request, PosthocRequest]


def _run(study: StudyParams, method: str, display: str, seed: int, config: TrainConfig,
         hyperparameters: Mapping[str, Any], keep: bool, model_params: Mapping[str, Any],
         teachers: tuple[RunRequest, ...] = ()) -> RunRequest:
    from .methods import METHODS

    spec = METHODS.get(method).run(config, seed, hyperparameters, name=f"{display} [seed {seed}]",
                                   model=study.model, model_params=dict(model_params) or None)
    return RunRequest(display, seed, study.dataset, spec, config, keep, teachers)


def teacher_description(teacher: RunRequest, data_key: dict[str, Any], num_classes: int) -> dict[str, Any]:
    """A teacher as a distilled run's specification names it (``train.distillation``): by the key of
    the run requested, not by where its weights lie (filled in when the student trains)."""
    return {"run": teacher.key(data_key), "model": teacher.spec.model, "model_params": teacher.spec.model_params,
            "num_classes": num_classes, "weights": ""}


def _cbd(study: StudyParams, cbd: CBDParams, data_key: dict[str, Any], num_classes: int,
         model_params: Mapping[str, Any]) -> list[Request]:
    teachers = tuple(_run(study, study.base_method, study.base_method, s, study.train, study.hyperparameters,
                          True, model_params) for s in cbd.teacher_seeds)
    distill = {"teachers": [teacher_description(t, data_key, num_classes) for t in teachers],
               "distill_alpha": cbd.alpha, "distill_beta": cbd.beta}
    requests: list[Request] = []
    for seed in study.seeds:
        student = _run(study, "CBD", "CBD", seed, cbd.train, {**study.hyperparameters, **distill}, True,
                       model_params, teachers)
        requests.append(student)
        requests += [Stage2Request(f"CBD + {m}", seed, student, m, p) for m, p in cbd.stage2.items()]
    return requests


def study_requests(study: StudyParams, data_key: dict[str, Any], num_classes: int,
                   model_params: Mapping[str, Any] | None = None) -> list[Request]:
    """Every request of ``study`` in table order (``data_key``: the loaded dataset's identity key)."""
    if study.train is None or study.dataset is None:
        return []
    model_params = model_params or {}
    configs = ([(f" ({p})", replace(study.train, precision=p)) for p in study.precisions]
               or [("", study.train)])
    kept = {study.base_method} if (study.stage2 or study.cbd) else set()
    requests: list[Request] = []
    for suffix, config in configs:
        for entry in study.stage1_methods:
            for seed in study.seeds:
                requests.append(_run(study, entry.method, entry.name + suffix, seed, config,
                                     entry.hyperparameters, entry.name in kept, model_params))
    bases = {(r.method, r.seed): r for r in requests if isinstance(r, RunRequest)}
    for seed in study.seeds:
        base = bases.get((study.base_method, seed))
        requests += [Stage2Request(m, seed, base, m, p) for m, p in study.stage2.items()] if base else []
    if study.cbd is not None:
        requests += _cbd(study, study.cbd, data_key, num_classes, model_params)
    if study.posthoc:
        requests = _with_posthoc(requests, study.posthoc["base"], study.posthoc["tau"])
    return requests


def _with_posthoc(requests: list[Request], base_method: str, tau: float) -> list[Request]:
    """``requests`` plus post-hoc logit adjustment of each seed of ``base_method`` (its weights kept)."""
    out: list[Request] = []
    added = []
    for request in requests:
        if isinstance(request, RunRequest) and request.method == base_method:
            request = replace(request, keep_weights=True)
            added.append(PosthocRequest(f"{base_method} + post-hoc LA", request.seed, request, tau))
        out.append(request)
    return out + added


def stage1_of(request: Request) -> RunRequest:
    """The training run a request needs first (itself for a stage-1 run)."""
    return request if isinstance(request, RunRequest) else request.base
