"""A profile's run queue: every run of every notebook of the profile, trained once, most useful first.

``plan_profile`` parses every parameter file of ``params/<profile>/`` (the notebooks' studies), turns
them into requests (``plan``), removes what the store already satisfies and groups the rest into
units (``execute``): a run that two notebooks ask for is one run, runs sharing a prefix (CE / CE-DRW /
CE-DRS until epoch 160) are one unit, and units drawing the same batches train in one pass
(``execute.passes``). Units are ordered by the profile's priority list
(``params/<profile>/queue.yaml``: tiers of selectors; a unit goes to the first tier one of its runs
matches, unmatched units last), so a partial table is the most useful one. Stage 2 and post-hoc
adjustment follow as soon as their base run is finished.

Executors (``run_queue``): this process; N local worker processes (one per GPU, or several runs per
GPU or CPU); or a Ray cluster (one task per unit, fractional ``num_gpus`` so several ResNet-32 runs
share one large GPU). All train through ``execute.train_unit``, so every executor computes the same
records (bit for bit on the CPU with the same thread count). DDP (torchrun) remains the way to train
one large run on several GPUs; Ray is for many runs.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .execute import DataCache, Unit, find, follow_up, passes, train_unit, units_to_train
from .params import StudyParams, check_keys
from .yaml12 import ConfigError, read_params
from .plan import Request, RunRequest, stage1_of, study_requests
from .store import Store, resolve_device
from ..train.precision import native_bf16

log = logging.getLogger("imbalance_baselines.queue")
QUEUE_FILE = "queue.yaml"
SELECTOR_KEYS = {"notebook": None, "dataset": "", "imbalance_factor": 0.0, "methods": [], "seeds": [], "precision": ""}


@dataclass
class ProfilePlan:
    """The requests of every study of a profile and the units still to train, in queue order."""

    profile: str
    requests: dict[str, list[Request]]        # by study (parameter-file stem)
    units: list[Unit]
    data: DataCache
    store: Store
    follow_ups: list[Request] = field(default_factory=list)

    def all_requests(self) -> list[Request]:
        return [r for rs in self.requests.values() for r in rs]


def read_priority(folder: Path) -> list[dict[str, Any]]:
    """The profile's tiers (``queue.yaml``: ``priority: [selector, ...]``); [] when there is none."""
    path = folder / QUEUE_FILE
    if not path.exists():
        return []
    document = read_params(path)
    check_keys(str(path), document, {"priority": [], "default_jobs": ""})
    tiers = document.get("priority", [])
    for index, tier in enumerate(tiers):
        check_keys(f"{path}: priority[{index}]", tier, SELECTOR_KEYS)
    return tiers


def default_jobs(folder: Path) -> str:
    """How ``make reproduce`` runs this profile's queue unless JOBS says otherwise ("1": this process;
    "0": train nothing, render what the store has)."""
    path = folder / QUEUE_FILE
    return str(read_params(path).get("default_jobs", "1")) if path.exists() else "1"


def _without_precision(method: str) -> str:
    """``"CE (bf16)"`` -> ``"CE"``: the precision study's display names name the method first."""
    for precision in ("fp32", "bf16", "auto"):
        method = method.removesuffix(f" ({precision})")
    return method


def _matches(selector: Mapping[str, Any], study: str, request: RunRequest) -> bool:
    checks = {
        "notebook": lambda v: any(study.split(".")[0] == n or study == n for n in ([v] if isinstance(v, str) else v)),
        "dataset": lambda v: request.dataset.name == v,
        "imbalance_factor": lambda v: float(request.dataset.options.get("imbalance_factor", -1)) == float(v),
        "methods": lambda v: _without_precision(request.method) in v,
        "seeds": lambda v: request.seed in v,
        "precision": lambda v: request.config.precision == v,
    }
    return all(checks[key](value) for key, value in selector.items())


def tier(tiers: list[dict[str, Any]], study: str, request: RunRequest) -> int:
    """The index of the first tier ``request`` matches (len(tiers) when none)."""
    return next((i for i, selector in enumerate(tiers) if _matches(selector, study, request)), len(tiers))


