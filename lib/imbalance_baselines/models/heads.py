"""Classifier heads on a pooled feature: linear, and cosine (normalised) as used by LDAM and TailCalibX."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class CosineClassifier(nn.Module):
    """logits = s * <x / ||x||, w_c / ||w_c||>  (+ b).

    With ``scale=1`` and no bias this is LDAM-DRW's ``NormedLinear`` (Cao et al. 2019 use a normalised
    last layer and let the LDAM loss apply its own scale s = 30). TailCalibX's cosine classifier
    starts a learnable scale at 10. Each class vector is normalised on its own (over the feature
    axis), which TailCalibX's code got wrong (SPEC 9).
    """

    def __init__(self, in_features: int, num_classes: int, scale: float = 1.0,
                 learn_scale: bool = False, bias: bool = False) -> None:
        super().__init__()
        if scale <= 0:
            raise ValueError(f"cosine head: scale={scale} is out of range; allowed: scale > 0")
        self.weight = nn.Parameter(torch.empty(num_classes, in_features).uniform_(-1, 1))
        self.scale = nn.Parameter(torch.tensor(float(scale)), requires_grad=learn_scale)
        self.bias = nn.Parameter(torch.zeros(num_classes)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        logits = self.scale * F.linear(F.normalize(x, dim=1), F.normalize(self.weight, dim=1))
        return logits if self.bias is None else logits + self.bias


HEADS = ("linear", "cosine")


def make_head(name: str, in_features: int, num_classes: int, **params: object) -> nn.Module:
    """A classifier head by name: "linear" (nn.Linear) or "cosine" (``CosineClassifier``)."""
    if name == "linear":
        if params:
            raise ValueError(f"linear head takes no parameters, got {sorted(params)}")
        return nn.Linear(in_features, num_classes)
    if name == "cosine":
        return CosineClassifier(in_features, num_classes, **params)  # type: ignore[arg-type]
    raise ValueError(f"head={name!r} is unknown; allowed: {', '.join(HEADS)}")
