"""The training engine: every run of a study trained in one pass over the epochs.

Per epoch, runs are grouped by what they compute (``groups``). Groups whose batches are the same
(same seed, same sampler draw) share one *stream*: each step's images are indexed and augmented once
on the device and fed to every group of the stream. Each group has its own model, optimiser,
loss and mix-up draws. All randomness is derived from (run seed, epoch, purpose) (``seeding``), so a
run's result equals training it alone, and a study resumed from a checkpoint at an epoch boundary
reaches bit-identical weights on the CPU.

Protocol (SPEC 7): SGD with momentum, per-epoch linear warm-up, step or cosine decay; the test set
is only *reported* (every ``eval_every`` epochs and at the last epoch), never used for a choice.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.bundle import LongTailedData
from .distillation import without_converter
from ..evaluate import top_k_accuracy
from ..optim import SAM, batch_norm_statistics_kept
from .checkpoint import load_torch, save_torch_atomic
from .distributed import World, average_gradients, broadcast_buffers, current_world, reduce_over_processes
from .groups import Group, RunState, build_model, initial_groups, make_optimizer
from .precision import machine_description, resolve_precision
from .schedule import learning_rate
from .seeding import generator
from .sources import FileListData, FileListSource, TensorSource, make_source, to_device
from .spec import TRAINING_CODE_VERSION, RunSpec, TrainConfig, short_hash

log = logging.getLogger("imbalance_baselines.train")


@dataclass
class RunOutcome:
    """A trained run: its final model (on the CPU), per-epoch history, and error if it stopped."""

    spec: RunSpec
    model: nn.Module | None
    history: list[dict[str, Any]]
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


def study_key(runs: list[RunSpec], data: LongTailedData | FileListData, config: TrainConfig) -> str:
    """Hash of everything a study's results depend on (runs, data identity, schedule, code)."""
    return short_hash([[r.to_dict() for r in runs], data.key(), config.training_dict(),
                       TRAINING_CODE_VERSION])


def _validate(runs: list[RunSpec], data: LongTailedData | FileListData, config: TrainConfig) -> None:
    if not runs:
        raise ValueError("runs: the study has no runs; allowed: at least one RunSpec")
    names = [run.name for run in runs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"runs: duplicate run names {duplicates}; every run needs its own name")
    config.validate(len(data.train))


class _Stream:
    """The groups fed by one draw sequence (same seed, same sampler draw) during an epoch."""

    def __init__(self, lead: RunState, epoch: int) -> None:
        self.lead, self.epoch = lead, epoch
        self.groups: list[Group] = []

    def batches(self, source: TensorSource | FileListSource, batch_size: int, world: World):
        return source.batches(self.lead.sampler, self.lead.spec.seed, self.lead.stream_key(self.epoch),
                              self.epoch, batch_size, world, self.lead.policy)


