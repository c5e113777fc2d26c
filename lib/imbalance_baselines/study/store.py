"""The results store: every run's record, weights and checkpoints, found by what the run computes.

One store per project, ``results/store/`` (every profile's runs together, so a run two profiles or
notebooks ask for is trained once)::

    <store>/<dataset>/<name>-<key>/result.json         the run record (``record.RunRecord``)
                                  /model.pt            its final weights, when kept
                                  /stage2-<method>-<key>.json, posthoc-tau<tau>.json
                                  /tensorboard/        its curves as TensorBoard events (``events``)
    <store>/<dataset>/checkpoints/<unit key>.pt        an unfinished unit of runs trained together

``key`` hashes the run's specification (not its display name), the dataset's identity, the schedule
(not the evaluation or checkpoint cadence) and the training-code version. The requested precision is
part of the key, and a request is also satisfied by a sibling record: a run asked with precision
"auto" (whatever the machine computes natively) accepts a finished fp32 or bf16 record of the same
run; a run asked explicitly in fp32 (bf16) accepts an "auto" record whose every stretch was fp32
(bf16). Records are written atomically, weights before the record, so a record's presence means done.
"""

from __future__ import annotations

import logging
import platform
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..data.bundle import LongTailedData
from ..evaluate import classification_report
from ..train.checkpoint import load_torch, save_torch_atomic
from ..train.engine import RunOutcome, evaluate
from ..train.precision import PRECISIONS
from ..train.sources import FileListData, make_source
from ..train.spec import TRAINING_CODE_VERSION, RunSpec, TrainConfig, short_hash
from .events import write_events
from .record import RunRecord, Stage2Info, Stretch

log = logging.getLogger("imbalance_baselines.study")
# Bump when a two-stage method changes what it computes (its cached results are then not reused).
STAGE2_VERSION = 1


def run_key(spec: RunSpec, data_key: dict[str, Any], config: TrainConfig) -> str:
    """The store key of one run (its display name excluded)."""
    return short_hash([spec.key(), data_key, config.training_dict(), TRAINING_CODE_VERSION])


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name).strip("_") or "run"


