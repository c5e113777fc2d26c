"""The summary across studies: leaderboards with paired intervals, noise floors, published vs ours.

Reads the study files the notebooks wrote (``results/<profile>/*.json``: every record with its
method and seed); trains nothing. A run listed by several studies counts once; a half-written or
corrupted file is skipped with a warning naming it, never trusted.

- ``leaderboard``: per (dataset, IF, epochs, method) the mean and 95% t-interval over seeds, the
  paired difference to CE on the same seeds with its interval and verdict, the images seen.
- ``noise_floors``: CE's seed-to-seed spread per setting, the yardstick every difference is read
  against.
- ``published_vs_ours``: one row per (method, dataset, IF) with our 200-epoch number, the primary
  published number whose protocol matches ours (``published.yaml``: ``protocol_match: same``), its
  reported epoch and the difference; other sources with other protocols in their own column, the
  protocol difference in words, never counted as reproductions. A gap over 2 points gets an
  evidenced reason (our own best evaluated epoch, when the paper reported its best test epoch) or
  the word "unexplained".
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

from .record import RunRecord
from .stats import interval, paired_difference, verdict

AGREEMENT_POINTS = 1.0   # "within ±1.0 point": counted per method
ROUNDING_POINTS = 1e-4   # records hold top-1 as float32 fractions: 43.04 reads 43.040001
GAP_POINTS = 2.0         # a larger gap needs a written reason
SPREAD_POINTS = 1.5      # CE's seed sd above this: the budget cannot rank methods one seed at a time
KEYS = ["dataset", "imbalance_factor", "epochs"]  # one setting: its runs are compared with each other


def published_numbers() -> pd.DataFrame:
    """The published top-1 numbers with their sources and protocols (``resources/published.yaml``)."""
    text = resources.files("imbalance_baselines").joinpath("resources/published.yaml").read_text()
    return pd.DataFrame(yaml.safe_load(text)["entries"])


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        warnings.warn(f"skipped {path}: unreadable ({error.__class__.__name__})", stacklevel=3)
        return None


def _percent(value: float | None) -> float:
    return math.nan if value is None else 100 * value


def finished_runs(results_dir: str | Path) -> pd.DataFrame:
    """One row per finished run of the study files in ``results_dir``: method, dataset, IF, seed,
    epochs, metrics in percent, best evaluated test top-1, images seen, precision, machines, code."""
    rows, seen = [], set()
    for path in sorted(Path(results_dir).glob("*.json")):
        document = _read_json(path)
        if document is None or "runs" not in document:
            continue
        for entry in document["runs"]:
            try:
                record = RunRecord.from_dict({k: v for k, v in entry.items() if k not in ("method", "seed", "folder", "images")})
            except (ValueError, TypeError, KeyError):
                warnings.warn(f"skipped a run of {path}: not a complete record", stacklevel=2)
                continue
            # One run listed by two studies counts once. A stage-2 or post-hoc key is unique only
            # beside its base run, so the run's folder is part of its identity.
            identity = (entry.get("folder"), record.key)
            if not record.finished or identity in seen:
                continue
            seen.add(identity)
            rows.append(_row(entry["method"], entry["seed"], record, entry.get("images")))
    return _name_recipes(_split_precision_clashes(pd.DataFrame(rows)))


def _split_precision_clashes(runs: pd.DataFrame) -> pd.DataFrame:
    """Two runs of one method, recipe and seed that differ in precision (an "auto" run trained in
    bf16 and a later one asked for fp32) are not two seeds: of a seed listed twice, the run whose
    precision is not the method's most common (ties: the first listed) keeps its precision in its
    recipe, so ``_name_recipes`` names it apart."""
    if runs.empty:
        return runs
    runs = runs.copy()
    texts = runs["recipe"].map(lambda fields: json.dumps(fields, sort_keys=True, default=str))
    identity = [runs[k] for k in KEYS + ["method"]] + [texts]
    for _, part in runs.groupby(identity, sort=False, dropna=False):
        twins = part["seed"].duplicated(keep=False)
        if not twins.any():
            continue
        precisions = list(part["precision"])
        common = max(dict.fromkeys(precisions), key=precisions.count)
        for index in part.index[twins & (part["precision"] != common)]:
            runs.at[index, "recipe"] = {**runs.at[index, "recipe"], "precision": runs.at[index, "precision"]}
    return runs


# Fields of a record's training config that change how it is logged or run, never what it learns.
BOOKKEEPING = {"checkpoint_every", "eval_every", "compile", "channels_last"}


def recipe(record: RunRecord) -> dict[str, Any]:
    """What defines a run's configuration besides its method name and seed: the training config
    (but its precision), the model, loss, sampler and mix-up, the data draw, the stage-2 parameters.
    Two runs of one method name with different recipes are not seeds of one method.

    Precision is left out as the store leaves it out: a run asked for "auto" is satisfied by an fp32
    or a bf16 record, so the seeds of one method pool whatever each trained in (90_precision measures
    bf16 against fp32 on the same seeds) and every table says which precisions it pooled. Runs that
    only precision tells apart on the same seed are split by ``_split_precision_clashes``."""
    fields = {k: v for k, v in record.config.items() if k not in BOOKKEEPING and k != "precision"}
    fields.update({k: v for k, v in record.run.items() if k not in ("name", "seed")})
    fields["data draw"] = record.data.get("indices_hash")
    if record.stage2 is not None:
        fields.update({f"stage 2 {k}": v for k, v in record.stage2.params.items()})
    return fields


def _name_recipes(runs: pd.DataFrame) -> pd.DataFrame:
    """Within a setting, a method name used with several recipes (e.g. CE at weight decay 5e-3 in
    the weight-balancing study beside CE at 2e-4) keeps its name for the recipe with the most runs;
    each other recipe is named by what differs, e.g. ``"CE (weight_decay 0.005)"``."""
    if runs.empty:
        return runs
    runs = runs.copy()
    for _, part in runs.groupby(KEYS + ["method"], sort=False, dropna=False):
        texts = part["recipe"].map(lambda fields: json.dumps(fields, sort_keys=True, default=str))
        if texts.nunique() == 1:
            continue
        common_text = texts.value_counts(sort=True).index[0]
        common = json.loads(common_text)
        for index in part.index[texts != common_text]:
            fields = runs.at[index, "recipe"]
            differing = ", ".join(f"{k} {fields.get(k)}" for k in sorted(set(fields) | set(common))
                                  if json.dumps(fields.get(k), default=str) != json.dumps(common.get(k), default=str))
            runs.at[index, "method"] = f"{runs.at[index, 'method']} ({differing})"
    return runs


def _row(method: str, seed: int, record: RunRecord, images: float | None) -> dict[str, Any]:
    test = record.test
    evaluated = [h["test_acc"] for h in record.history if h.get("test_acc") is not None]
    return {
        "method": method, "dataset": record.data["name"], "imbalance_factor": record.data.get("imbalance_factor"),
        "seed": seed, "epochs": record.epochs, "top1": 100 * test["top1"], "many": _percent(test.get("many_shot")),
        "medium": _percent(test.get("medium_shot")), "few": _percent(test.get("few_shot")),
        "ece": _percent(test.get("ece")), "best_evaluated": 100 * max(evaluated) if evaluated else math.nan,
        "images": images if images is not None else math.nan, "precision": record.precision,
        "machines": record.machines, "code": str(record.code.get("commit")), "train_hours": record.train_seconds / 3600,
        "stage2_epochs": record.stage2.params.get("epochs", math.nan) if record.stage2 is not None else math.nan,
        "recipe": recipe(record),
    }


def leaderboard(runs: pd.DataFrame, baseline: str = "CE") -> pd.DataFrame:
    """Per (dataset, IF, epochs, method): mean top-1 and 95% t-interval over seeds, the paired
    difference to ``baseline`` on the same seeds with its interval and verdict, medium / few-shot,
    images seen (millions: stage 1, stage 2 and teachers), stage-2 epochs; best mean first within each
    setting."""
    if runs.empty:
        return pd.DataFrame()
    rows = []
    for key, group in runs.groupby(KEYS, sort=False, dropna=False):
        base_rows = group[group["method"] == baseline]
        base = dict(zip(base_rows["seed"], base_rows["top1"]))
        for method, part in group.groupby("method", sort=False):
            stats = interval(list(part["top1"]))
            row = {**dict(zip(KEYS, key)), "method": method, "top-1": stats["mean"], "±95%": stats["ci95"],
                   "seeds": stats["n"], "medium": part["medium"].mean(), "few": part["few"].mean(),
                   "images (M)": part["images"].mean() / 1e6, "stage-2 epochs": part["stage2_epochs"].max(),
                   "precision": "/".join(sorted(set(part["precision"])))}
            if method != baseline and base:
                difference = paired_difference(dict(zip(part["seed"], part["top1"])), base)
                row.update({"Δ vs CE": difference["mean"], "Δ ±95%": difference["ci95"],
                            "verdict": verdict(difference) if difference["n"] else "no common seed"})
            rows.append(row)
    table = pd.DataFrame(rows)
    return table.sort_values(["dataset", "imbalance_factor", "epochs", "top-1"],
                             ascending=[True, True, True, False]).reset_index(drop=True)


def setting_name(dataset: str, factor: float | None, epochs: int | None = None) -> str:
    """``"cifar10_lt IF100, 200 epochs"``; fixed splits (no IF, e.g. ImageNet-LT) without one."""
    name = f"{dataset}{_factor_text(factor, ' IF')}"
    return f"{name}, {epochs} epochs" if epochs is not None else name


def _factor_text(factor: float | None, prefix: str) -> str:
    return "" if factor is None or pd.isna(factor) else f"{prefix}{factor:g}"


def groups(board: pd.DataFrame) -> list[tuple[tuple[str, float | None, int], pd.DataFrame]]:
    """The leaderboard split per (dataset, IF, epochs): runs of other budgets are other boards."""
    return [((name, None if pd.isna(factor) else factor, int(epochs)), part)
            for (name, factor, epochs), part in board.groupby(KEYS, sort=False, dropna=False)]


def figure_name(dataset: str, factor: float | None, epochs: int) -> str:
    """File stem of one board's figure, e.g. ``99_summary-cifar10_lt-IF100-200ep``."""
    return f"99_summary-{dataset}{_factor_text(factor, '-IF')}-{epochs}ep"