def plan_profile(studies: Mapping[str, StudyParams], folder: Path, data_dir: str | Path, store: Store,
                 model_params: Callable[[StudyParams], Mapping[str, Any]] = lambda study: {}) -> ProfilePlan:
    """Every request of ``studies`` (by file stem) and the units still to train, in priority order."""
    data = DataCache(data_dir)
    tiers = read_priority(folder)
    requests: dict[str, list[Request]] = {}
    rank: dict[int, int] = {}
    for name, study in studies.items():
        if study.dataset is None or study.train is None:
            requests[name] = []
            continue
        loaded = data(study.dataset)
        requests[name] = study_requests(study, loaded.key(), loaded.num_classes, model_params(study))
        for request in requests[name]:
            base = stage1_of(request)
            for run in (base, *base.teachers):
                rank[id(run)] = min(rank.get(id(run), len(tiers)), tier(tiers, name, base))
    ordered = sorted((r for rs in requests.values() for r in rs), key=lambda r: rank.get(id(stage1_of(r)), len(tiers)))
    units = passes(units_to_train(ordered, store, data, priority=lambda run: rank.get(id(run), len(tiers))), data)
    follow_ups = [r for r in ordered if not isinstance(r, RunRequest)]
    return ProfilePlan(studies and next(iter(studies.values())).values.get("profile", "") or "", requests, units,
                       data, store, follow_ups)


def defer_slow_bf16(plan: ProfilePlan, device: str = "auto") -> list[Unit]:
    """Take out of ``plan`` the units pinned to bf16 (and the units learning from them) when
    ``device`` has no native bf16, where bf16 autocast runs many times slower than fp32 (the
    project guide's ResNet-32 step on an AVX2-only AMD Zen 3: 234 images/s fp32, 14 bf16); they wait
    for a machine with native bf16. Returns them."""
    if native_bf16(torch.device(resolve_device(device))):
        return []
    deps = _dependencies(plan.units, plan)
    slow = {i for i, unit in enumerate(plan.units) if unit.config.precision == "bf16"}
    while grown := {i for i, needs in deps.items() if needs & slow} - slow:
        slow |= grown
    deferred = [plan.units[i] for i in sorted(slow)]
    plan.units = [unit for i, unit in enumerate(plan.units) if i not in slow]
    return deferred


# -- executors ------------------------------------------------------------------------------------
def _follow_ups_of(plan: ProfilePlan, unit: Unit | None, device: str) -> None:
    """Stage 2 and post-hoc adjustment whose base is ready (all of them when ``unit`` is None)."""
    names = None if unit is None else {r.spec.name for r in unit.runs}
    for request in plan.follow_ups:
        base = stage1_of(request)
        if names is None or base.spec.name in names:
            data = plan.data(base.dataset)
            if find(plan.store, base, data) is not None:
                follow_up(request, plan.store, data, device)


def _train_in_worker(unit: Unit, store_root: str, data_dir: str, device: str, threads: int) -> list[str]:
    """One unit in a worker process (local pool or Ray): load its data, train, store; its run keys."""
    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    store = Store(store_root)
    data = DataCache(data_dir)(unit.dataset)
    return [r.key for r in train_unit(unit, store, data, device)]


def _dependencies(units: list[Unit], plan: ProfilePlan) -> dict[int, set[int]]:
    """unit index -> indices of the units holding its teachers."""
    holder = {}
    for index, unit in enumerate(units):
        data = plan.data(unit.dataset)
        for run in unit.runs:
            holder[run.key(data.key())] = index
    deps: dict[int, set[int]] = {}
    for index, unit in enumerate(units):
        data = plan.data(unit.dataset)
        deps[index] = {holder[t.key(data.key())] for r in unit.runs for t in r.teachers
                       if t.key(data.key()) in holder} - {index}
    return deps