def train(runs: list[RunSpec], data: LongTailedData | FileListData, config: TrainConfig,
          device: str | torch.device = "cpu", checkpoint_path: str | Path | None = None,
          progress: bool = True) -> dict[str, RunOutcome]:
    """Train every run of a study in one pass; resume from ``checkpoint_path`` if it exists.

    Returns the outcome of each run by name. A run whose loss becomes NaN or infinite stops with an
    error naming run, epoch and batch; the other runs go on.
    """
    _validate(runs, data, config)
    device = torch.device(device)
    world = current_world(device)
    precision = resolve_precision(config.precision, device)
    key = study_key(runs, data, config)
    class_counts = data.class_counts
    states = [RunState.build(spec, data.train.labels, class_counts) for spec in runs]
    by_name = {state.spec.name: state for state in states}
    source = make_source(data, device, config.channels_last)

    start_epoch, groups, stretches = 0, None, []
    if checkpoint_path is not None and Path(checkpoint_path).exists():
        start_epoch, groups, stretches = _restore(load_torch(checkpoint_path), key, by_name,
                                                  data.num_classes, device, config)
    if groups is None:
        groups = initial_groups(states, data.num_classes, device, config)
    stretch = {**machine_description(device), "precision": precision, "from_epoch": start_epoch,
               "seconds": 0.0}
    stretches.append(stretch)

    bar = tqdm(total=_total_steps(states, start_epoch, config, world),
               disable=not progress, desc="train", unit="step", mininterval=2.0)
    for epoch in range(start_epoch, config.epochs):
        started = time.perf_counter()
        groups = [part for group in groups if group.runs[0].error is None
                  for part in group.split(epoch, config)]
        lr = learning_rate(epoch, config.epochs, config.lr, config.warmup_epochs, config.schedule,
                           config.milestones, config.factors)
        streams = _start_epoch(groups, epoch, lr, device)
        totals = {id(group): _EpochTotals(device) for group in groups}
        for stream in streams.values():
            mix_generators = {id(g): generator(g.lead.spec.seed, epoch, "mixup") for g in stream.groups}
            for step, (x, y) in enumerate(stream.batches(source, config.batch_size, world)):
                for group in stream.groups:
                    _step(group, x, y, step, totals[id(group)], mix_generators[id(group)], precision, world)
                bar.update(1)

        seconds = time.perf_counter() - started
        evaluate_now = (epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs
        for group in groups:
            broadcast_buffers(group.model, world)
            record = totals[id(group)].record(epoch, lr, seconds, world)
            record["phase"] = group.lead.phase_description(epoch)
            if record["bad_batch"] is not None:
                message = (f"run {', '.join(group.names)}: loss is not finite at epoch {epoch + 1} "
                           f"batch {record['bad_batch'] + 1}; run stopped")
                log.error(message)
                for run in group.runs:
                    run.error = message
                continue
            if evaluate_now:
                record["test_acc"] = top_k_accuracy(evaluate(group.model, source, "test", precision),
                                                    data.test.labels)
            for run in group.runs:
                run.history.append(dict(record))
        stretch["seconds"] += time.perf_counter() - started
        stretch["to_epoch"] = epoch + 1
        if world.is_main:
            _log_epoch(epoch, config.epochs, lr, seconds, groups)
        # Once per epoch, from the records: a running loss read during the epoch would make the host
        # wait for the device (a synchronisation inside the step loop).
        bar.set_postfix_str(f"epoch {epoch + 1}/{config.epochs} " + " ".join(
            f"{g.lead.spec.name}={g.lead.history[-1]['loss']:.3f}" for g in groups
            if g.lead.error is None and g.lead.history))
        last = epoch + 1 == config.epochs
        if world.is_main and checkpoint_path is not None and (
                (epoch + 1) % config.checkpoint_every == 0 or last):
            _save(checkpoint_path, key, epoch + 1, config.epochs, groups, states, stretches)
    bar.close()
    return _outcomes(groups, states, precision, stretches)


def evaluate(model: nn.Module, source: TensorSource | FileListSource, split: str, precision: str) -> torch.Tensor:
    """Logits [N, C] of ``model`` on an un-augmented split, in evaluation mode (mode restored)."""
    was_training = model.training
    model.eval()
    logits = source.map(model, split, precision)
    model.train(was_training)
    return logits


def _start_epoch(groups: list[Group], epoch: int, lr: float, device: torch.device) -> dict[str, _Stream]:
    """Set every group's learning rate and epoch-dependent switches; group them into streams."""
    streams: dict[str, _Stream] = {}
    for group in groups:
        for parameter_group in group.optimizer.param_groups:
            parameter_group["lr"] = lr
        for run in group.runs:
            run.loss.set_epoch(epoch)
            if run.mixup is not None:
                run.mixup.set_epoch(epoch)
        group.lead.loss.to(device)
        if group.lead.distiller is not None:
            group.lead.distiller.to(device)
        stream_key = group.lead.stream_key(epoch)
        if stream_key not in streams:
            streams[stream_key] = _Stream(group.lead, epoch)
        streams[stream_key].groups.append(group)
    return streams


def _log_epoch(epoch: int, epochs: int, lr: float, seconds: float, groups: list[Group]) -> None:
    """One line per epoch (the campaign's log file)."""
    parts = []
    for group in groups:
        if group.lead.error is None:
            last = group.lead.history[-1]
            test = f" test {last['test_acc']:.4f}" if "test_acc" in last else ""
            parts.append(f"{group.lead.spec.name}: loss {last['loss']:.4f} train {last['train_acc']:.4f}{test}")
    log.info("epoch %d/%d lr %.5f %.1fs %s", epoch + 1, epochs, lr, seconds, " ".join(parts))


class _EpochTotals:
    """Per-group running sums for one epoch, kept on the device (no per-step synchronisation)."""

    def __init__(self, device: torch.device) -> None:
        self.loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        self.correct = torch.zeros((), device=device, dtype=torch.int64)
        self.seen = 0
        self.bad_batch = torch.full((), -1, device=device, dtype=torch.int64)

    def add(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor, step: int) -> None:
        finite = torch.isfinite(loss)
        self.bad_batch = torch.where(~finite & (self.bad_batch < 0), step, self.bad_batch)
        self.loss_sum += loss.detach().double() * y.shape[0]
        self.correct += (logits.detach().argmax(1) == y).sum()
        self.seen += y.shape[0]

    def record(self, epoch: int, lr: float, seconds: float, world: World) -> dict[str, Any]:
        """The epoch's totals over every process (the first non-finite batch of any process)."""
        seen = torch.tensor(float(self.seen), dtype=torch.float64, device=self.loss_sum.device)
        loss_sum, correct, seen = reduce_over_processes(
            torch.stack([self.loss_sum, self.correct.double(), seen]), world, "sum").tolist()
        no_bad = torch.iinfo(torch.int64).max
        first_bad = torch.where(self.bad_batch >= 0, self.bad_batch, torch.full_like(self.bad_batch, no_bad))
        bad = int(reduce_over_processes(first_bad, world, "min"))
        bad = -1 if bad == no_bad else bad
        return {"epoch": epoch + 1, "lr": lr, "loss": loss_sum / max(seen, 1),
                "train_acc": correct / max(seen, 1), "seconds": seconds,
                "bad_batch": bad if bad >= 0 else None}


def _step(group: Group, x: torch.Tensor, y: torch.Tensor, step: int, totals: _EpochTotals,
          mix_generator: torch.Generator, precision: str, world: World) -> None:
    """One SGD step of one group on a shared, already augmented batch. A SAM run (``optim``)
    computes the loss again, on the same batch and mix-up draw, at its perturbed weights, leaving
    BatchNorm's running statistics as the first forward set them."""
    run = group.lead
    mixing = run.mixup is not None and run.mixup.active
    pair = None
    if mixing:
        pair = run.mixup.draw(y.shape[0], mix_generator)  # on the host, then a non-blocking copy
        pair = dataclasses.replace(pair, perm=to_device(pair.perm, x.device))

    def forward_loss() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            if run.distiller is not None:
                return run.distiller.student_loss(group.model, x, y, run.loss)
            logits = group.model(x, run.mixup.point, lambda h: run.mixup.mix(h, pair)) if mixing else group.model(x)
            loss_fn = run.loss
            if getattr(run.loss, "needs_expert_logits", False):  # RIDE: the experts of this forward
                loss_fn = functools.partial(run.loss, expert_logits=group.model.expert_logits)
            return logits, run.mixup.mixed_loss(loss_fn, logits, y, pair) if mixing else loss_fn(logits, y)

    logits, loss = forward_loss()
    group.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    average_gradients(group.model, world)
    if isinstance(group.optimizer, SAM):
        def at_perturbed_weights() -> torch.Tensor:
            with batch_norm_statistics_kept(group.model):
                _, again = forward_loss()
                again.backward()
            average_gradients(group.model, world)
            return again

        group.optimizer.step(at_perturbed_weights)
    else:
        group.optimizer.step()
    totals.add(loss, logits, y, step)


def _total_steps(states: list[RunState], start: int, config: TrainConfig, world: World) -> int:
    """Steps of this process over the remaining epochs (one per batch of each stream)."""
    total = 0
    for epoch in range(start, config.epochs):
        lengths = {s.stream_key(epoch): math.ceil(s.sampler.num_samples(epoch) / world.size) for s in states}
        total += sum(math.ceil(n / config.batch_size) for n in lengths.values())
    return total


def _save(path: str | Path, key: str, next_epoch: int, epochs: int, groups: list[Group],
          states: list[RunState], stretches: list[dict[str, Any]]) -> None:
    save_torch_atomic({
        "study_key": key, "code_version": TRAINING_CODE_VERSION, "next_epoch": next_epoch,
        "epochs": epochs,
        "groups": [{"runs": g.names, "model": g.model.state_dict(),
                    "optimizer": g.optimizer.state_dict()} for g in groups if g.lead.error is None],
        "histories": {s.spec.name: s.history for s in states},
        "errors": {s.spec.name: s.error for s in states if s.error is not None},
        "stretches": stretches,
    }, path)


def _restore(checkpoint: dict[str, Any], key: str, by_name: dict[str, RunState], num_classes: int,
             device: torch.device, config: TrainConfig) -> tuple[int, list[Group], list[dict]]:
    if checkpoint.get("study_key") != key:
        raise ValueError(f"checkpoint belongs to study {checkpoint.get('study_key')!r}, not to this "
                         f"study {key!r}: its parameters changed; use a new checkpoint path")
    for name, history in checkpoint["histories"].items():
        by_name[name].history = history
    for name, error in checkpoint["errors"].items():
        by_name[name].error = error
    groups = []
    for saved in checkpoint["groups"]:
        runs = [by_name[name] for name in saved["runs"]]
        model = build_model(runs[0], num_classes, device, config)
        model.load_state_dict(saved["model"])
        optimizer = make_optimizer(model, runs[0], config)
        optimizer.load_state_dict(saved["optimizer"])
        groups.append(Group(runs, model, optimizer))
    return checkpoint["next_epoch"], groups, checkpoint["stretches"]


def _outcomes(groups: list[Group], states: list[RunState], precision: str,
              stretches: list[dict[str, Any]]) -> dict[str, RunOutcome]:
    models = {run.spec.name: group.model for group in groups for run in group.runs}
    outcomes = {}
    for state in states:
        model = models.get(state.spec.name) if state.error is None else None
        if model is not None:
            model = _as_plain_cpu(model)
        outcomes[state.spec.name] = RunOutcome(state.spec, model, state.history, state.error,
                                               {"precision": precision, "stretches": stretches})
    return outcomes


def _as_plain_cpu(model: nn.Module) -> nn.Module:
    """An independent CPU copy in the default memory format (runs of one group get separate copies),
    without a distilled run's training-only converter."""
    return without_converter(copy.deepcopy(model).cpu().to(memory_format=torch.contiguous_format))
