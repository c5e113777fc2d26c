"""MiSLAS stage 2 (Zhong et al. 2021, "Improving Calibration for Long-Tailed Recognition", CVPR,
Sec. 4.1-4.2): classifier learning with label-aware smoothing and shifted batch normalisation on a
stage-1 network trained with mix-up.

What the authors' code does (dvlab-research/MiSLAS ``train_stage2.py``, CIFAR configs
``config/cifar*/*_stage2_mislas.yaml``), and this module with it:

- the stage-1 classifier is trained further (not re-initialised), at ``lr_factor * lr``, together
  with one scale per class on its logits (LWS, started at 1) at ``lr``; SGD, momentum 0.9, weight
  decay 2e-4 on both; cosine learning rate per epoch, lr_e = lr (1 + cos(pi e / T)) / 2; T = 10
  epochs, lr = 0.1, batch 128; no mix-up in stage 2;
- class-aware sampling (4 images per class visit; ``ClassAwareSampler``) with the standard crop and
  flip; the code stops an epoch after about N draws (``end_steps`` = ceil(N / B)), so an epoch here
  is N draws;
- loss: label-aware smoothing (``losses.smoothing``, concave form);
- shifted BN (``shift_bn``): the network runs in training mode under ``torch.no_grad``, so every
  BatchNorm layer normalises with batch statistics and updates its running mean and variance
  (momentum as built, 0.1 in the suite's ResNets) on the class-aware batches; no network weight,
  BatchNorm affine parameters included, is in the optimiser. Evaluation then uses the shifted
  running statistics. The CIFAR-10-LT configs turn it off, the CIFAR-100-LT ones on.

The frozen stage-1 network (``FrozenBackbone.model``) is never touched: the shift happens on a copy.
Because the shifted statistics change the features, the head returned is the whole adapted network
(``ShiftedNetwork``: copy + classifier + scales), mapping normalised images to logits; it is
evaluated as ``backbone.source.map(head, split, precision)``, not on the frozen network's features
(it refuses 2-D input with that message; ``maps_images`` marks such a head).

The authors' settings by dataset (smooth_head, smooth_tail, shift_bn, lr_factor; lr 0.1, 10 epochs,
weight decay 2e-4 in all; the defaults here are CIFAR-100-LT IF 100's):

=================  ==================  ==================  ==================
dataset            IF 100              IF 50               IF 10
=================  ==================  ==================  ==================
CIFAR-10-LT        0.3, 0.0, off, 0.5  0.2, 0.0, off, 0.2  0.1, 0.0, off, 0.2
CIFAR-100-LT       0.4, 0.1, on, 0.2   0.3, 0.0, on, 0.1   0.2, 0.0, on, 0.1
=================  ==================  ==================  ==================
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from ..losses.smoothing import LabelAwareSmoothing, label_aware_epsilons
from ..samplers import SAMPLERS
from ..train.distributed import World
from ..train.seeding import derive_seed
from .decoupling import TWO_STAGE, FrozenBackbone, passes_training_set

class ShiftedNetwork(nn.Module):
    """The stage-2 network: logits_c = s_c * classifier(features(x))_c, with the (possibly shifted)
    BatchNorm statistics of stage 2. Maps normalised images [B, 3, H, W] to logits [B, C]."""

    maps_images = True  # evaluate as source.map(head, split, precision), not head(frozen features)

    def __init__(self, network: nn.Module, scales: nn.Parameter) -> None:
        super().__init__()
        self.network = network
        self.scales = scales

    def features(self, x: Tensor) -> Tensor:
        """The adapted network's pooled features."""
        return self.network.features(x)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(f"MiSLAS: input of shape {tuple(x.shape)}; allowed: images [B, 3, H, W] "
                             f"(its BatchNorm statistics were shifted, so evaluate it with "
                             f"backbone.source.map(head, split, precision), not on frozen features)")
        return self.scales * self.network.classifier(self.features(x))


def _batch_norm_train_mode(network: nn.Module, shift_bn: bool) -> None:
    """Evaluation mode throughout, except BatchNorm layers in training mode when ``shift_bn``."""
    network.eval()
    if shift_bn:
        for module in network.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.train()


def mislas_stage2(backbone: FrozenBackbone, seed: int, epochs: int, lr: float, lr_factor: float,
                  smooth_head: float, smooth_tail: float, shape: str, shift_bn: bool,
                  momentum: float, weight_decay: float, batch_size: int = 128) -> ShiftedNetwork:
    """Train the classifier and per-class scales on a copy of ``backbone.model`` (module docstring)."""
    data, device = backbone.data, torch.device(backbone.device)
    network = copy.deepcopy(backbone.model).requires_grad_(False)
    network.classifier.requires_grad_(True)  # the stage-1 classifier, trained further
    scales = nn.Parameter(torch.ones(data.num_classes, device=device))
    criterion = LabelAwareSmoothing("MiSLAS", data.class_counts, smooth_head, smooth_tail, shape).to(device)
    optimizer = torch.optim.SGD([{"params": network.classifier.parameters(), "lr": lr_factor * lr},
                                 {"params": [scales], "lr": lr}],
                                lr=lr, momentum=momentum, weight_decay=weight_decay)
    cosine = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: (1 + math.cos(math.pi * e / epochs)) / 2)
    labels = data.train.labels
    sampler = SAMPLERS.build("class_aware", labels=labels, num_classes=data.num_classes,
                             seed=derive_seed(seed, "mislas-sampler"), k=4, num_samples=len(labels))
    augment_seed = derive_seed(seed, "stage2")
    for epoch in range(epochs):
        _batch_norm_train_mode(network, shift_bn)
        for x, y in backbone.source.batches(sampler, augment_seed, "mislas", epoch, batch_size, World()):
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16,
                                                 enabled=backbone.precision == "bf16"):
                features = network.features(x)
            loss = criterion(scales * network.classifier(features.float()), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        cosine.step()
    return ShiftedNetwork(network.eval(), scales).eval()


@TWO_STAGE.register("MiSLAS")
@passes_training_set("every epoch")
def _mislas(backbone: FrozenBackbone, seed: int, epochs: int = 10, lr: float = 0.1,
            lr_factor: float = 0.2, smooth_head: float = 0.4, smooth_tail: float = 0.1,
            shape: str = "concave", shift_bn: bool = True, momentum: float = 0.9,
            weight_decay: float = 2e-4) -> tuple[nn.Module, dict]:
    head = mislas_stage2(backbone, seed, epochs, lr, lr_factor, smooth_head, smooth_tail, shape,
                         shift_bn, momentum, weight_decay)
    epsilons = label_aware_epsilons(backbone.data.class_counts, smooth_head, smooth_tail, shape, "MiSLAS")
    info = {"epochs": epochs, "lr": lr, "lr_factor": lr_factor, "smooth_head": smooth_head,
            "smooth_tail": smooth_tail, "shape": shape, "shift_bn": shift_bn, "momentum": momentum,
            "weight_decay": weight_decay, "epsilons": epsilons,
            "scales": head.scales.detach().tolist(), "evaluate_on": "images"}
    return head, info