def group_caption(runs: pd.DataFrame, dataset: str, factor: float | None, epochs: int, profile: str) -> str:
    """What produced one board: setting, profile, seeds per method, precision, machines, code."""
    same_factor = runs["imbalance_factor"].isna() if factor is None else runs["imbalance_factor"] == factor
    part = runs[(runs["dataset"] == dataset) & same_factor & (runs["epochs"] == epochs)]
    seeds = sorted({int(n) for n in part.groupby("method")["seed"].nunique()})
    seed_text = str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
    machines = sorted({m for ms in part["machines"] for m in ms})
    codes = sorted(set(part["code"]))
    return (f"{setting_name(dataset, factor, epochs)}, final epoch, profile {profile}, {seed_text} seed(s) per "
            f"method, {'/'.join(sorted(set(part['precision'])))} on {', '.join(machines)}, code "
            f"{codes[0] if len(codes) == 1 else ', '.join(codes)}")


def noise_floors(runs: pd.DataFrame, method: str = "CE") -> pd.DataFrame:
    """``method``'s seed-to-seed spread per (dataset, IF, epochs): seeds, mean, sd, range, 95% half-width."""
    part = runs[runs["method"] == method] if not runs.empty else runs
    rows = []
    for key, group in part.groupby(KEYS, sort=False, dropna=False):
        stats = interval(list(group["top1"]))
        rows.append({**dict(zip(KEYS, key)), "seeds": stats["n"], "mean": stats["mean"], "sd": stats["std"],
                     "range": group["top1"].max() - group["top1"].min(), "±95%": stats["ci95"],
                     "precision": "/".join(sorted(set(group["precision"])))})
    return pd.DataFrame(rows)


