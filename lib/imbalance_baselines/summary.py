"""The summary across studies: leaderboard, published-vs-ours, progress of unfinished runs.

Reads what the other notebooks and the reference campaign wrote (``results/<profile>/*.json`` study
files and ``results/<profile>/<dataset>/runs/*/result.json``); trains nothing. A half-written or
corrupted file is skipped with a warning naming it, never trusted.
"""

from __future__ import annotations

import json
import math
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .evaluate import mean_and_interval
from .report import NOISE_POINTS

# |ours - published| within the seed-to-seed noise counts as reproduced.
AGREEMENT_POINTS = NOISE_POINTS


def published_numbers() -> pd.DataFrame:
    """The published top-1 numbers with their sources (``resources/published.yaml``)."""
    text = resources.files("imbalance_baselines").joinpath("resources/published.yaml").read_text()
    return pd.DataFrame(yaml.safe_load(text)["entries"])


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        warnings.warn(f"skipped {path}: unreadable ({error.__class__.__name__})", stacklevel=3)
        return None


def finished_runs(results_dir: str | Path) -> pd.DataFrame:
    """One row per finished run in the study files ``results_dir/*.json`` (written by the notebooks
    and the reference campaign): method, dataset, IF, seed, epochs, metrics in percent, precision,
    machines. A run in several studies (e.g. the CE baseline) counts once."""
    rows, seen = [], set()
    for path in sorted(Path(results_dir).glob("*.json")):
        document = _read_json(path)
        if document is None or "runs" not in document:
            continue
        for run in document["runs"]:
            if run.get("status") != "finished":
                continue
            identity = (run["method"], run["folder"], run.get("posthoc", {}).get("tau"))
            if identity in seen:
                continue
            seen.add(identity)
            rows.append(_row(run))
    return pd.DataFrame(rows)


def _row(run: dict[str, Any]) -> dict[str, Any]:
    test = run["test"]
    stretches = run.get("training", {}).get("stretches", [])
    return {
        "method": run["method"], "dataset": run["data"]["name"],
        "imbalance_factor": run["data"].get("imbalance_factor"),
        "seed": run["seed"], "epochs": run["config"]["epochs"],
        "top1": 100 * test["top1"], "many": _percent(test.get("many_shot")),
        "medium": _percent(test.get("medium_shot")), "few": _percent(test.get("few_shot")),
        "ece": _percent(test.get("ece")), "precision": run.get("training", {}).get("precision"),
        "machines": sorted({str(s.get("cpu_capability") or s.get("device")) for s in stretches}),
        "train_hours": sum(s.get("seconds", 0.0) for s in stretches) / 3600,
    }


def _percent(value: float | None) -> float:
    return math.nan if value is None else 100 * value


