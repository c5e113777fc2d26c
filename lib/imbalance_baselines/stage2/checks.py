"""A stage-2 method's parameters checked before stage 1 trains: names, types and ranges.

Parameters are those of the registered function's signature (after ``backbone`` and ``seed``); a
name means the same thing for every method, so one table holds the ranges. ``topk`` (TailCalib's
nearest class means) is bounded by the number of classes, known from the dataset's parameters.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Mapping
from typing import Any

from ..losses.smoothing import SMOOTHING_SHAPES
from .decoupling import TWO_STAGE
from .maxnorm import STAGE2_LOSSES


def _real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


# name -> (predicate(value, num_classes), allowed)
RANGES: dict[str, tuple[Callable[[Any, int], bool], str]] = {
    "epochs": (lambda v, c: _int(v) and v >= 1, "an integer >= 1"),
    "lr": (lambda v, c: _real(v) and v > 0, "a number > 0"),
    "momentum": (lambda v, c: _real(v) and 0 <= v < 1, "a number in [0, 1)"),
    "weight_decay": (lambda v, c: _real(v) and v >= 0, "a number >= 0"),
    "tukey_value": (lambda v, c: _real(v) and v >= 0, "a number >= 0 (0: log transform)"),
    "alpha": (lambda v, c: _real(v) and v >= 0, "a number >= 0"),
    "topk": (lambda v, c: _int(v) and 1 <= v <= c, "an integer in 1..{classes} (class means)"),
    "grid": (lambda v, c: isinstance(v, (list, tuple)) and len(v) > 0 and all(_real(t) and t >= 0 for t in v),
             "a non-empty list of numbers >= 0"),
    "lr_factor": (lambda v, c: _real(v) and v > 0, "a number > 0 (classifier lr = lr_factor * lr)"),
    "smooth_head": (lambda v, c: _real(v) and 0 <= v < 1, "a number in [0, 1)"),
    "smooth_tail": (lambda v, c: _real(v) and 0 <= v < 1, "a number in [0, 1)"),
    "shape": (lambda v, c: v in SMOOTHING_SHAPES, " or ".join(repr(s) for s in SMOOTHING_SHAPES)),
    "shift_bn": (lambda v, c: isinstance(v, bool), "True or False"),
    "threshold": (lambda v, c: _real(v) and v > 0,
                  "a number > 0 (MaxNorm: the radius's share of the stage-1 norm range above the smallest)"),
    "beta": (lambda v, c: _real(v) and 0 <= v < 1, "a number in [0, 1) (class-balanced weights)"),
    "loss": (lambda v, c: v in STAGE2_LOSSES, " or ".join(repr(s) for s in STAGE2_LOSSES)),
}


def method_parameters(method: str) -> dict[str, Any]:
    """The parameters of stage-2 ``method`` with their defaults."""
    signature = inspect.signature(TWO_STAGE.get(method))
    return {p.name: p.default for p in list(signature.parameters.values())[2:]}


def training_passes(method: str, params: Mapping[str, Any]) -> int:
    """Passes of the training set through the network that stage-2 ``method`` makes with ``params``
    (its defaults where ``params`` is silent): one per epoch, one, or none, as the method is marked."""
    rule = TWO_STAGE.get(method).passes_training_set
    if rule == "every epoch":
        return {**method_parameters(method), **params}["epochs"]
    return 1 if rule == "once" else 0


def check_stage2(method: str, params: Mapping[str, Any], num_classes: int | None) -> None:
    """Raise ``ValueError`` naming ``<method>.<parameter>``, its value and what is allowed."""
    allowed = method_parameters(method)
    for key, value in params.items():
        if key not in allowed:
            raise ValueError(f"{method}.{key}={value!r} is not a parameter of {method}; "
                             f"allowed: {', '.join(sorted(allowed)) or 'none'}")
        if key in RANGES:
            ok, text = RANGES[key]
            classes = num_classes if num_classes is not None else 10**9
            if not ok(value, classes):
                raise ValueError(f"{method}.{key}={value!r} is out of range; allowed: "
                                 f"{text.format(classes=classes)}")
