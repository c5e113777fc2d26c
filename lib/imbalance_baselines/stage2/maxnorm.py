"""Weight balancing's second stage: the classifier re-trained with a class-balanced loss, weight
decay and a MaxNorm constraint (Alshammari, Wang, Ramanan, Kong, "Long-Tailed Recognition via
Weight Balancing", CVPR 2022, Sec. 3: MaxNorm by projected gradient descent, two-stage training;
ShadeAlsha/LTR-weight-balancing, ``demo2_second-stage-training.ipynb``, ``utils/regularizers.py``).

MaxNorm keeps every class vector in a ball, ||w_c||_2 <= radius, by projected gradient descent:
after an update, a row outside the ball is rescaled onto its surface, a row inside is left as it is.
The code sets the radius relative to the stage-1 classifier's row norms, radius = min_c ||w_c|| +
threshold * (max_c ||w_c|| - min_c ||w_c||) with threshold = 0.1, and leaves the bias unconstrained.

The stage-2 method (``TWO_STAGE`` "MaxNorm"), with the code's CIFAR-100-LT IF 100 values: the
stage-1 linear classifier (weight and bias, not re-initialised) is trained on frozen features for 10
epochs, instance sampling (the class-balanced loss does the balancing), batch 64, SGD lr 0.01 with
momentum 0.9 and cosine decay, weight decay 0.1 on weight and bias; loss: the code's class-balanced
"softmax" loss, taken from a third-party port of Cui et al. (``utils/class_balanced_loss.py``):
binary cross-entropy of the softmax probabilities against the one-hot label, averaged over the B x C
entries, entry (i, c) weighted by w_{y_i} (class-balanced weights, beta = 0.9999, summing to C).
``loss="cb_ce"`` is Cui et al.'s own softmax form instead, sum_i w_{y_i} CE_i / B (SPEC 3).

Deviations from the code, each with its reason: the projection follows every SGD step (the code
projects once per epoch, after its last step; both end inside the ball, every step is the paper's
PGD); the backbone stays in evaluation mode (the code trains the classifier with the whole network
in training mode, so frozen BatchNorm statistics kept moving, the defect SPEC 9 lists for
TailCalibX); epoch e uses the cosine rate of step e (the code steps its scheduler before each
epoch, so its first epoch runs at the second rate and its last at 0); the head of the final epoch is
returned (the code keeps the best test epoch).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from ..losses.checks import check_choice, check_number
from ..losses.weights import class_balanced_weights
from ..samplers import SAMPLERS
from ..train.seeding import derive_seed
from .decoupling import TWO_STAGE, FrozenBackbone, passes_training_set

STAGE2_LOSSES = ("cb_softmax_bce", "cb_ce")


class MaxNorm:
    """Projection of each row of a linear layer's weight onto the ball of radius ``threshold``."""

    def __init__(self, threshold: float) -> None:
        self.threshold = check_number("MaxNorm", "threshold", threshold, minimum=0, min_open=True)

    @torch.no_grad()
    def __call__(self, layer: nn.Linear) -> None:
        """w_c <- w_c * threshold / ||w_c|| where ||w_c|| > threshold; other rows unchanged."""
        weight = layer.weight
        norms = weight.norm(dim=1, keepdim=True)
        weight.copy_(torch.where(norms > self.threshold, weight * (self.threshold / norms), weight))

    def after_every_step(self, optimizer: torch.optim.Optimizer, layer: nn.Linear) -> RemovableHandle:
        """Project ``layer`` after each ``optimizer.step()`` (projected gradient descent)."""
        return optimizer.register_step_post_hook(lambda *_: self(layer))


def relative_radius(weight: Tensor, threshold: float) -> float:
    """min_c ||w_c|| + threshold * (max_c ||w_c|| - min_c ||w_c||): the code's per-layer radius."""
    threshold = check_number("MaxNorm", "threshold", threshold, minimum=0, min_open=True)
    norms = weight.detach().norm(dim=1)
    return float(norms.min() + threshold * (norms.max() - norms.min()))


def class_balanced_loss(logits: Tensor, target: Tensor, weights: Tensor, form: str) -> Tensor:
    """The class-balanced loss of ``form`` (module docstring) with per-class ``weights`` [C]."""
    w = weights[target]
    if form == "cb_ce":
        return (w * F.cross_entropy(logits, target, reduction="none")).mean()
    one_hot = F.one_hot(target, logits.shape[1]).to(logits.dtype)
    entries = F.binary_cross_entropy(logits.softmax(dim=1), one_hot, reduction="none")
    return (w.unsqueeze(1) * entries).mean()


@TWO_STAGE.register("MaxNorm")
@passes_training_set("every epoch")
def maxnorm_method(backbone: FrozenBackbone, seed: int, epochs: int = 10, lr: float = 0.01,
                   weight_decay: float = 0.1, threshold: float = 0.1, beta: float = 0.9999,
                   loss: str = "cb_softmax_bce") -> tuple[nn.Module, dict]:
    """Weight balancing's stage 2 on the stage-1 linear classifier (module docstring)."""
    loss = check_choice("MaxNorm", "loss", loss, STAGE2_LOSSES)
    classifier = backbone.model.classifier
    if type(classifier) is not nn.Linear:
        raise ValueError(f"MaxNorm: the stage-1 classifier is {type(classifier).__name__}; allowed: "
                         f"nn.Linear (a linear head; a cosine head's norms are already balanced)")
    head = copy.deepcopy(classifier).requires_grad_(True).train()
    radius = relative_radius(head.weight, threshold)
    constraint = MaxNorm(radius)
    labels = backbone.data.train.labels
    weights = class_balanced_weights(backbone.data.class_counts, beta).to(head.weight.device)
    optimizer = torch.optim.SGD(head.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    constraint.after_every_step(optimizer, head)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    draw = SAMPLERS.build("instance", labels=labels, num_classes=backbone.data.num_classes,
                          seed=derive_seed(seed, "maxnorm-sampler"))
    for epoch in range(epochs):
        features = backbone.train_features(epoch, seed)
        targets = labels.to(features.device)
        for batch in draw.indices(epoch).split(64):
            value = class_balanced_loss(head(features[batch]), targets[batch], weights, loss)
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
        cosine.step()
    info = {"epochs": epochs, "lr": lr, "weight_decay": weight_decay, "threshold": threshold,
            "radius": radius, "beta": beta, "loss": loss,
            "weight_norms": head.weight.detach().norm(dim=1).tolist()}
    return head.eval(), info