def leaderboard(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean top-1 and 95% CI over seeds per (dataset, IF, epochs, method); best first within each
    (dataset, IF)."""
    if runs.empty:
        return pd.DataFrame()
    rows = []
    keys = ["dataset", "imbalance_factor", "epochs", "method"]
    for key, group in runs.groupby(keys, sort=False, dropna=False):
        stats = mean_and_interval(list(group["top1"]))
        rows.append({**dict(zip(keys, key)), "top-1": stats["mean"], "±95%": stats["ci95"],
                     "seeds": stats["n"], "few": group["few"].mean(), "many": group["many"].mean()})
    table = pd.DataFrame(rows)
    return table.sort_values(["dataset", "imbalance_factor", "top-1"],
                             ascending=[True, True, False]).reset_index(drop=True)


def setting_name(dataset: str, factor: float | None) -> str:
    """``"cifar10_lt IF100"``; benchmarks with a fixed split (no imbalance factor, e.g. ImageNet-LT)
    are named without one."""
    return f"{dataset}{_factor_text(factor, ' IF')}"


def _factor_text(factor: float | None, prefix: str) -> str:
    return "" if factor is None or pd.isna(factor) else f"{prefix}{factor:g}"


def groups(board: pd.DataFrame) -> list[tuple[tuple[str, float | None], pd.DataFrame]]:
    """The leaderboard split per (dataset, IF), best first; IF is None for fixed splits. Runs of
    different lengths stay in one group (e.g. CBD's 5 class-aware epochs draw as many images as 20
    instance-sampled ones); ``labels`` then names each run's epochs."""
    return [((name, None if pd.isna(factor) else factor), part)
            for (name, factor), part in board.groupby(["dataset", "imbalance_factor"], sort=False, dropna=False)]


def labels(part: pd.DataFrame) -> list[str]:
    """Method names of one group, with the epoch count added when the group mixes schedules."""
    if part["epochs"].nunique() == 1:
        return list(part["method"])
    return [f"{method} ({epochs} ep.)" for method, epochs in zip(part["method"], part["epochs"])]


def epochs_text(part: pd.DataFrame) -> str:
    """``"20 epochs"``, or ``"5 / 20 epochs"`` for a group of mixed schedules."""
    return " / ".join(str(e) for e in sorted(part["epochs"].unique())) + " epochs"


def baseline(part: pd.DataFrame, method: str = "CE") -> float | None:
    """Top-1 of ``method`` in one group, at the group's most common schedule; None when absent."""
    usual = part["epochs"].mode().iloc[0]
    match = part[(part["method"] == method) & (part["epochs"] == usual)]
    return None if match.empty else float(match["top-1"].iloc[0])


def figure_name(dataset: str, factor: float | None) -> str:
    """File stem of one group's leaderboard figure, e.g. ``99_summary-cifar10_lt-IF100``."""
    return f"99_summary-{dataset}{_factor_text(factor, '-IF')}"


def group_caption(runs: pd.DataFrame, dataset: str, factor: float | None, profile: str) -> str:
    """What produced one leaderboard group: dataset, profile, epochs, seeds per method, precision and
    CPU capability / device of the training stretches."""
    same_factor = runs["imbalance_factor"].isna() if factor is None else runs["imbalance_factor"] == factor
    part = runs[(runs["dataset"] == dataset) & same_factor]
    seeds = sorted({int(n) for n in part.groupby("method")["seed"].nunique()})
    seed_text = str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
    machines = sorted({m for ms in part["machines"] for m in ms})
    precision = sorted({str(p) for p in part["precision"]})
    return (f"{setting_name(dataset, factor)}, profile {profile}, {epochs_text(part)}, "
            f"{seed_text} seed(s) per method, {'/'.join(precision)} on {', '.join(machines)}")


def verdict(difference: float, reported_epoch: str) -> str:
    """Plain words for ours - published (points)."""
    best_note = " (the paper took the best test epoch, which favours it)" if reported_epoch == "best" else ""
    if abs(difference) <= AGREEMENT_POINTS:
        return "reproduced (within 2 points)" + best_note
    if difference > 0:
        return f"ours higher by {difference:.1f} points" + best_note
    return f"ours lower by {-difference:.1f} points" + best_note


def published_vs_ours(runs: pd.DataFrame, protocol_epochs: int = 200) -> pd.DataFrame:
    """For every finished paper-protocol run: each published number for the same method, dataset
    and IF, the difference and a verdict."""
    if runs.empty:
        return pd.DataFrame()
    published = published_numbers()
    ours = leaderboard(runs[runs["epochs"] == protocol_epochs])
    rows = []
    for _, row in ours.iterrows():
        match = published[(published["method"] == row["method"]) & (published["dataset"] == row["dataset"])
                          & (published["imbalance_factor"] == row["imbalance_factor"])]
        for _, paper in match.iterrows():
            difference = row["top-1"] - paper["top1"]
            rows.append({"method": row["method"], "dataset": row["dataset"],
                         "IF": row["imbalance_factor"], "ours": row["top-1"], "seeds": row["seeds"],
                         "published": paper["top1"], "difference": difference,
                         "source": f"{paper['paper'].split(',')[0]}, {paper['table']}",
                         "paper's epoch": paper.get("reported_epoch", "unknown"),
                         "setting": paper.get("setting") or "",
                         "verdict": verdict(difference, paper.get("reported_epoch", "unknown"))})
    return pd.DataFrame(rows)


def unfinished(results_dir: str | Path) -> pd.DataFrame:
    """Checkpoints of studies still training: which runs, and how far (epoch / epochs)."""
    import torch

    rows = []
    for path in sorted(Path(results_dir).glob("**/checkpoints/*.pt")):
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as error:  # noqa: BLE001 - any unreadable checkpoint is reported, not fatal
            warnings.warn(f"skipped {path}: unreadable checkpoint ({error.__class__.__name__})", stacklevel=2)
            continue
        names = sorted(state["histories"])
        hours = sum(s.get("seconds", 0.0) for s in state.get("stretches", [])) / 3600
        rows.append({"checkpoint": path.name, "runs": ", ".join(names),
                     "epochs done": f"{state['next_epoch']} of {state.get('epochs', '?')}",
                     "hours so far": round(hours, 2),
                     "machines": sorted({s.get("cpu_capability") for s in state.get("stretches", [])})})
    return pd.DataFrame(rows)


CHECKED = ("what the test suite checks for every method: the loss against its paper's formula on hand "
           "values, the class counts against the published profile (12,406 / 10,847 images at IF 100), "
           "the learning-rate schedule value by value, and the sampler frequencies by a chi-square test")
LIKELY_CAUSES = ("the subset of images kept (moves CIFAR-10-LT IF100 by 1.5-3 points), one seed against "
                 "the paper's mean or best, the final epoch against a best-test-epoch report, and the "
                 "head class giving up its validation images")


def conclusion(board: pd.DataFrame, comparison: pd.DataFrame, profile: str) -> str:
    """Markdown that states only what the two tables show."""
    lines = []
    for (name, factor), part in groups(board):
        top, top_label = part.iloc[0], labels(part)[0]
        ce = baseline(part)
        versus = f" (CE {ce:.1f}%)" if ce is not None and top["method"] != "CE" else ""
        lines.append(f"- {setting_name(name, factor)}, {epochs_text(part)} ({profile}): best **{top_label}** "
                     f"{top['top-1']:.1f}%{versus} among {len(part)} methods.")
    if comparison.empty:
        lines.append("- No paper-protocol reference run has finished yet, so no published number is "
                     "compared here.")
        return "\n".join(lines)
    reproduced = comparison["difference"].abs() <= AGREEMENT_POINTS
    lines.append(f"- Published vs ours: {int(reproduced.sum())} of {len(comparison)} comparisons within "
                 f"{AGREEMENT_POINTS:g} points.")
    off = comparison[~reproduced]
    for _, row in off.iterrows():
        lines.append(f"  - {row['method']} on {row['dataset']} IF{row['IF']:g}: ours {row['ours']:.1f}% vs "
                     f"{row['published']:.1f}% ({row['source']}): {row['verdict']}.")
    if not off.empty:
        lines.append(f"- For the differences above 2 points: checked is {CHECKED}; what remains as the "
                     f"likely cause is {LIKELY_CAUSES}.")
    return "\n".join(lines)


def large_scale_results(results_root: str | Path, profiles: list[str]) -> pd.DataFrame:
    """Mean top-1 and many / medium / few-shot accuracy (percent) over seeds per (profile, dataset,
    epochs, method) of the finished runs in ``results_root/<profile>/`` (large-scale benchmarks have
    no imbalance factor, so the leaderboard's grouping does not apply); empty when none exist."""
    keys = ["profile", "dataset", "epochs", "method"]
    frames = [runs.assign(profile=profile) for profile in profiles
              if not (runs := finished_runs(Path(results_root) / profile)).empty]
    if not frames:
        return pd.DataFrame()
    runs = pd.concat(frames, ignore_index=True)
    table = runs.groupby(keys, sort=False)[["top1", "many", "medium", "few"]].mean()
    return table.assign(seeds=runs.groupby(keys, sort=False).size()).rename(columns={"top1": "top-1"})
