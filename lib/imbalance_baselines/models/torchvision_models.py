"""ImageNet-style backbones from torchvision (ResNet-50 for iNaturalist, He et al. 2016; ResNet-10,
one basic block per stage, as OLTR (Liu et al. 2019) and Balanced Softmax use on ImageNet-LT), with the
same interface as the CIFAR ResNet: ``features(x)`` gives the pooled feature, ``forward`` the logits,
and mix-up may be applied at the "input" or the "pool"-ed feature.

Nothing is downloaded: initial weights, when wanted, come from a local file (``weights_path``).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn

from .heads import make_head
from .resnet_cifar import MixFn

TORCHVISION_MIX_POINTS = ("input", "pool")


class TorchvisionBackbone(nn.Module):
    """A torchvision classification network split into backbone (up to pooling) and head."""

    def __init__(self, arch: str, num_classes: int, head: str = "linear",
                 head_params: dict | None = None, weights_path: str | None = None) -> None:
        super().__init__()
        network = (torchvision.models.resnet.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1])
                   if arch == "resnet10" else torchvision.models.get_model(arch, weights=None))
        if weights_path is not None:
            load_backbone_weights(network, Path(weights_path))
        self.feature_dim = network.fc.in_features
        network.fc = nn.Identity()
        self.backbone = network
        self.classifier = make_head(head, self.feature_dim, num_classes, **(head_params or {}))

    def features(self, x: Tensor, mix_point: str | None = None, mix_fn: MixFn | None = None) -> Tensor:
        if mix_point is not None and mix_point not in TORCHVISION_MIX_POINTS:
            raise ValueError(f"mix_point={mix_point!r} is not supported by this backbone; "
                             f"allowed: {', '.join(TORCHVISION_MIX_POINTS)}")
        if mix_fn is not None and mix_point == "input":
            x = mix_fn(x)
        h = self.backbone(x)
        return mix_fn(h) if (mix_fn is not None and mix_point == "pool") else h

    def forward(self, x: Tensor, mix_point: str | None = None, mix_fn: MixFn | None = None) -> Tensor:
        return self.classifier(self.features(x, mix_point, mix_fn))


def load_backbone_weights(network: nn.Module, path: Path) -> None:
    """Load a local state dict into ``network``, ignoring the final ``fc`` (the class count differs).

    Shape mismatches elsewhere are an error naming the file and the first mismatching tensors.
    """
    if not path.is_file():
        raise FileNotFoundError(f"weights_path={str(path)!r} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    own = network.state_dict()
    mismatched = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in state.items()
                  if k in own and not k.startswith("fc.") and v.shape != own[k].shape]
    if mismatched:
        raise ValueError(f"weights_path={str(path)!r} does not fit {type(network).__name__}: "
                         + "; ".join(mismatched[:3]))
    missing = [k for k in own if not k.startswith("fc.") and k not in state]
    if missing:
        raise ValueError(f"weights_path={str(path)!r} lacks {len(missing)} tensors, e.g. {missing[:3]}")
    network.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")}, strict=False)