def _other_text(row: pd.Series) -> str:
    difference = row.get("protocol_difference") or ""
    return f"{row['paper'].split(',')[0]}: {row['top1']:.2f} ({row['reported_epoch']} epoch; {difference})"


def gap_reason(ours: pd.DataFrame, published: float, reported_epoch: str) -> str:
    """An evidenced reason for a gap over 2 points, or "unexplained"."""
    best = ours["best_evaluated"].mean()
    if reported_epoch == "best" and not math.isnan(best) and abs(best - published) <= GAP_POINTS:
        return (f"the paper reports its best test epoch; our best evaluated epoch (every 10 epochs, mean over "
                f"seeds) gives {best:.1f}, within {GAP_POINTS:g} points of it")
    return "unexplained"


def published_vs_ours(runs: pd.DataFrame, protocol_epochs: int = 200) -> pd.DataFrame:
    """One row per (method, dataset, IF) of our protocol-length runs (module docstring)."""
    if runs.empty:
        return pd.DataFrame()
    published = published_numbers()
    ours_runs = runs[runs["epochs"] == protocol_epochs]
    rows = []
    for (method, dataset, factor), part in ours_runs.groupby(["method", "dataset", "imbalance_factor"], sort=False):
        match = published[(published["method"] == method) & (published["dataset"] == dataset)
                          & (published["imbalance_factor"] == factor)]
        if match.empty:
            continue
        stats = interval(list(part["top1"]))
        primary = match[match["primary"] == True]  # noqa: E712 - a pandas mask
        same = match[(match["protocol_match"] == "same") & (match["primary"] != True)]  # noqa: E712
        others = match[match["protocol_match"] != "same"]
        row: dict[str, Any] = {"method": method, "dataset": dataset, "IF": factor, "ours": stats["mean"],
                               "±95%": stats["ci95"], "seeds": stats["n"]}
        if not primary.empty:
            paper = primary.iloc[0]
            difference = stats["mean"] - paper["top1"]
            row.update({"published (same protocol)": paper["top1"],
                        "source": f"{paper['paper'].split(',')[0]}, {paper['table']}",
                        "paper's epoch": paper["reported_epoch"], "difference": difference,
                        "reason": gap_reason(part, paper["top1"], paper["reported_epoch"])
                        if abs(difference) > GAP_POINTS else ""})
        row["also same protocol"] = "; ".join(_other_text(r) for _, r in same.iterrows())
        row["other protocols (not compared)"] = "; ".join(_other_text(r) for _, r in others.iterrows())
        rows.append(row)
    return pd.DataFrame(rows)