def environment() -> dict[str, Any]:
    """Library versions and the machine, recorded with every result."""
    import numpy

    return {"torch": torch.__version__, "numpy": numpy.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "processor": platform.processor() or platform.machine()}


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` -> "cuda" when a GPU is present, else "cpu"."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _accepts(requested: str, record: RunRecord) -> bool:
    """Whether a finished record of a sibling precision satisfies a request (module docstring)."""
    return requested == "auto" or record.precision == requested


class Store:
    """The results store under ``root`` (module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # -- where things live ----------------------------------------------------------------------
    def run_folder(self, dataset: str, spec: RunSpec, key: str) -> Path:
        """``<dataset>/<name>-<key>``: an existing folder of that key whatever its name, else a new one."""
        existing = sorted((self.root / dataset).glob(f"*-{key}"))
        return existing[0] if existing else self.root / dataset / f"{_slug(spec.name)}-{key}"

    def checkpoint(self, dataset: str, unit_key: str) -> Path:
        return self.root / dataset / "checkpoints" / f"{unit_key}.pt"

    # -- finding --------------------------------------------------------------------------------
    def find(self, dataset: str, spec: RunSpec, data_key: dict[str, Any], config: TrainConfig,
             keep_weights: bool = False) -> RunRecord | None:
        """The record satisfying this request, or None (a stopped run counts: it would stop again).
        With ``keep_weights`` a finished record without weights does not satisfy it."""
        own = run_key(spec, data_key, config)
        siblings = [run_key(spec, data_key, replace(config, precision=p)) for p in PRECISIONS if p != config.precision]
        for index, key in enumerate([own, *siblings]):
            record = RunRecord.read(self.run_folder(dataset, spec, key) / "result.json")
            if record is None or (index > 0 and not (record.finished and _accepts(config.precision, record))):
                continue
            if keep_weights and record.finished and not (record.folder / "model.pt").exists():
                continue
            return record
        return None

    # -- writing a trained run ------------------------------------------------------------------
    def save(self, outcome: RunOutcome, data: LongTailedData | FileListData, config: TrainConfig,
             device: str, keep_weights: bool) -> RunRecord:
        """The record of a trained run: test and validation metrics of its final model (or the error
        of a stopped run), its weights when kept; written last, so its presence means done."""
        key = run_key(outcome.spec, data.key(), config)
        folder = self.run_folder(data.name, outcome.spec, key)
        record = RunRecord(
            status="finished" if outcome.error is None else "stopped", name=outcome.spec.name, key=key,
            run=outcome.spec.to_dict(), config=config.to_dict(),
            data={**data.identity, "train_counts": data.class_counts, "name": data.name},
            history=outcome.history, stretches=[Stretch.from_dict(s) for s in outcome.info["stretches"]],
            error=outcome.error, environment=environment())
        if outcome.error is None:
            source = make_source(data, torch.device(device), channels_last=False)
            model = outcome.model.to(device)
            for split in ("test", "val"):
                if getattr(data, split) is not None:
                    logits = evaluate(model, source, split, record.stretches[-1].precision)
                    setattr(record, split, classification_report(logits, getattr(data, split).labels,
                                                                 data.class_counts))
            if keep_weights:
                save_torch_atomic(outcome.model.state_dict(), folder / "model.pt")
        else:
            log.error(outcome.error)
        record.write(folder / "result.json")
        stored = RunRecord.read(folder / "result.json")  # exactly what a later lookup returns
        write_events(stored)
        return stored

    # -- using a kept run -----------------------------------------------------------------------
    @staticmethod
    def load_model(record: RunRecord) -> torch.nn.Module:
        """The final network of a finished run trained with kept weights, in evaluation mode."""
        from ..models import MODELS

        path = record.folder / "model.pt"
        if not record.finished or not path.exists():
            raise FileNotFoundError(f"{path}: run {record.name!r} ({record.status}) has no kept weights")
        model = MODELS.build(record.run["model"], num_classes=len(record.data["train_counts"]),
                             **record.run["model_params"])
        model.load_state_dict(load_torch(path))
        return model.eval()

    @staticmethod
    def teacher(record: RunRecord) -> dict[str, Any]:
        """A kept run described as a distillation teacher (``train.distillation``)."""
        return {"run": record.key, "model": record.run["model"], "model_params": record.run["model_params"],
                "num_classes": len(record.data["train_counts"]), "weights": str(record.folder / "model.pt")}

    # -- stage 2 and post-hoc adjustment on a kept run ---------------------------------------------
    @staticmethod
    def stage2_path(base: RunRecord, method: str, params: dict[str, Any], seed: int) -> Path:
        key = short_hash([method, params, seed, STAGE2_VERSION])
        slug = re.sub(r"[^A-Za-z0-9]+", "-", method).strip("-").lower()
        return base.folder / f"stage2-{slug}-{key}.json"

    def run_stage2(self, base: RunRecord, data: LongTailedData | FileListData, method: str,
                   params: dict[str, Any], device: str, seed: int) -> RunRecord:
        """A two-stage method (``stage2.TWO_STAGE``) on the frozen network of a kept run, stored next
        to it and computed once. A stopped base gives a stopped stage 2 (nothing to freeze)."""
        from ..stage2 import TWO_STAGE, FrozenBackbone

        path = self.stage2_path(base, method, params, seed)
        stored = RunRecord.read(path)
        if stored is not None:
            return stored
        started = time.time()
        record = replace(base, name=f"{base.name} -> {method}", key=path.stem, environment=environment(),
                         stage2=Stage2Info(method, dict(params), seed, {}, base.key), folder=None)
        if base.finished:
            precision = base.stretches[-1].precision
            backbone = FrozenBackbone(self.load_model(base), data, resolve_device(device), precision)
            head, record.stage2.info = TWO_STAGE.get(method)(backbone, seed, **params)
            with torch.no_grad():
                for split in ("test", "val"):
                    if getattr(data, split) is not None:  # a head that adapted the network maps images
                        logits = (backbone.source.map(head, split, precision) if getattr(head, "maps_images", False)
                                  else head(backbone.features(split)))
                        setattr(record, split, classification_report(logits, getattr(data, split).labels,
                                                                     data.class_counts))
        else:
            record.error = f"stage 2 not run: its base {base.name!r} stopped ({base.error})"
        record.stage2.seconds = time.time() - started
        record.write(path)
        return RunRecord.read(path)

    def posthoc_adjusted(self, base: RunRecord, data: LongTailedData, tau: float, device: str) -> RunRecord:
        """Post-hoc logit adjustment (Menon et al. 2021, Eq. 6) of a kept model: predict with
        argmax(z - tau * log prior). Nothing is trained; stored next to the model."""
        from ..losses import posthoc_logit_adjustment

        path = base.folder / f"posthoc-tau{tau:g}.json"
        stored = RunRecord.read(path)
        if stored is not None:
            return stored
        record = replace(base, name=f"{base.name} + post-hoc LA", key=path.stem,
                         posthoc={"method": "logit adjustment", "tau": tau}, folder=None)
        if base.finished:
            model = self.load_model(base).to(device)
            source = make_source(data, torch.device(device), channels_last=False)
            for split in ("test", "val"):
                if getattr(data, split) is not None:
                    logits = evaluate(model, source, split, base.stretches[-1].precision)
                    adjusted = posthoc_logit_adjustment(logits, data.class_counts, tau)
                    setattr(record, split, classification_report(adjusted, getattr(data, split).labels,
                                                                 data.class_counts))
        record.write(path)
        return RunRecord.read(path)
