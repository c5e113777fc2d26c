"""The common loss interface, the loss registry and the one place where batches are reduced.

Every loss maps logits [B, C] and int64 labels [B] to per-sample losses [B] (``per_sample``); the
base class reduces them in exactly one of the three ways of SPEC section 3:

- unweighted: sum_i l_i / B;
- class-weighted, "/ B": sum_i w_{y_i} l_i / B (Cui et al. 2019);
- class-weighted, weighted mean: sum_i w_{y_i} l_i / sum_i w_{y_i}, as ``F.cross_entropy(weight=w)``.

``phase_key(epoch)`` names what a loss computes at an epoch: its class and every argument it was
constructed with (recorded automatically for every subclass, so a new loss cannot share a key with
a different one), plus the class weights set after construction. Equal keys mean identical values;
the training engine uses them to share the common prefix of runs (CE and CE-DRW until the DRW
epoch, where DRW's key is its inner loss's).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..registry import Registry
from .checks import check_counts, check_number
from .weights import class_balanced_weights, cost_sensitive_weights

LOSSES = Registry("loss")


def one_hot(target: Tensor, like: Tensor) -> Tensor:
    """One-hot labels with the shape, dtype and device of ``like`` (scatter: no host sync on GPU)."""
    return torch.zeros_like(like).scatter_(1, target.unsqueeze(1), 1.0)


def counts_digest(class_counts: Sequence[int]) -> str:
    """A short digest of the class counts for phase keys of count-dependent losses."""
    return hashlib.sha256(",".join(map(str, class_counts)).encode()).hexdigest()[:12]


def _described(value: Any) -> Any:
    """A constructor argument as JSON-ready data: a loss by its key, a tensor or sequence as a list."""
    if isinstance(value, Loss):
        return value.sample_key()
    if isinstance(value, Tensor):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_described(v) for v in value]
    return value


def _recording(init: Callable[..., None]) -> Callable[..., None]:
    """``init`` that first records the outermost constructor call's arguments (``name`` excluded:
    it labels, it does not compute) as the loss's construction key."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def construct(self: Loss, *args: Any, **kwargs: Any) -> None:
        if "_construction" not in self.__dict__:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            arguments = {k: _described(v) for k, v in list(bound.arguments.items())[1:] if k != "name"}
            if "class_counts" in arguments:
                arguments["class_counts"] = counts_digest(arguments["class_counts"])
            key = f"{type(self).__qualname__}{json.dumps(arguments, sort_keys=True, separators=(',', ':'))}"
            object.__setattr__(self, "_construction", key)
        init(self, *args, **kwargs)

    return construct


class Loss(nn.Module, ABC):
    """A classification loss: ``forward(logits [B, C], target [B] int64) -> scalar`` in float32.

    Subclasses define ``per_sample``; class weights are set with
    ``use_class_balanced_weights`` or ``use_cost_sensitive_weights`` and live in the non-persistent
    buffer ``class_weights`` (derived from the counts, so ``.to(device)`` moves them and checkpoints
    need not hold them).
    """

    class_weights: Tensor | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__init__ = _recording(cls.__init__)  # type: ignore[method-assign]

    def __init__(self, name: str, class_counts: Sequence[int]) -> None:
        super().__init__()
        self.name = name
        self.class_counts = check_counts(name, class_counts)
        self.num_classes = len(self.class_counts)
        self.counts_key = counts_digest(self.class_counts)
        self.register_buffer("class_weights", None, persistent=False)
        self.weighted_mean = False
        self.weights_key = ""

    # -- class weights ---------------------------------------------------------------------------
    def use_class_balanced_weights(self, beta: float, *, weighted_mean: bool = False) -> Loss:
        """Weight sample i by the class-balanced w_{y_i} (Cui et al. 2019); returns ``self``."""
        beta = check_number(self.name, "beta", beta, minimum=0, maximum=1, max_open=True)
        return self._set_weights(class_balanced_weights(self.class_counts, beta),
                                 f"cb(beta={beta!r})", weighted_mean)

    def use_cost_sensitive_weights(self) -> Loss:
        """Weight sample i by min n / n_{y_i}, weighted mean (Bag of Tricks); returns ``self``."""
        return self._set_weights(cost_sensitive_weights(self.class_counts), "min_n/n", True)

    def _set_weights(self, weights: Tensor, key: str, weighted_mean: bool) -> Loss:
        self.class_weights = weights
        self.weighted_mean = weighted_mean
        self.weights_key = f"w={key}[counts={self.counts_key}]/{'sum_w' if weighted_mean else 'B'}"
        return self

    # -- computation -----------------------------------------------------------------------------
    @abstractmethod
    def per_sample(self, logits: Tensor, target: Tensor) -> Tensor:
        """Unreduced losses [B] for float32 logits [B, C] and labels [B]."""

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """The reduced loss, computed in float32 whatever the dtype of ``logits``."""
        self.check_batch(logits, target)
        return self.reduce(self.per_sample(logits.float(), target), target)

    def reduce(self, losses: Tensor, target: Tensor) -> Tensor:
        """The batch reduction (module docstring): mean, weighted sum / B or weighted mean."""
        if self.class_weights is None:
            return losses.mean()
        w = self.class_weights[target]
        total = (w * losses).sum()
        return total / w.sum() if self.weighted_mean else total / losses.shape[0]

    def check_batch(self, logits: Tensor, target: Tensor) -> None:
        """Shapes and dtypes only (no value checks, which would synchronise a GPU)."""
        C = self.num_classes
        if logits.dim() != 2 or logits.shape[1] != C or not logits.is_floating_point():
            raise ValueError(f"{self.name}: logits of shape {tuple(logits.shape)} and dtype "
                             f"{logits.dtype} do not match class_counts ({C} classes); "
                             f"allowed: floating logits of shape [B, {C}]")
        if target.dtype != torch.int64 or target.shape != logits.shape[:1]:
            raise ValueError(f"{self.name}: target of shape {tuple(target.shape)} and dtype "
                             f"{target.dtype}; allowed: int64 labels of shape [{logits.shape[0]}]")

    # -- schedule and identity -------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Tell the loss the (0-based) epoch about to start; a no-op unless it is scheduled."""

    def sample_key(self) -> str:
        """What ``per_sample`` computes: the class and its constructor arguments (``name`` aside)."""
        return self.__dict__["_construction"]

    def phase_key(self, epoch: int) -> str:
        """What the loss computes at ``epoch``: equal keys mean identical values."""
        return f"{self.sample_key()}|{self.weights_key or 'mean'}"

    def classifier_bias_init(self) -> float | None:
        """The initial classifier bias this loss asks for (sigmoid losses), else ``None``."""
        return None

    def extra_repr(self) -> str:
        return f"name={self.name!r}, key={self.phase_key(0)!r}"
