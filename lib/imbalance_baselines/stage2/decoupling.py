"""Two-stage (decoupled) methods on a frozen backbone: cRT, tau-normalisation, LWS (Kang et al. 2020,
"Decoupling Representation and Classifier for Long-Tailed Recognition", Sec. 4.2).

Stage 1 is any trained network (normally CE with instance-balanced sampling). Stage 2 freezes it in
evaluation mode, so BatchNorm statistics never change (TailCalibX's frozen networks kept updating
them, SPEC 9), and works on its pooled features:

- cRT: re-initialise the linear classifier and train it with class-balanced sampling (Eq. 1, q = 0).
  Training features are re-extracted every epoch with fresh training augmentation.
- tau-normalisation: w_c <- w_c / ||w_c||^tau (Sec. 4.2, Eq. 3); tau is chosen on the validation
  split (balanced accuracy), never on the test set.
- LWS: learn one scale f_c per class on top of the frozen classifier, logits_c = f_c (w_c x + b_c),
  with class-balanced sampling.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from ..data.bundle import LongTailedData
from ..evaluate import balanced_accuracy
from ..registry import Registry
from ..samplers import SAMPLERS
from ..train.seeding import derive_seed
from ..train.sources import FileListData, make_source


@dataclass
class FrozenBackbone:
    """A trained network used only as a feature extractor: evaluation mode, no gradients, never
    updated (weights and BatchNorm statistics stay as stage 1 left them)."""

    model: nn.Module
    data: LongTailedData | FileListData
    device: str = "cpu"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        self.model = self.model.to(self.device).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.source = make_source(self.data, torch.device(self.device), channels_last=False)

    def train_features(self, epoch: int, seed: int) -> Tensor:
        """Pooled training features [N, D] with epoch ``epoch``'s fresh training augmentation."""
        return self.source.map(self.model.features, "train", self.precision,
                               augment_seed=derive_seed(seed, "stage2"), epoch=epoch)

    def features(self, split: str) -> Tensor:
        """Pooled features [N, D] of the un-augmented ``split`` ("train", "val" or "test")."""
        return self.source.map(self.model.features, split, self.precision)


class ScaledClassifier(nn.Module):
    """LWS: the frozen linear classifier with a learnable scale per class."""

    def __init__(self, classifier: nn.Linear) -> None:
        super().__init__()
        self.classifier = copy.deepcopy(classifier).requires_grad_(False)
        self.scales = nn.Parameter(torch.ones(classifier.out_features))

    def forward(self, x: Tensor) -> Tensor:
        return self.scales * self.classifier(x)


def tau_normalized(classifier: nn.Linear, tau: float) -> nn.Linear:
    """A copy with w_c / ||w_c||^tau (bias kept); tau = 0 is the identity."""
    if tau < 0:
        raise ValueError(f"tau={tau} is out of range; allowed: tau >= 0")
    scaled = copy.deepcopy(classifier)
    with torch.no_grad():
        norms = classifier.weight.norm(dim=1, keepdim=True)
        scaled.weight.copy_(classifier.weight / norms.pow(tau))
    return scaled