def _within(differences: pd.Series) -> pd.Series:
    """Differences (points) within ±AGREEMENT_POINTS, a float32 rounding error counted as none."""
    return differences.abs() <= AGREEMENT_POINTS + ROUNDING_POINTS


def agreement(comparison: pd.DataFrame) -> pd.DataFrame:
    """Per method: settings compared with a same-protocol number, and how many within ±1.0 point."""
    if comparison.empty or "difference" not in comparison:
        return pd.DataFrame()
    compared = comparison.dropna(subset=["difference"])
    return compared.groupby("method", sort=False).agg(
        compared=("difference", "size"),
        within_1_point=("difference", lambda d: int(_within(d).sum())))


def unfinished(store_root: str | Path) -> pd.DataFrame:
    """Checkpoints of units still training: which runs, how far (epoch / epochs), hours so far."""
    import torch

    rows = []
    for path in sorted(Path(store_root).glob("*/checkpoints/*.pt")):
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as error:  # noqa: BLE001 - any unreadable checkpoint is reported, not fatal
            warnings.warn(f"skipped {path}: unreadable checkpoint ({error.__class__.__name__})", stacklevel=2)
            continue
        hours = sum(s.get("seconds", 0.0) for s in state.get("stretches", [])) / 3600
        rows.append({"dataset": path.parent.parent.name, "runs": ", ".join(sorted(state["histories"])),
                     "epochs done": f"{state['next_epoch']} of {state.get('epochs', '?')}",
                     "hours so far": round(hours, 2),
                     "precision": "/".join(sorted({s.get("precision", "?") for s in state.get("stretches", [])}))})
    return pd.DataFrame(rows)


