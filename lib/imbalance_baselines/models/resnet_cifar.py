"""ResNet-32 for 32x32 images (He et al. 2016, "Deep Residual Learning for Image Recognition", Sec. 4.2).

6n + 2 layers with n = 5: a 3x3 stem with 16 channels, three stages of five basic blocks with 16, 32
and 64 channels (strides 1, 2, 2), global average pooling and a classifier on the 64-d feature.
Shortcuts that change shape use He et al.'s parameter-free "option A": subsample spatially and pad
the new channels with zeros. About 0.46 M parameters, the network of LDAM-DRW and Cui et al.

Mix-up points (Verma et al. 2019, manifold mix-up): ``forward(x, mix_point, mix_fn)`` applies ``mix_fn``
to the hidden tensor at one of ``MIX_POINTS`` ("input", after the "stem", after "stage1".."stage3",
or the "pool"-ed feature) and continues from the mixed tensor.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .heads import make_head

MIX_POINTS = ("input", "stem", "stage1", "stage2", "stage3", "pool")

MixFn = Callable[[Tensor], Tensor]



def mixing_at(mix_point: str | None, mix_fn: MixFn | None) -> Callable[[str, Tensor], Tensor]:
    """``at(point, h)``: ``mix_fn(h)`` at the named mix-up point (manifold mix-up, Verma et al. 2019),
    ``h`` elsewhere; an unknown point is refused."""
    if mix_point is not None and mix_point not in MIX_POINTS:
        raise ValueError(f"mix_point={mix_point!r} is not a mix-up point; allowed: {', '.join(MIX_POINTS)}")

    def at(point: str, h: Tensor) -> Tensor:
        return mix_fn(h) if (mix_fn is not None and point == mix_point) else h

    return at

class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the (option-A) shortcut, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.stride = stride
        self.pad_channels = out_channels - in_channels

    def shortcut(self, x: Tensor) -> Tensor:
        """Identity, or option A: take every ``stride``-th pixel and zero-pad the extra channels."""
        if self.stride == 1 and self.pad_channels == 0:
            return x
        x = x[:, :, :: self.stride, :: self.stride]
        half = self.pad_channels // 2
        return F.pad(x, (0, 0, 0, 0, half, self.pad_channels - half))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNetCifar(nn.Module):
    """He et al.'s CIFAR ResNet with ``blocks_per_stage`` = n (ResNet-(6n+2)); n = 5 is ResNet-32."""

    def __init__(self, num_classes: int, blocks_per_stage: int = 5, head: str = "linear",
                 head_params: dict | None = None, widths: tuple[int, int, int] = (16, 32, 64)) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        stages = []
        in_channels = widths[0]
        for index, width in enumerate(widths):
            blocks = []
            for block in range(blocks_per_stage):
                stride = 2 if (index > 0 and block == 0) else 1
                blocks.append(BasicBlock(in_channels, width, stride))
                in_channels = width
            stages.append(nn.Sequential(*blocks))
        self.stage1, self.stage2, self.stage3 = stages
        self.feature_dim = widths[-1]
        self.classifier = make_head(head, self.feature_dim, num_classes, **(head_params or {}))
        self._init_weights()

    def _init_weights(self) -> None:
        # As LDAM-DRW's resnet_cifar (the protocol's reference code): Kaiming-normal (fan-in) for
        # convolutions and the linear classifier; BatchNorm starts at the identity (torch default).
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)

    def features(self, x: Tensor, mix_point: str | None = None, mix_fn: MixFn | None = None) -> Tensor:
        """The pooled feature [B, feature_dim] (64-d for ResNet-32), optionally mixed at ``mix_point``."""
        at = mixing_at(mix_point, mix_fn)

        h = at("input", x)
        h = at("stem", self.stem(h))
        h = at("stage1", self.stage1(h))
        h = at("stage2", self.stage2(h))
        h = at("stage3", self.stage3(h))
        return at("pool", torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))

    def forward(self, x: Tensor, mix_point: str | None = None, mix_fn: MixFn | None = None) -> Tensor:
        return self.classifier(self.features(x, mix_point, mix_fn))


class ResNetCifarBBN(ResNetCifar):
    """BBN's ResNet-32 (Zhou et al. 2020, "BBN: Bilateral-Branch Network", Sec. 4.1), the backbone of
    TailCalibX's CIFAR numbers (SPEC 5): the third stage has 4 blocks, followed by two parallel blocks
    (BBN's conventional-learning ``cb_block`` and re-balancing ``rb_block``) whose pooled outputs are
    concatenated into a 128-d feature."""

    def __init__(self, num_classes: int, head: str = "linear", head_params: dict | None = None) -> None:
        super().__init__(num_classes, blocks_per_stage=5, head=head, head_params=head_params)
        self.stage3 = nn.Sequential(*list(self.stage3.children())[:4])
        self.cb_block = BasicBlock(64, 64, 1)
        self.rb_block = BasicBlock(64, 64, 1)
        self.feature_dim = 128
        self.classifier = make_head(head, self.feature_dim, num_classes, **(head_params or {}))
        self._init_weights()

    def features(self, x: Tensor, mix_point: str | None = None, mix_fn: MixFn | None = None) -> Tensor:
        at = mixing_at(mix_point, mix_fn)

        h = at("stem", self.stem(at("input", x)))
        h = at("stage3", self.stage3(at("stage2", self.stage2(at("stage1", self.stage1(h))))))
        pooled = [torch.flatten(F.adaptive_avg_pool2d(block(h), 1), 1) for block in (self.cb_block, self.rb_block)]
        return at("pool", torch.cat(pooled, dim=1))
