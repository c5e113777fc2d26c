"""RIDE's multi-expert ResNet-32 for CIFAR (Wang, Lian, Miao, Liu, Yu, "Long-tailed Recognition by
Routing Diverse Distribution-Aware Experts", ICLR 2021, Sec. 3 and Fig. 2).

As the official CIFAR model (frank-xwang/RIDE-LongTailRecognition,
``model/ldam_drw_resnets/ride_resnet_cifar.py``, built by ``configs/config_imbalance_cifar100_ride.json``
with ``num_experts=3, reduce_dimension=true, use_norm=true``): the stem and the first stage (16
channels, 5 basic blocks) are shared; each of the K experts has its own second and third stage (5
basic blocks each, 24 and 48 channels: the code's "reduce_dimension" widths, 3/4 of ResNet-32's, so
that several experts cost about as much as one network) and its own normalised classifier,
logits_k = s * cos(feature_k, w_c) with s = 30.
The network's output is the mean of the K experts' logits.

Interface as every model (``features``, ``classifier``, ``feature_dim``, ``forward``): ``features``
is the K pooled expert features concatenated ([B, K * 48]); ``classifier`` (``ExpertHeads``) applies
each expert's head to its slice and averages. Every forward keeps the experts' logits [B, K, C] in
``expert_logits`` for the RIDE loss (``losses.ride``), which needs each expert's output.

Initialisation as the official code: Kaiming-normal convolutions (and linear heads); a cosine head's
class vectors start from U(-1, 1) rescaled to unit norm (its ``NormedLinear``). Mix-up at "stage2" or
"stage3" mixes each expert's hidden tensor with the same pair.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .heads import CosineClassifier, make_head
from .resnet_cifar import BasicBlock, MixFn, mixing_at


def _stage(in_channels: int, width: int, blocks: int, stride: int) -> nn.Sequential:
    return nn.Sequential(*[BasicBlock(in_channels if b == 0 else width, width, stride if b == 0 else 1)
                           for b in range(blocks)])


class ExpertHeads(nn.Module):
    """One head per expert on its slice of the concatenated features; returns the mean logits and
    keeps the per-expert logits [B, K, C] of the last call in ``expert_logits``."""

    def __init__(self, heads: list[nn.Module]) -> None:
        super().__init__()
        self.heads = nn.ModuleList(heads)
        self.expert_logits: Tensor | None = None

    def __getstate__(self) -> dict:
        # Copies and pickles leave out the last batch's logits: a non-leaf tensor of a training
        # forward cannot be deep-copied (the engine copies models when runs part ways).
        return {**super().__getstate__(), "expert_logits": None}

    def forward(self, features: Tensor) -> Tensor:
        slices = features.chunk(len(self.heads), dim=1)
        self.expert_logits = torch.stack([head(part) for head, part in zip(self.heads, slices)], dim=1)
        return self.expert_logits.mean(dim=1)


class RIDEResNetCifar(nn.Module):
    """ResNet-32 with a shared stem and first stage and ``num_experts`` expert branches."""

    def __init__(self, num_classes: int, num_experts: int = 3, blocks_per_stage: int = 5,
                 widths: tuple[int, int, int] = (16, 24, 48), head: str = "cosine",
                 head_params: dict | None = None) -> None:
        super().__init__()
        if isinstance(num_experts, bool) or not isinstance(num_experts, int) or num_experts < 1:
            raise ValueError(f"ride_resnet32: num_experts={num_experts!r} is out of range; allowed: "
                             f"an integer >= 1")
        self.num_experts = num_experts
        shared, second, third = widths
        self.stem = nn.Sequential(nn.Conv2d(3, shared, 3, 1, 1, bias=False), nn.BatchNorm2d(shared),
                                  nn.ReLU(inplace=True))
        self.stage1 = _stage(shared, shared, blocks_per_stage, 1)
        self.experts = nn.ModuleList([
            nn.ModuleDict({"stage2": _stage(shared, second, blocks_per_stage, 2),
                           "stage3": _stage(second, third, blocks_per_stage, 2)})
            for _ in range(self.num_experts)])
        self.feature_dim = self.num_experts * third
        params = {"scale": 30.0} if head == "cosine" and head_params is None else (head_params or {})
        self.classifier = ExpertHeads([make_head(head, third, num_classes, **params)
                                       for _ in range(self.num_experts)])
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)
            elif isinstance(module, CosineClassifier):
                with torch.no_grad():
                    module.weight.copy_(F.normalize(module.weight, dim=1))

    @property
    def expert_logits(self) -> Tensor | None:
        """The experts' logits [B, K, C] of the last forward (None before the first)."""
        return self.classifier.expert_logits

    def features(self, x: Tensor, mix_point: str | None = None, mix_fn: MixFn | None = None) -> Tensor:
        """The experts' pooled features, concatenated: [B, K * widths[2]]."""
        at = mixing_at(mix_point, mix_fn)

        shared = at("stage1", self.stage1(at("stem", self.stem(at("input", x)))))
        pooled = []
        for expert in self.experts:
            h = at("stage3", expert["stage3"](at("stage2", expert["stage2"](shared))))
            pooled.append(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))
        return at("pool", torch.cat(pooled, dim=1))

    def forward(self, x: Tensor, mix_point: str | None = None, mix_fn: MixFn | None = None) -> Tensor:
        """The mean of the experts' logits [B, C]; the experts' own are in ``expert_logits``."""
        return self.classifier(self.features(x, mix_point, mix_fn))