def conclusion(board: pd.DataFrame, floors: pd.DataFrame, comparison: pd.DataFrame, profile: str) -> str:
    """Markdown stating only what the tables show, with the noise floors as the yardstick."""
    lines = []
    for _, floor in floors.iterrows():
        setting = setting_name(floor["dataset"], floor["imbalance_factor"], floor["epochs"])
        if floor["seeds"] == 1:
            lines.append(f"- Noise floor, {setting}: not measured yet (CE has one seed; the queue trains more): "
                         "no difference at this budget can be read against it.")
        elif floor["seeds"] > 1:
            lines.append(f"- Noise floor, {setting}: CE over {floor['seeds']} seeds has sd {floor['sd']:.2f} and "
                         f"range {floor['range']:.1f} points (mean {floor['mean']:.1f}); a single-seed difference "
                         "smaller than the range is noise.")
            if floor["seeds"] >= 3 and floor["sd"] > SPREAD_POINTS:
                lines.append(f"  - At this budget CE's seed sd exceeds {SPREAD_POINTS:g} points: its single-seed runs are "
                             "a check of the pipeline on real data, and no ranking of methods is drawn from them.")
    for (name, factor, epochs), part in groups(board):
        said = part["verdict"].value_counts().to_dict() if "verdict" in part else {}
        better = list(part[part.get("verdict") == "better"]["method"]) if "verdict" in part else []
        single = part[(part["seeds"] == 1) & (part["method"] != "CE")]
        lines.append(f"- {setting_name(name, factor, epochs)} ({profile}): {len(part)} methods; against CE "
                     f"better {said.get('better', 0)}, worse {said.get('worse', 0)}, cannot tell "
                     f"{said.get('cannot tell', 0)}" + (f" (better: {', '.join(better)})" if better else "")
                     + (f"; {len(single)} with one seed, which cannot be told from CE" if len(single) else "") + ".")
    if comparison.empty or "difference" not in comparison:
        lines.append("- No finished 200-epoch run has a same-protocol published number yet.")
        return "\n".join(lines)
    compared = comparison.dropna(subset=["difference"])
    within = int(_within(compared["difference"]).sum())
    lines.append(f"- Published vs ours (same protocol only): {within} of {len(compared)} within "
                 f"±{AGREEMENT_POINTS:g} point; numbers under other protocols are listed, not compared.")
    for _, row in compared[compared["difference"].abs() > GAP_POINTS].iterrows():
        epoch = row["paper's epoch"]
        lines.append(f"  - {row['method']} on {setting_name(row['dataset'], row['IF'])}: ours {row['ours']:.1f} vs "
                     f"{row['published (same protocol)']:.1f} ({row['source']}, {epoch} epoch): "
                     f"{row['difference']:+.1f} points; reason: {row['reason']}.")
    return "\n".join(lines)


def large_scale_results(results_root: str | Path, profiles: list[str]) -> pd.DataFrame:
    """Mean top-1 and many / medium / few-shot accuracy (percent) over seeds per (profile, dataset,
    epochs, method) of the finished runs in ``results_root/<profile>/``; empty when none exist."""
    keys = ["profile", "dataset", "epochs", "method"]
    frames = [runs.assign(profile=profile) for profile in profiles
              if not (runs := finished_runs(Path(results_root) / profile)).empty]
    if not frames:
        return pd.DataFrame()
    runs = pd.concat(frames, ignore_index=True)
    table = runs.groupby(keys, sort=False)[["top1", "many", "medium", "few"]].mean()
    return table.assign(seeds=runs.groupby(keys, sort=False).size()).rename(columns={"top1": "top-1"})
