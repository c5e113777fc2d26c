"""Tables, study result files and plain-words conclusions from finished runs.

A notebook's runs come back from ``study.run_methods`` keyed by (method, seed). Here they become a
table of mean +- 95% CI over seeds (percentages), a ``results.json`` per study (schema versioned,
with parameters, dataset identity, machine, library versions and timings), and a conclusion that
only states what the numbers in the table show.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .evaluate import mean_and_interval
from .study import RunResult, environment
from .train.checkpoint import save_json_atomic

STUDY_SCHEMA = 1
METRICS = {"top1": "top-1", "balanced_accuracy": "balanced acc.", "many_shot": "many",
           "medium_shot": "medium", "few_shot": "few", "macro_f1": "macro-F1", "ece": "ECE"}


def by_method(results: Mapping[tuple[str, int], RunResult]) -> dict[str, list[RunResult]]:
    """Finished runs grouped by method name (insertion order kept)."""
    grouped: dict[str, list[RunResult]] = {}
    for (method, _seed), result in results.items():
        grouped.setdefault(method, []).append(result)
    return grouped


def metric_summary(runs: Sequence[RunResult], metric: str, split: str = "test") -> dict[str, float]:
    """Mean, std, 95% CI half-width and n of one metric over seeds, in percent (NaN if absent)."""
    values = [100 * r.record[split][metric] for r in runs
              if r.record.get("status") == "finished" and r.record[split].get(metric) is not None]
    if not values:
        return {"mean": math.nan, "std": math.nan, "ci95": math.nan, "n": 0}
    return mean_and_interval(values)


def results_table(results: Mapping[tuple[str, int], RunResult], metrics: Sequence[str] = tuple(METRICS),
                  split: str = "test") -> pd.DataFrame:
    """One row per method: each metric's mean (percent) and, with several seeds, its 95% CI."""
    rows = []
    for method, runs in by_method(results).items():
        row: dict[str, Any] = {"method": method, "seeds": len(runs)}
        for metric in metrics:
            stats = metric_summary(runs, metric, split)
            row[METRICS.get(metric, metric)] = stats["mean"]
            if stats["n"] > 1:
                row[f"{METRICS.get(metric, metric)} ±95%"] = stats["ci95"]
        failed = [r.record.get("error") for r in runs if r.record.get("status") == "failed"]
        row["note"] = failed[0] if failed else ""
        rows.append(row)
    table = pd.DataFrame(rows).set_index("method")
    return table.dropna(axis=1, how="all")


def top_methods(table: pd.DataFrame, count: int = 4, always: Sequence[str] = ("CE",),
                metric: str = "top-1") -> list[str]:
    """The ``always`` methods present plus the ``count`` best others by ``metric`` (for readable plots)."""
    kept = [m for m in always if m in table.index]
    ranked = [m for m in table[metric].dropna().sort_values(ascending=False).index if m not in kept]
    return kept + ranked[:count]


def caption(data_identity: Mapping[str, Any], config: Mapping[str, Any], seeds: Sequence[int],
            device: str, profile: str) -> str:
    """What produced a figure: data copy, profile, epochs, seeds, device."""
    dataset = data_identity.get("dataset", "?")
    factor = data_identity.get("imbalance_factor")
    data = f"{dataset}-LT IF{factor:g}" if factor else str(dataset)
    return (f"{data} ({data_identity.get('source', '?')}, subset hash {data_identity.get('indices_hash', '?')}), "
            f"profile {profile}, {config.get('epochs')} epochs, seeds {list(seeds)}, {device}")


def wall_seconds(runs: Sequence[Mapping[str, Any]]) -> float:
    """Training time of a study as the clock saw it: runs trained in one pass carry the same stretch
    (first epoch, last epoch, seconds, machine), which is counted once. ``train_seconds`` instead sums
    every run's epochs, so a 9-run pass counts its shared epochs nine times."""
    stretches = {(s.get("from_epoch"), s.get("to_epoch"), s.get("seconds"), s.get("cpu_capability"))
                 for run in runs for s in run.get("training", {}).get("stretches", [])}
    return float(sum(seconds or 0.0 for _, _, seconds, _ in stretches))


def write_study_results(path: str | Path, study: str, profile: str, parameters: Mapping[str, Any],
                        results: Mapping[tuple[str, int], RunResult]) -> Path:
    """``results.json`` of one notebook's study: every run's record plus what produced them."""
    path = Path(path)
    runs = [{"method": method, "seed": seed, "folder": os.path.relpath(result.folder, path.parent),
             **result.record} for (method, seed), result in results.items()]
    first = next(iter(results.values())).record if results else {}
    document = {
        "schema": STUDY_SCHEMA, "study": study, "profile": profile, "parameters": dict(parameters),
        "data": first.get("data"), "environment": environment(), "runs": runs,
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "train_seconds": sum(sum(h.get("seconds", 0.0) for h in r["history"]) for r in runs),
        "wall_seconds": wall_seconds(runs),
    }
    save_json_atomic(document, path)
    return path


# Differences within this many points of top-1 are within seed-to-seed noise on CIFAR-10-LT IF100
# (1.5-3 points, SPEC 1) and are not called a gain.
NOISE_POINTS = 2.0


def conclusion(table: pd.DataFrame, baseline: str = "CE", metric: str = "top-1") -> str:
    """A short markdown conclusion stating only what ``table`` shows."""
    if metric not in table or table[metric].dropna().empty:
        return "No finished run to conclude from."
    scores = table[metric].dropna().sort_values(ascending=False)
    best, best_value = scores.index[0], scores.iloc[0]
    lines = [f"- Best {metric}: **{best}** with {best_value:.1f}%."]
    if baseline in scores:
        base = scores[baseline]
        others = scores.drop(baseline) - base
        clear, close = int((others > NOISE_POINTS).sum()), int((others.abs() <= NOISE_POINTS).sum())
        lines.append(f"- Against {baseline} ({base:.1f}%): {clear} of {len(others)} methods higher by more "
                     f"than {NOISE_POINTS:g} points, {close} within {NOISE_POINTS:g} points, "
                     f"{len(others) - clear - close} lower by more; the largest gain is "
                     f"{best_value - base:+.1f} points.")
    if "few" in table and not table["few"].dropna().empty:
        few = table["few"].dropna().sort_values(ascending=False)
        lines.append(f"- Few-shot classes (< 20 images): best **{few.index[0]}** ({few.iloc[0]:.1f}%).")
    if "many" in table and "medium" in table and baseline in table.index:
        row = table.loc[baseline]
        lines.append(f"- {baseline}: many-shot {row['many']:.1f}% vs medium-shot {row['medium']:.1f}%: "
                     "the gap re-balancing methods try to close.")
    seeds = int(table["seeds"].max()) if "seeds" in table else 1
    if seeds == 1:
        lines.append("- One seed per method: differences of a point or two are within seed-to-seed "
                     "noise (1.5-3 points on CIFAR-10-LT IF100) and are not conclusive.")
    return "\n".join(lines)
