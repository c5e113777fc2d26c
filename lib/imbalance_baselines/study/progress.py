"""How far a profile's queue got: runs finished / in progress / waiting per notebook, the current
unit's images per second, and an estimated time to finish on this machine.

The cost of a unit is counted in images through a network: at every epoch each *group* (runs still
one computation) draws its sampler's images, and a unit has one group per distinct history of phase
keys (CE / CE-DRW / CE-DRS: one group until epoch 160, three after). The rate is the images per
second the latest training stretch achieved (a unit in progress, else the latest finished record);
the estimate assumes every remaining image costs what those did, which holds for ResNet-32 on
CIFAR-sized images on one machine and says nothing about another.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd
import torch

from ..train.checkpoint import load_torch
from ..train.groups import RunState
from .execute import Unit, find
from .plan import stage1_of
from .queue import ProfilePlan


def unit_images(unit: Unit, data: Any, from_epoch: int = 0) -> int:
    """Images the unit's groups draw from ``from_epoch`` to the end (module docstring)."""
    states = [RunState.build(replace(r.spec, distill=None), data.train.labels, data.class_counts) for r in unit.runs]
    histories: list[tuple[str, ...]] = [() for _ in states]
    total = 0
    for epoch in range(unit.config.epochs):
        histories = [h + (s.phase_key(epoch),) for h, s in zip(histories, states)]
        if epoch >= from_epoch:
            leads = {h: s for h, s in zip(histories, states)}
            total += sum(s.sampler.num_samples(epoch) for s in leads.values())
    return total


def _checkpoint(plan: ProfilePlan, unit: Unit) -> dict[str, Any] | None:
    data = plan.data(unit.dataset)
    path = plan.store.checkpoint(data.name, unit.key(data))
    return load_torch(path) if path.exists() else None


def _rate(unit: Unit, data: Any, state: dict[str, Any]) -> float | None:
    """Images per second of the checkpoint's last stretch."""
    stretch = state["stretches"][-1]
    epochs = stretch.get("to_epoch", stretch["from_epoch"]) - stretch["from_epoch"]
    if epochs <= 0 or not stretch.get("seconds"):
        return None
    done = unit_images(unit, data, stretch["from_epoch"]) - unit_images(unit, data, stretch["to_epoch"])
    return done / stretch["seconds"]


def _latest_record_rate(plan: ProfilePlan, capability: str | None = None) -> tuple[float | None, str]:
    """Images per second of the last stretch of the most recently finished run, preferring one
    trained on a CPU of this machine's kind (``capability``, e.g. "AVX2"); a run trained in a pass
    beside others shares its stretch's seconds with them, so the rate is then a lower bound."""
    from .record import RunRecord

    records = [r for p in plan.store.root.glob("*/*/result.json") if (r := RunRecord.read(p)) and r.finished]
    records = [r for r in records if r.stretches and r.stretches[-1].to_epoch > r.stretches[-1].from_epoch]
    if not records:
        return None, ""
    here = [r for r in records if not r.stretches[-1].gpu and r.stretches[-1].cpu_capability == capability]
    latest = max(here or records, key=lambda r: r.finished_at)
    stretch = latest.stretches[-1]
    rate = sum(latest.data["train_counts"]) * (stretch.to_epoch - stretch.from_epoch) / stretch.seconds
    whose = "this machine's kind" if here else f"another machine's (none finished on a {capability} CPU)"
    return rate, (f"{latest.name} on {latest.data['name']}, epochs {stretch.from_epoch}-{stretch.to_epoch}, "
                  f"{stretch.precision} on {stretch.machine}, {whose}: {rate:,.0f} images/s")


def progress(plan: ProfilePlan, capability: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Per study: runs finished / in progress / waiting; and lines on the current unit and the
    estimated time to finish (from a run of a ``capability`` CPU, default this machine's)."""
    running, rate, lines = set(), None, []
    remaining = 0
    for unit in plan.units:
        data = plan.data(unit.dataset)
        state = _checkpoint(plan, unit)
        start = state["next_epoch"] if state else 0
        remaining += unit_images(unit, data, start)
        if state is not None:
            running.update(r.key(data.key()) for r in unit.runs)
            unit_rate = _rate(unit, data, state)
            rate = rate or unit_rate
            stretch = state["stretches"][-1]
            lines.append(f"in progress: {unit.describe()}: epoch {state['next_epoch']} of {unit.config.epochs}, "
                         f"{unit_rate or float('nan'):,.0f} images/s in its last stretch ({stretch.get('precision')}, "
                         f"{stretch.get('threads')} threads, {stretch.get('cpu_capability') or stretch.get('device')})")
    rows = []
    for name, requests in plan.requests.items():
        runs = {}
        for request in requests:
            base = stage1_of(request)
            for run in (base, *base.teachers):
                runs[run.key(plan.data(run.dataset).key())] = run
        finished = sum(find(plan.store, r, plan.data(r.dataset)) is not None for r in runs.values())
        in_progress = sum(key in running for key in runs)
        rows.append({"study": name, "finished": finished, "in progress": in_progress,
                     "waiting": len(runs) - finished - in_progress, "runs": len(runs)})
    if rate is None:
        rate, source = _latest_record_rate(plan, capability or torch.backends.cpu.get_cpu_capability())
        if rate:
            lines.append(f"rate from the latest finished run: {source}")
    if remaining and rate:
        lines.append(f"estimated time to finish on this machine: {remaining / rate / 3600:,.1f} h "
                     f"({remaining / 1e6:,.1f} M images at {rate:,.0f} images/s; assumes every image costs what "
                     f"the last stretch's did)")
    elif remaining:
        lines.append(f"{remaining / 1e6:,.1f} M images to train; no stretch measured yet for a time estimate")
    return pd.DataFrame(rows), lines
