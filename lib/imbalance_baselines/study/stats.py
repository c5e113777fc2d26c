"""Seed statistics behind every claim: means with t-intervals and paired differences to a baseline.

A method is called better (worse) than the baseline only when the 95% t-interval of its *paired*
difference - the same seeds, the same data draw - lies above (below) 0; otherwise the study cannot
tell. One seed gives no interval, so it can never support a claim (Student 1908; the paired design
removes the seed-to-seed variation the two runs share).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..evaluate import mean_and_interval


def interval(values: list[float]) -> dict[str, float]:
    """Mean, sample std, 95% t half-width and n (NaN std and half-width for one value; n 0 for none)."""
    if not values:
        return {"mean": math.nan, "std": math.nan, "ci95": math.nan, "n": 0}
    return mean_and_interval(values)


def paired_difference(values: Mapping[int, float], baseline: Mapping[int, float]) -> dict[str, Any]:
    """``values - baseline`` over the seeds both have: mean, 95% half-width, n and the seeds."""
    seeds = sorted(set(values) & set(baseline))
    stats = interval([values[s] - baseline[s] for s in seeds])
    return {**stats, "seeds": seeds}


def verdict(difference: Mapping[str, Any]) -> str:
    """``"better"``, ``"worse"`` or ``"cannot tell"`` from a paired difference (module docstring)."""
    n, mean, half = difference["n"], difference["mean"], difference["ci95"]
    if n < 2 or math.isnan(half):
        return "cannot tell"
    if mean - half > 0:
        return "better"
    if mean + half < 0:
        return "worse"
    return "cannot tell"


def verdict_words(method: str, baseline: str, difference: Mapping[str, Any], metric: str = "top-1") -> str:
    """One sentence: the paired difference with its interval and what it allows one to say."""
    n = difference["n"]
    if n == 0:
        return f"{method}: no seed in common with {baseline}, so no comparison."
    if n == 1:
        return (f"{method} - {baseline}: {difference['mean']:+.1f} points of {metric} on 1 seed; one seed gives "
                f"no interval, so the study cannot tell whether {method} is better or worse.")
    said = verdict(difference)
    text = (f"{method} - {baseline}: {difference['mean']:+.1f} ± {difference['ci95']:.1f} points of {metric} "
            f"(paired over {n} seeds, 95% t-interval)")
    if said == "cannot tell":
        return text + f"; the interval contains 0, so the study cannot tell {method} from {baseline}."
    return text + f"; {method} is {said} than {baseline}."


def mean_text(stats: Mapping[str, float], digits: int = 1) -> str:
    """``"71.2 ± 0.8 (3 seeds)"``, or ``"71.2 (1 seed)"`` without an interval."""
    if stats["n"] == 0:
        return "-"
    if stats["n"] == 1:
        return f"{stats['mean']:.{digits}f} (1 seed)"
    return f"{stats['mean']:.{digits}f} ± {stats['ci95']:.{digits}f} ({stats['n']} seeds)"