def run_in_process(plan: ProfilePlan, device: str = "auto", progress: bool = False,
                   on_unit: Callable[[Unit], None] | None = None) -> None:
    _follow_ups_of(plan, None, device)  # stage 2 on bases finished before: minutes, not hours
    for unit in plan.units:
        if on_unit is not None:
            on_unit(unit)
        train_unit(unit, plan.store, plan.data(unit.dataset), device, progress)
        _follow_ups_of(plan, unit, device)
    _follow_ups_of(plan, None, device)


def run_local_workers(plan: ProfilePlan, workers: int, data_dir: str, device: str = "auto",
                      threads: int = 1) -> None:
    """``workers`` processes (spawned), each training one unit at a time in queue order; a unit
    starts once the units holding its teachers are done."""
    _follow_ups_of(plan, None, device)
    deps = _dependencies(plan.units, plan)
    done: set[int] = set()
    waiting = list(range(len(plan.units)))
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        running: dict[concurrent.futures.Future, int] = {}
        while waiting or running:
            for index in [i for i in waiting if deps[i] <= done][: max(0, workers - len(running))]:
                waiting.remove(index)
                running[pool.submit(_train_in_worker, plan.units[index], str(plan.store.root), str(data_dir),
                                    device, threads)] = index
            if not running:
                raise RuntimeError("queue: units wait for teachers that no unit trains")
            finished, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in finished:
                index = running.pop(future)
                future.result()  # a worker's error stops the queue here, naming it
                done.add(index)
                _follow_ups_of(plan, plan.units[index], device)
    _follow_ups_of(plan, None, device)


def run_ray(plan: ProfilePlan, data_dir: str, address: str | None = None, device: str = "auto",
            threads: int = 1, gpus_per_unit: float = 0.0) -> None:
    """One Ray task per unit (``address``: an existing cluster, e.g. "127.0.0.1:6379" after ``ray
    start --head``; None starts a local one); ``gpus_per_unit`` < 1 packs several units per GPU."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    task = ray.remote(num_cpus=threads, num_gpus=gpus_per_unit)(_ray_unit)
    _follow_ups_of(plan, None, device)
    deps = _dependencies(plan.units, plan)
    refs: dict[int, Any] = {}
    for index, unit in enumerate(plan.units):  # queue order; Ray starts a task once its inputs exist
        refs[index] = task.remote(unit, str(plan.store.root), str(data_dir), device, threads,
                                  *[refs[d] for d in sorted(deps[index])])
    pending = {ref: index for index, ref in refs.items()}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        index = pending.pop(ready[0])
        ray.get(ready[0])
        _follow_ups_of(plan, plan.units[index], device)
    _follow_ups_of(plan, None, device)


def _ray_unit(unit: Unit, store_root: str, data_dir: str, device: str, threads: int, *teachers: Any) -> list[str]:
    return _train_in_worker(unit, store_root, data_dir, device, threads)


def run_queue(plan: ProfilePlan, jobs: str, data_dir: str, device: str = "auto", threads: int | None = None,
              progress: bool = False) -> None:
    """Train the plan's units with the executor ``jobs`` names: "1" this process, "N" local
    workers, "ray" or "ray:<address>" Ray ("0": nothing). ``threads``: torch threads per training
    process, this one included (None: this process keeps its setting, each worker gets 1); equal
    thread counts make every executor's records bit-identical on a CPU."""
    if jobs == "0" or not (plan.units or plan.follow_ups):
        return
    if jobs == "1":
        before = torch.get_num_threads()
        torch.set_num_threads(threads or before)
        try:
            run_in_process(plan, device, progress)
        finally:
            torch.set_num_threads(before)
    elif jobs.isdigit():
        run_local_workers(plan, int(jobs), data_dir, device, threads or 1)
    elif jobs == "ray" or jobs.startswith("ray:"):
        run_ray(plan, data_dir, jobs.partition(":")[2] or None, device, threads or 1)
    else:
        raise ConfigError(f"JOBS={jobs!r}; allowed: 0 (train nothing), 1 (this process), N (local worker "
                          "processes), ray or ray:<address> (a Ray cluster)")