def rank_correlation(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (Pearson correlation of the ranks; ties take their mean rank)."""
    def ranks(values: Sequence[float]) -> Tensor:
        x = torch.as_tensor(values, dtype=torch.float64)
        return torch.stack([(x < v).sum() + ((x == v).sum() - 1) / 2 for v in x]).double()
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def explain_tau(tau: float, norms: Sequence[float], class_counts: Sequence[int]) -> str:
    """One sentence on the chosen tau and whether the stage-1 weight norms grow with class size, the
    premise of tau-normalisation (Kang et al. 2020, Fig. 2)."""
    rho = rank_correlation(norms, class_counts)
    premise = ("grow with class size" if rho >= 0.5 else
               "do not clearly grow with class size")
    effect = "leaves the classifier unchanged" if tau == 0 else f"divides each w_c by ||w_c||^{tau:g}"
    return (f"Validation chose tau = {tau:g}, which {effect}. The stage-1 weight norms {premise} "
            f"(Spearman rank correlation with the training counts: {rho:+.2f}).")


def choose_tau(classifier: nn.Linear, val_features: Tensor, val_labels: Tensor,
               grid: Sequence[float] = tuple(i / 10 for i in range(0, 21))) -> tuple[float, dict[float, float]]:
    """The tau of ``grid`` with the best validation balanced accuracy (first on ties), and all scores."""
    scores = {}
    with torch.no_grad():
        for tau in grid:
            logits = tau_normalized(classifier, tau)(val_features)
            scores[tau] = balanced_accuracy(logits.argmax(1), val_labels, logits.shape[1])
    best = max(scores, key=lambda tau: (scores[tau], -tau))
    return best, scores


def train_classifier(head: nn.Module, epoch_data: Callable[[int], tuple[Tensor, Tensor]],
                     epochs: int, lr: float, seed: int, batch_size: int = 128, momentum: float = 0.9,
                     weight_decay: float = 5e-4, sampler: str = "class_balanced",
                     schedule: str = "cosine") -> nn.Module:
    """Train ``head`` on features: ``epoch_data(epoch)`` gives that epoch's (features, labels), drawn
    with ``sampler`` (class-balanced by default, Kang et al.'s stage 2) and SGD with a cosine (or
    "constant") learning rate. Only ``head``'s trainable parameters change."""
    parameters = [p for p in head.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(parameters, lr=lr, momentum=momentum, weight_decay=weight_decay)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    head.train()
    for epoch in range(epochs):
        features, labels = epoch_data(epoch)
        draw = SAMPLERS.build(sampler, labels=labels, num_classes=int(labels.max()) + 1,
                              seed=derive_seed(seed, "stage2-sampler"))
        for batch in draw.indices(epoch).split(batch_size):
            loss = nn.functional.cross_entropy(head(features[batch]), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if schedule == "cosine":
            cosine.step()
    return head.eval()


def classifier_retraining(backbone: FrozenBackbone, epochs: int = 10, lr: float = 0.1,
                          seed: int = 0) -> nn.Linear:
    """cRT: a freshly initialised linear classifier trained with class-balanced sampling."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "crt-init"))
        head = nn.Linear(backbone.model.feature_dim, backbone.data.num_classes)
    labels = backbone.data.train.labels
    return train_classifier(head, lambda epoch: (backbone.train_features(epoch, seed), labels),
                            epochs, lr, seed)


def learnable_weight_scaling(backbone: FrozenBackbone, epochs: int = 10, lr: float = 0.1,
                             seed: int = 0) -> ScaledClassifier:
    """LWS: per-class scales on the frozen stage-1 classifier, class-balanced sampling."""
    head = ScaledClassifier(backbone.model.classifier)
    labels = backbone.data.train.labels
    return train_classifier(head, lambda epoch: (backbone.train_features(epoch, seed), labels),
                            epochs, lr, seed, weight_decay=0.0)


# Stage-2 methods by name: ``TWO_STAGE.get(name)(backbone, seed, **params) -> (head, info)`` where
# ``head`` maps features to logits and ``info`` records what was chosen (e.g. tau). Each is marked
# with ``passes_training_set``, which the images-seen budget counts (``checks.training_passes``).
TWO_STAGE = Registry("two-stage method")
PASS_RULES = ("every epoch", "once", "never")
T = TypeVar("T", bound=Callable[..., Any])


def passes_training_set(rule: str) -> Callable[[T], T]:
    """Mark a stage-2 method with how often it passes the training set through the network: "every
    epoch" (it re-extracts augmented features or re-trains through the network each epoch), "once"
    (it extracts the features once) or "never" (it only rescales the classifier's weights)."""
    if rule not in PASS_RULES:
        raise ValueError(f"passes_training_set({rule!r}); allowed: {', '.join(PASS_RULES)}")

    def mark(method: T) -> T:
        method.passes_training_set = rule  # type: ignore[attr-defined]
        return method

    return mark


@TWO_STAGE.register("cRT")
@passes_training_set("every epoch")
def _crt(backbone: FrozenBackbone, seed: int, epochs: int = 10, lr: float = 0.1) -> tuple[nn.Module, dict]:
    return classifier_retraining(backbone, epochs, lr, seed), {"epochs": epochs, "lr": lr}


@TWO_STAGE.register("tau-norm")
@passes_training_set("never")
def _tau_norm(backbone: FrozenBackbone, seed: int,
              grid: Sequence[float] = tuple(i / 10 for i in range(0, 21))) -> tuple[nn.Module, dict]:
    if backbone.data.val is None:
        raise ValueError("tau-norm: the dataset has no validation split (val_per_class=0); tau is "
                         "chosen on validation images, never on the test set")
    classifier = backbone.model.classifier
    tau, scores = choose_tau(classifier, backbone.features("val"), backbone.data.val.labels, grid)
    return tau_normalized(classifier, tau), {"tau": tau, "val_balanced_accuracy": scores}


@TWO_STAGE.register("LWS")
@passes_training_set("every epoch")
def _lws(backbone: FrozenBackbone, seed: int, epochs: int = 10, lr: float = 0.1) -> tuple[nn.Module, dict]:
    head = learnable_weight_scaling(backbone, epochs, lr, seed)
    return head, {"epochs": epochs, "lr": lr, "scales": head.scales.detach().tolist()}
