"""ResNet-34 with a CIFAR stem: the network of weight balancing's code (Alshammari et al., CVPR 2022,
"Long-Tailed Recognition via Weight Balancing"; ShadeAlsha/LTR-weight-balancing,
``utils/network_arch_resnet.py``, ``ResnetEncoder(34, embDimension=C, poolSize=4)``).

It is torchvision's ResNet-34 (He et al. 2016, Table 1: basic blocks [3, 4, 6, 3] with 64, 128, 256,
512 channels, 1x1-convolution + BN shortcuts where the shape changes, "option B") with the 7x7
stride-2 stem replaced by a 3x3 stride-1 convolution (64 channels, no bias) and the max-pool skipped,
so a 32x32 image reaches the last stage at 4x4; pooled to a 512-d feature and a linear classifier.
About 21.3 M parameters, not the 0.46 M ResNet-32 the paper's text names (SPEC 10).

Initialisation as in that code: torchvision's for the residual stages (Kaiming-normal, fan-out, for
convolutions; BatchNorm at the identity) and PyTorch's default for the replaced stem convolution and
the classifier. Deviation: global average pooling instead of the code's fixed 4x4 average pool,
identical on 32x32 inputs and defined for any size.

Mix-up points as ResNet-32's (``MIX_POINTS``): "stage1".."stage3" are after the first three residual
stages; the fourth has none of its own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from .heads import make_head
from .resnet_cifar import MixFn, mixing_at


class ResNet34Cifar(nn.Module):
    """Torchvision ResNet-34 on 32x32 images: 3x3 stem, no max-pool, 512-d pooled feature."""

    def __init__(self, num_classes: int, head: str = "linear", head_params: dict | None = None) -> None:
        super().__init__()
        network = torchvision.models.resnet34(weights=None)
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), network.bn1, network.relu)
        self.stage1, self.stage2, self.stage3, self.stage4 = (
            network.layer1, network.layer2, network.layer3, network.layer4)
        self.feature_dim = 512
        self.classifier = make_head(head, self.feature_dim, num_classes, **(head_params or {}))

    def features(self, x: Tensor, mix_point: str | None = None, mix_fn: MixFn | None = None) -> Tensor:
        """The pooled 512-d feature, optionally mixed at ``mix_point``."""
        at = mixing_at(mix_point, mix_fn)

        h = at("stem", self.stem(at("input", x)))
        h = at("stage1", self.stage1(h))
        h = at("stage2", self.stage2(h))
        h = self.stage4(at("stage3", self.stage3(h)))
        return at("pool", torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))

    def forward(self, x: Tensor, mix_point: str | None = None, mix_fn: MixFn | None = None) -> Tensor:
        return self.classifier(self.features(x, mix_point, mix_fn))
