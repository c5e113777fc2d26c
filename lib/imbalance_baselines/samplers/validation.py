"""Parameter checks shared by every sampler.

A failed check raises one line naming the sampler, the parameter, its value and what is allowed.
Each check runs in a sampler's constructor before any work, and returns the value in canonical form
(an ``int``, a ``float``, an int64 tensor), so a sampler stores only checked values.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, Sequence

import torch


class Summary(str):
    """A description shown in place of a value too large to print (e.g. ``<labels from 0 to 12>``)."""

    def __repr__(self) -> str:
        return str(self)


def invalid(sampler: str, param: str, value: Any, allowed: str) -> ValueError:
    """The error of every check: ``"<sampler>: <param>=<value> is invalid; allowed: <allowed>"``."""
    return ValueError(f"{sampler}: {param}={value!r} is invalid; allowed: {allowed}")


def check_int(sampler: str, param: str, value: Any, minimum: int | None = None) -> int:
    """An integer (``bool`` excluded) that is at least ``minimum`` (no bound when ``None``)."""
    if not isinstance(value, Integral) or isinstance(value, bool) or (
            minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise invalid(sampler, param, value, f"an integer{bound}")
    return int(value)


def check_real(sampler: str, param: str, value: Any, low: float, high: float = math.inf,
               low_open: bool = False) -> float:
    """A finite real number in [low, high] (or (low, high] when ``low_open``)."""
    ok = (isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
          and (value > low if low_open else value >= low) and value <= high)
    if not ok:
        left = "(" if low_open else "["
        allowed = (f"a number {'>' if low_open else '>='} {low:g}" if high == math.inf
                   else f"a number in {left}{low:g}, {high:g}]")
        raise invalid(sampler, param, value, allowed)
    return float(value)


def check_epoch(sampler: str, epoch: Any) -> int:
    """An epoch number: an integer >= 0."""
    return check_int(sampler, "epoch", epoch, minimum=0)


def check_labels(sampler: str, labels: torch.Tensor | Sequence[int], num_classes: Any
                 ) -> tuple[torch.Tensor, int]:
    """``(labels as a 1-D int64 CPU tensor, num_classes)``: labels non-empty, integers in [0, C)."""
    num_classes = check_int(sampler, "num_classes", num_classes, minimum=1)
    allowed = f"a non-empty 1-D sequence of integers in [0, {num_classes})"
    tensor = torch.as_tensor(labels).detach().cpu()
    if tensor.dim() != 1 or len(tensor) == 0 or tensor.is_floating_point() or tensor.is_complex() \
            or tensor.dtype == torch.bool:
        shown = Summary(f"<{tensor.dtype} tensor of shape {tuple(tensor.shape)}>")
        raise invalid(sampler, "labels", shown, allowed)
    tensor = tensor.to(torch.int64)
    low, high = int(tensor.min()), int(tensor.max())
    if low < 0 or high >= num_classes:
        raise invalid(sampler, "labels", Summary(f"<labels from {low} to {high}>"), allowed)
    return tensor, num_classes


def check_every_class_present(sampler: str, class_counts: torch.Tensor) -> None:
    """A sampler that draws from every class needs at least one image of each."""
    empty = torch.nonzero(class_counts == 0).flatten().tolist()
    if empty:
        raise invalid(sampler, "labels", Summary(f"<no image of class(es) {empty[:10]}>"),
                      "at least one image of every class (this sampler draws from every class)")
