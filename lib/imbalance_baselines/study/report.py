"""Tables, captions, study files and plain-words conclusions from a study's records.

A study's results are records keyed by (method, seed), ``None`` where a run has not finished yet.
``results_table`` gives one row per method: runs finished, mean and 95% t-interval over seeds
(percent; "1 seed" and no interval when there is one), the *paired* difference to the baseline on the
same seeds with its interval and verdict (``stats``), the other metrics, the training budget (images
seen, stage 2 included) and the precision. ``conclusion`` words only what those intervals allow.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..train.checkpoint import save_json_atomic
from ..train.spec import TrainConfig
from .record import RunRecord
from .stats import interval, paired_difference, verdict, verdict_words

STUDY_SCHEMA = 2
METRICS = {"top1": "top-1", "balanced_accuracy": "balanced acc.", "many_shot": "many",
           "medium_shot": "medium", "few_shot": "few", "macro_f1": "macro-F1", "ece": "ECE"}
Results = Mapping[tuple[str, int], "RunRecord | None"]
CORE = ("runs", "seeds", "top-1", "±95%")  # columns a table always has, finished runs or not


def by_method(results: Results) -> dict[str, dict[int, RunRecord | None]]:
    """Records grouped by method, keyed by seed (insertion order kept)."""
    grouped: dict[str, dict[int, RunRecord | None]] = {}
    for (method, seed), record in results.items():
        grouped.setdefault(method, {})[seed] = record
    return grouped


def finished_values(records: Mapping[int, RunRecord | None], metric: str, split: str = "test") -> dict[int, float]:
    """{seed: metric in percent} of the finished records that have it."""
    values = {}
    for seed, record in records.items():
        value = record.metric(metric, split) if record is not None else None
        if value is not None:
            values[seed] = 100 * value
    return values


def results_table(results: Results, baseline: str = "CE", budgets: Mapping[str, float] | None = None,
                  metrics: Sequence[str] = tuple(METRICS)) -> pd.DataFrame:
    """One row per method (module docstring); ``budgets``: images seen in training per method."""
    grouped = by_method(results)
    base = finished_values(grouped.get(baseline, {}), "top1")
    rows = []
    for method, records in grouped.items():
        done = [r for r in records.values() if r is not None]
        row: dict[str, Any] = {"method": method, "runs": f"{len(done)} of {len(records)}"}
        top1 = finished_values(records, "top1")
        stats = interval(list(top1.values()))
        row.update({"seeds": stats["n"], "top-1": stats["mean"], "±95%": stats["ci95"]})
        if method != baseline and base:
            difference = paired_difference(top1, base)
            row.update({f"Δ vs {baseline}": difference["mean"], "Δ ±95%": difference["ci95"],
                        "verdict": verdict(difference) if difference["n"] else ""})
        for metric in metrics:
            if metric != "top1":
                values = list(finished_values(records, metric).values())
                row[METRICS.get(metric, metric)] = interval(values)["mean"]
        if budgets is not None and method in budgets:
            row["images (k)"] = budgets[method] / 1e3
        stage2_epochs = {r.stage2.params.get("epochs") for r in done if r.stage2 is not None}
        if stage2_epochs - {None}:
            row["stage-2 epochs"] = max(stage2_epochs - {None})
        row["precision"] = "/".join(sorted({r.precision for r in done if r.finished})) or ""
        stopped = [r.error for r in done if not r.finished]
        row["note"] = f"stopped: {stopped[0]}" if stopped else ""
        rows.append(row)
    table = pd.DataFrame(rows).set_index("method") if rows else pd.DataFrame(columns=list(CORE))
    kept = [c for c in table.columns if c in CORE or table[c].notna().any()]
    return table[kept]


def top_methods(table: pd.DataFrame, count: int = 4, always: Sequence[str] = ("CE",),
                metric: str = "top-1") -> list[str]:
    """The ``always`` methods present plus the ``count`` highest means of ``metric`` (readable plots)."""
    if table.empty or metric not in table:
        return []
    kept = [m for m in always if m in table.index]
    ranked = [m for m in table[metric].dropna().sort_values(ascending=False).index if m not in kept]
    return kept + ranked[:count]


PROTOCOL_WEIGHT_DECAY = TrainConfig.weight_decay


def caption(records: Sequence[RunRecord], profile: str, extra: str = "") -> str:
    """What produced a figure or table: data copy, profile, epochs, seeds, precision, machines and
    code, final epoch reported; the weight decay when it is not the protocol's (SPEC 7: 2e-4)."""
    finished = [r for r in records if r is not None]
    if not finished:
        return f"profile {profile}: no finished run yet"
    data = finished[0].data
    factor = data.get("imbalance_factor")
    name = f"{data.get('dataset', '?')}-LT IF{factor:g}" if factor else str(data.get("name"))
    epochs = sorted({r.epochs for r in finished})
    seeds = sorted({r.seed for r in finished})
    precisions = sorted({r.precision for r in finished})
    machines = sorted({m for r in finished for m in r.machines})
    commits = sorted({str(r.code.get("commit")) for r in finished})
    code = f"code {commits[0]}" if len(commits) == 1 else f"{len(commits)} code versions ({', '.join(commits)})"
    decays = sorted({r.config.get("weight_decay", PROTOCOL_WEIGHT_DECAY) for r in finished})
    decay = "" if decays == [PROTOCOL_WEIGHT_DECAY] else f"weight decay {'/'.join(f'{d:g}' for d in decays)}, "
    text = (f"{name} ({data.get('source', '?')}, subset {data.get('indices_hash', '?')}), profile {profile}, "
            f"{'/'.join(map(str, epochs))} epochs, {decay}final epoch, seeds {seeds}, {'/'.join(precisions)} on "
            f"{', '.join(machines)}, {code}")
    return f"{text}; {extra}" if extra else text


