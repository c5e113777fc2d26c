"""Parameter validation shared by every loss, weight helper and mix-up.

Every error is one line naming the owner (a loss or function name), the parameter, the value and
what is allowed, e.g. ``cb_focal: beta=1.2 is out of range; allowed: 0 <= beta < 1``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any


def _allowed_range(param: str, minimum: float, maximum: float | None,
                   min_open: bool, max_open: bool) -> str:
    """The allowed range as a readable inequality: ``gamma >= 0``, ``0 <= beta < 1``."""
    if maximum is None:
        return f"{param} {'>' if min_open else '>='} {minimum:g}"
    return f"{minimum:g} {'<' if min_open else '<='} {param} {'<' if max_open else '<='} {maximum:g}"


def check_number(owner: str, param: str, value: Any, *, minimum: float,
                 maximum: float | None = None, min_open: bool = False, max_open: bool = False,
                 integer: bool = False) -> Any:
    """``value`` as a float (an int if ``integer``) if it lies in the range, else ``ValueError``.

    NaN fails every range; ``bool`` is not accepted as a number.
    """
    allowed = _allowed_range(param, minimum, maximum, min_open, max_open)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral if integer else numbers.Real):
        what = "an integer" if integer else "a number"
        raise ValueError(f"{owner}: {param}={value!r} is not {what}; allowed: {allowed}")
    above = value > minimum if min_open else value >= minimum
    below = maximum is None or (value < maximum if max_open else value <= maximum)
    if not (above and below):
        raise ValueError(f"{owner}: {param}={value!r} is out of range; allowed: {allowed}")
    return int(value) if integer else float(value)


def check_choice(owner: str, param: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else ``ValueError`` listing them."""
    if value not in choices:
        raise ValueError(f"{owner}: {param}={value!r} is not allowed; allowed: {', '.join(choices)}")
    return value


def check_counts(owner: str, class_counts: Any) -> list[int]:
    """Training images per class (a sequence, tensor or array) as a list of at least 2 positive ints."""
    allowed = "a sequence of at least 2 positive integers (training images per class)"
    if hasattr(class_counts, "tolist"):  # torch.Tensor, numpy.ndarray
        class_counts = class_counts.tolist()
    if isinstance(class_counts, (str, bytes)) or not isinstance(class_counts, Sequence):
        raise ValueError(f"{owner}: class_counts={class_counts!r} is not a sequence; allowed: {allowed}")
    if len(class_counts) < 2:
        raise ValueError(f"{owner}: class_counts={list(class_counts)!r} has {len(class_counts)} "
                         f"class(es); allowed: {allowed}")
    for c, n in enumerate(class_counts):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n <= 0:
            raise ValueError(f"{owner}: class_counts[{c}]={n!r} is not a positive integer; "
                             f"allowed: {allowed}")
    return [int(n) for n in class_counts]
