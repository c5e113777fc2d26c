"""Networks by name: the CIFAR ResNet-32 (and its BBN and RIDE variants), the CIFAR ResNet-34 of
weight balancing, and torchvision ImageNet-style backbones.

Every model has ``features(x, mix_point=None, mix_fn=None) -> [B, feature_dim]``,
``classifier`` (its head), ``feature_dim``, and ``forward(x, mix_point=None, mix_fn=None) -> logits``.
Built as ``MODELS.build(name, num_classes=C, head="linear"|"cosine", head_params={...})``.
"""

from __future__ import annotations

from functools import partial

from ..registry import Registry
from .heads import CosineClassifier, make_head
from .resnet34_cifar import ResNet34Cifar
from .resnet_cifar import MIX_POINTS, ResNetCifar, ResNetCifarBBN
from .ride import RIDEResNetCifar
from .torchvision_models import TorchvisionBackbone

MODELS = Registry("model")
MODELS.register("resnet32")(partial(ResNetCifar, blocks_per_stage=5))
MODELS.register("resnet8")(partial(ResNetCifar, blocks_per_stage=1))  # smoke runs and tests
MODELS.register("resnet32_bbn")(ResNetCifarBBN)  # TailCalibX's CIFAR backbone (128-d feature)
MODELS.register("resnet34_cifar")(ResNet34Cifar)  # weight balancing's code (Alshammari et al. 2022)
MODELS.register("ride_resnet32")(RIDEResNetCifar)  # RIDE (Wang et al. 2021), num_experts=3
for _arch in ("resnet10", "resnet50", "resnet152", "resnext50_32x4d"):
    MODELS.register(_arch)(partial(TorchvisionBackbone, _arch))

__all__ = ["MODELS", "MIX_POINTS", "CosineClassifier", "RIDEResNetCifar", "ResNet34Cifar", "ResNetCifar",
           "ResNetCifarBBN", "TorchvisionBackbone", "make_head"]
