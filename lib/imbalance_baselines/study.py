"""The face the notebooks call: validated runs -> cached or freshly trained results.

Every run's result lives in its own folder ``<results_dir>/runs/<name>-<key>/`` where ``key`` hashes
the run's parameters (not its display name), the dataset identity, the training schedule and the
training-code version. A finished run is loaded, never trained again; runs still missing are trained
together in one pass (``train.engine``), checkpointing to ``<results_dir>/checkpoints/`` so that an
interrupted study resumes, on this machine or another, with the same call. Results are written
atomically: a crash never leaves a result that counts as done.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .data.bundle import LongTailedData
from .evaluate import classification_report
from .train.checkpoint import load_torch, save_json_atomic, save_torch_atomic
from .train.engine import RunOutcome, evaluate, study_key, train
from .train.sources import make_source
from .train.precision import resolve_precision
from .train.spec import TRAINING_CODE_VERSION, RunSpec, TrainConfig, short_hash

RESULT_SCHEMA = 1
log = logging.getLogger("imbalance_baselines.study")


@dataclass
class RunResult:
    """A finished run as stored on disk: parameters, metrics, history; ``model`` when kept."""

    name: str
    folder: Path
    record: dict[str, Any]

    @property
    def test(self) -> dict[str, Any]:
        return self.record["test"]

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.record["history"]

    def load_model(self) -> torch.nn.Module:
        """The final network (only for runs trained with ``keep_weights``)."""
        from .models import MODELS  # models sit above data/evaluate; imported on use

        path = self.folder / "model.pt"
        if not path.exists():
            raise FileNotFoundError(f"{path}: weights of run {self.name!r} were not kept")
        spec = self.record["run"]
        model = MODELS.build(spec["model"], num_classes=len(self.record["data"]["train_counts"]),
                             **spec["model_params"])
        model.load_state_dict(load_torch(path))
        return model.eval()


def run_key(run: RunSpec, data: LongTailedData, config: TrainConfig) -> str:
    """The cache key of one run (its display name excluded)."""
    return short_hash([run.key(), data.key(), config.training_dict(), TRAINING_CODE_VERSION])


def run_folder(results_dir: Path, run: RunSpec, data: LongTailedData, config: TrainConfig) -> Path:
    """``runs/<name>-<key>``; a result stored under another display name with the same key is reused."""
    key = run_key(run, data, config)
    existing = sorted((results_dir / "runs").glob(f"*-{key}"))
    if existing:
        return existing[0]
    slug = re.sub(r"[^A-Za-z0-9_.+-]+", "_", run.name).strip("_") or "run"
    return results_dir / "runs" / f"{slug}-{key}"


def load_result(folder: Path) -> RunResult | None:
    """The stored result in ``folder``, or None when missing or unreadable (never half-trusted).

    A failed run (non-finite loss) is a result too: training it again would fail the same way.
    """
    path = folder / "result.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if record.get("schema") != RESULT_SCHEMA or record.get("status") not in ("finished", "failed"):
        return None
    return RunResult(record["name"], folder, record)


def run_study(runs: list[RunSpec], data: LongTailedData, config: TrainConfig,
              results_dir: str | Path, device: str = "cpu", keep_weights: bool | list[str] = False,
              progress: bool = True) -> dict[str, RunResult]:
    """Results of every run, training (in one pass) only those not already in the cache."""
    results_dir = Path(results_dir)
    folders = {run.name: run_folder(results_dir, run, data, config) for run in runs}
    results = {run.name: load_result(folders[run.name]) for run in runs}
    for run in runs:  # weights asked for but not kept when the run was cached: train it again
        wants = keep_weights if isinstance(keep_weights, bool) else run.name in keep_weights
        if wants and results[run.name] is not None and not (folders[run.name] / "model.pt").exists():
            results[run.name] = None
    missing = [run for run in runs if results[run.name] is None]
    for run in runs:  # the caller's display name, whatever name the cached copy was stored under
        if results[run.name] is not None:
            results[run.name].name = run.name
    if missing:
        log.info("training %d of %d runs: %s", len(missing), len(runs), [r.name for r in missing])
        checkpoint = results_dir / "checkpoints" / f"{study_key(missing, data, config)}.pt"
        started = time.time()
        outcomes = train(missing, data, config, device, checkpoint_path=checkpoint, progress=progress)
        for run in missing:
            keep = keep_weights if isinstance(keep_weights, bool) else run.name in keep_weights
            results[run.name] = _store(outcomes[run.name], folders[run.name], data, config, device,
                                       keep, started)
        checkpoint.unlink(missing_ok=True)
    return results  # type: ignore[return-value]


def _store(outcome: RunOutcome, folder: Path, data: LongTailedData, config: TrainConfig,
           device: str, keep_weights: bool, started: float) -> RunResult:
    record: dict[str, Any] = {
        "schema": RESULT_SCHEMA, "name": outcome.spec.name, "run": outcome.spec.to_dict(),
        "config": config.to_dict(), "data": {**data.identity, "train_counts": data.class_counts,
                                             "name": data.name},
        "history": outcome.history, "environment": environment(), "training": outcome.info,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if outcome.error is not None:
        record.update(status="failed", error=outcome.error)
        save_json_atomic(record, folder / "result.json")
        log.error(outcome.error)
        return load_result(folder)
    precision = resolve_precision(config.precision, torch.device(device))
    source = make_source(data, torch.device(device), channels_last=False)
    for split_name in ("test", "val"):
        split = getattr(data, split_name)
        if split is None:
            continue
        logits = evaluate(outcome.model.to(device), source, split_name, precision)
        record[split_name] = classification_report(logits, split.labels, data.class_counts)
    if keep_weights:
        save_torch_atomic(outcome.model.state_dict(), folder / "model.pt")
    record["status"] = "finished"
    save_json_atomic(record, folder / "result.json")  # last: its presence means done
    return load_result(folder)  # exactly what a later cache hit returns


def environment() -> dict[str, Any]:
    import numpy

    return {"imbalance_baselines": __version__, "torch": torch.__version__,
            "numpy": numpy.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "processor": platform.processor() or platform.machine()}


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` -> "cuda" when a GPU is present, else "cpu"."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_data(dataset: dict[str, Any], data_dir: str | Path) -> LongTailedData:
    """A dataset from its parameters ``{"name": ..., **loader params}`` (see ``data.DATASETS``)."""
    from .data import DATASETS

    params = dict(dataset)
    name = params.pop("name")
    return DATASETS.build(name, root=data_dir, **params)


def run_methods(methods: list[str | dict[str, Any]], data: LongTailedData, config: TrainConfig,
                results_dir: str | Path, seeds: list[int] = (0,),
                hyperparameters: dict[str, Any] | None = None, device: str = "auto",
                keep_weights: list[str] = (), progress: bool = True,
                model: str = "resnet32",
                model_params: dict[str, Any] | None = None) -> dict[tuple[str, int], RunResult]:
    """Train (or load) every method x seed as one study; results keyed by (display name, seed).

    A method is a name from ``methods.METHODS`` or ``{"method": name, "name": display name,
    "hyperparameters": {...}}`` for a variant with its own settings. ``model_params`` go to every
    run's model (e.g. ``initial_weights(...)``).
    """
    from .methods import METHODS

    runs, keys, keep = [], [], []
    for entry in methods:
        entry = {"method": entry} if isinstance(entry, str) else entry
        display = entry.get("name", entry["method"])
        hp = {**(hyperparameters or {}), **entry.get("hyperparameters", {})}
        for seed in seeds:
            run = METHODS.get(entry["method"]).run(config, seed, hp, name=f"{display} [seed {seed}]",
                                                   model=model, model_params=model_params)
            runs.append(run)
            keys.append((display, seed))
            if display in keep_weights:
                keep.append(run.name)
    results = run_study(runs, data, config, results_dir, resolve_device(device), keep, progress)
    return {key: results[run.name] for key, run in zip(keys, runs)}


def run_cbd(base_method: str, data: LongTailedData, config: TrainConfig, results_dir: str | Path,
            seeds: list[int] = (0,), teacher_seeds: list[int] = (0,), alpha: float = 0.8,
            beta: float = 100.0, stage2: dict[str, dict[str, Any]] | None = None,
            train: dict[str, Any] | None = None,
            hyperparameters: dict[str, Any] | None = None, device: str = "auto", progress: bool = True,
            model: str = "resnet32") -> dict[tuple[str, int], RunResult]:
    """CBD (Iscen et al. 2021; ``distillation``): teachers are ``base_method`` runs with kept weights,
    one per teacher seed (cache hits when already trained); one student per seed, kept too; then each
    two-stage method of ``stage2`` (e.g. TailCalibX) on every student's frozen network.

    ``train`` overrides the student's schedule (the teachers keep ``config``): a class-aware epoch
    draws n_max x C images, so at CIFAR-10-LT IF100 one student epoch sees as many images as four
    instance-sampled ones.

    Results keyed ("CBD", seed) and ("CBD + <method>", seed); the teachers are not returned.
    """
    teachers = run_methods([base_method], data, config, results_dir, teacher_seeds, hyperparameters,
                           device, keep_weights=[base_method], progress=progress, model=model)
    distill = {"teachers": [str(teachers[(base_method, s)].folder) for s in teacher_seeds],
               "distill_alpha": alpha, "distill_beta": beta}
    student_config = replace(config, **(train or {}))
    student_config.validate(len(data.train))
    results = run_methods([{"method": "CBD", "hyperparameters": distill}], data, student_config, results_dir,
                          seeds, hyperparameters, device, keep_weights=["CBD"], progress=progress,
                          model=model)
    for seed in seeds:
        for method, params in (stage2 or {}).items():
            results[(f"CBD + {method}", seed)] = run_two_stage(results[("CBD", seed)], data, method,
                                                               params, device, seed)
    return results


def posthoc_adjusted(result: RunResult, data: LongTailedData, tau: float = 1.0,
                     device: str = "auto") -> RunResult:
    """Post-hoc logit adjustment (Menon et al. 2021, Eq. 6) of a kept model: predict with
    argmax(z - tau * log prior) on the test (and validation) split. Nothing is trained; the
    metrics are cached next to the model as ``posthoc-tau<tau>.json``."""
    from .losses import posthoc_logit_adjustment

    path = result.folder / f"posthoc-tau{tau:g}.json"
    if path.exists():
        record = json.loads(path.read_text())
        return RunResult(f"{result.name} + post-hoc LA", result.folder, record)
    device = resolve_device(device)
    model = result.load_model().to(device)
    source = make_source(data, torch.device(device), channels_last=False)
    record = {**result.record, "posthoc": {"method": "logit adjustment", "tau": tau}}
    for split_name in ("test", "val"):
        split = getattr(data, split_name)
        if split is None:
            continue
        logits = evaluate(model, source, split_name, result.record["training"]["precision"])
        adjusted = posthoc_logit_adjustment(logits, data.class_counts, tau)
        record[split_name] = classification_report(adjusted, split.labels, data.class_counts)
    save_json_atomic(record, path)
    return RunResult(f"{result.name} + post-hoc LA", result.folder, json.loads(path.read_text()))


def prepare(dataset: dict[str, Any], data_dir: str | Path, train: dict[str, Any],
            results_root: str | Path, profile: str) -> tuple[LongTailedData, TrainConfig, Path]:
    """What every method notebook starts with: validated data, schedule and its results folder
    (``<results_root>/<profile>/<dataset>``, shared by the notebooks of a profile so that a run
    common to two notebooks, e.g. the CE baseline, is trained once)."""
    from .config import train_config

    data = load_data(dataset, data_dir)
    config = train_config("train", train, len(data.train))
    return data, config, Path(results_root) / profile / dataset["name"]


def initial_weights(init_weights: str, data_dir: str | Path) -> dict[str, Any]:
    """Model parameters loading initial weights from a local state-dict file (``init_weights``,
    relative to ``data_dir`` unless absolute; "" for a random initialisation). Nothing is downloaded:
    a missing file is a ``FileNotFoundError`` naming its path and how to make it."""
    if not init_weights:
        return {}
    path = Path(data_dir) / init_weights
    if not path.is_file():
        raise FileNotFoundError(
            f"init_weights={init_weights!r}: {path.resolve()} is missing; save an ImageNet-pretrained "
            f"state dict there, e.g. on a machine with internet access: torch.save(torchvision.models."
            f"resnet152(weights='IMAGENET1K_V1').state_dict(), '{path.name}')")
    return {"weights_path": str(path.resolve())}


def scaled_learning_rate(train: dict[str, Any], reference_batch: int,
                         processes: int | None = None) -> dict[str, Any]:
    """``train`` with its lr scaled by the linear rule (``train.schedule.linear_scaled_lr``): the
    recipe's lr is for a total batch of ``reference_batch``; the total batch here is ``batch_size``
    (per process) x ``processes`` (default: torchrun's ``WORLD_SIZE``, 1 without torchrun).
    ``reference_batch`` 0 leaves ``train`` as it is."""
    from .train.schedule import linear_scaled_lr

    if not reference_batch:
        return dict(train)
    processes = processes if processes is not None else int(os.environ.get("WORLD_SIZE", "1"))
    lr = train.get("lr", TrainConfig.lr)
    total = train.get("batch_size", TrainConfig.batch_size) * processes
    return {**train, "lr": linear_scaled_lr(lr, total, reference_batch)}


# Bump when a two-stage method changes what it computes (its cached results are then not reused).
STAGE2_VERSION = 1


def run_two_stage(base: RunResult, data: LongTailedData, method: str, params: dict[str, Any] | None = None,
                  device: str = "auto", seed: int = 0) -> RunResult:
    """A two-stage method (``decoupling.TWO_STAGE``) on the frozen network of a kept run.

    Cached as ``<run folder>/stage2-<method>-<key>.json``: the backbone's run, the method, its
    parameters and seed make the key, so it is computed once.
    """
    from . import feature_generation  # noqa: F401 - registers TailCalib and TailCalibX
    from .decoupling import TWO_STAGE, FrozenBackbone

    params = dict(params or {})
    factory = TWO_STAGE.get(method)
    key = short_hash([method, params, seed, STAGE2_VERSION])
    slug = re.sub(r"[^A-Za-z0-9]+", "-", method).strip("-").lower()
    path = base.folder / f"stage2-{slug}-{key}.json"
    name = f"{base.name} -> {method}"
    if path.exists():
        return RunResult(name, base.folder, json.loads(path.read_text()))
    started = time.time()
    precision = base.record["training"]["precision"]
    backbone = FrozenBackbone(base.load_model(), data, resolve_device(device), precision)
    head, info = factory(backbone, seed, **params)
    record = {**{k: base.record[k] for k in ("schema", "run", "config", "data", "training")},
              "name": name, "status": "finished", "environment": environment(),
              "history": base.record["history"],
              "stage2": {"method": method, "params": params, "seed": seed, "info": info,
                         "base": base.name, "seconds": None}}
    with torch.no_grad():
        for split_name in ("test", "val"):
            if getattr(data, split_name) is not None:
                logits = head(backbone.features(split_name))
                record[split_name] = classification_report(logits, getattr(data, split_name).labels,
                                                           data.class_counts)
    record["stage2"]["seconds"] = time.time() - started
    save_json_atomic(record, path)
    return RunResult(name, base.folder, json.loads(path.read_text()))