def wall_seconds(records: Sequence[RunRecord]) -> float:
    """Training time as the clock saw it: runs trained in one pass share their stretches (same
    epochs, seconds and machine), which count once."""
    stretches = {(s.from_epoch, s.to_epoch, s.seconds, s.machine) for r in records for s in r.stretches}
    return float(sum(seconds for _, _, seconds, _ in stretches))


def write_study_results(path: str | Path, study: str, profile: str, parameters: Mapping[str, Any],
                        results: Results, budgets: Mapping[str, float] | None = None) -> Path:
    """The study file: every finished record of the study with its (method, seed) and images seen
    (``budgets`` by method), the missing ones named, and what produced them."""
    path = Path(path)
    done = {key: r for key, r in results.items() if r is not None}
    runs = [{"method": method, "seed": seed, "folder": os.path.relpath(r.folder, path.parent),
             "images": (budgets or {}).get(method), **r.to_dict()} for (method, seed), r in done.items()]
    document = {"schema": STUDY_SCHEMA, "study": study, "profile": profile, "parameters": dict(parameters),
                "runs": runs, "missing": [{"method": m, "seed": s} for (m, s), r in results.items() if r is None],
                "train_seconds": sum(r.train_seconds for r in done.values()),
                "wall_seconds": wall_seconds(list(done.values())),
                "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    save_json_atomic(document, path)
    return path


def chosen_on_validation(results: Results, metric: str = "balanced_accuracy") -> str:
    """The method with the highest mean validation ``metric`` over its finished seeds (the choice
    never sees the test set), with its validation and test numbers, in one sentence."""
    grouped = by_method(results)
    scores = {m: interval(list(finished_values(records, metric, "val").values())) for m, records in grouped.items()}
    scores = {m: s for m, s in scores.items() if s["n"]}
    if not scores:
        return "No finished run has a validation split score yet: nothing to choose."
    best = max(scores, key=lambda m: scores[m]["mean"])
    test = interval(list(finished_values(grouped[best], "top1").values()))
    seeds = scores[best]["n"]
    return (f"Chosen on validation: **{best}** (validation balanced accuracy {scores[best]['mean']:.1f}% over "
            f"{seeds} seed{'s' if seeds > 1 else ''}; test top-1 {test['mean']:.1f}%); a choice among "
            f"{len(scores)} methods on {seeds} seed{'s' if seeds > 1 else ''} is itself within seed noise.")


def conclusion(table: pd.DataFrame, results: Results, baseline: str = "CE") -> str:
    """Markdown that states only what the seed intervals allow (``stats.verdict``)."""
    if table.empty or "top-1" not in table or table["top-1"].dropna().empty:
        return "- No finished run yet: nothing to conclude."
    grouped = by_method(results)
    lines = []
    scores = table["top-1"].dropna()
    best = scores[scores == scores.max()].index.tolist()
    tie = f" (tied: {', '.join(best)})" if len(best) > 1 else ""
    lines.append(f"- Highest mean top-1: **{best[0]}** {scores.max():.1f}%{tie}; a highest mean is not "
                 "a finding unless its paired interval below says so.")
    base = finished_values(grouped.get(baseline, {}), "top1")
    if base:
        said: dict[str, list[str]] = {"better": [], "worse": [], "cannot tell": []}
        single = []
        for method, records in grouped.items():
            if method == baseline:
                continue
            difference = paired_difference(finished_values(records, "top1"), base)
            if difference["n"] == 1:
                single.append(method)
            if difference["n"]:
                said[verdict(difference)].append(method)
            if difference["n"] > 1:
                lines.append(f"  - {verdict_words(method, baseline, difference)}")
        lines.insert(1, f"- Against {baseline}: better {len(said['better'])}, worse {len(said['worse'])}, "
                        f"cannot tell {len(said['cannot tell'])} (paired 95% intervals over seeds)"
                        + (f": {', '.join(said['better'])} better" if said["better"] else "")
                        + (f"; {', '.join(said['worse'])} worse" if said["worse"] else "") + ".")
        if single:
            lines.append(f"- {len(single)} method(s) have one seed in common with {baseline} ({', '.join(single)}): "
                         "one seed gives no interval, so their differences in the table are single draws and the "
                         "study cannot tell them from the baseline.")
    missing = sum(1 for r in results.values() if r is None)
    if missing:
        lines.append(f"- {missing} of {len(results)} runs are not finished; the rows above use the finished ones.")
    return "\n".join(lines)

