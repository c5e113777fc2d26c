"""TailCalib and TailCalibX as two-stage methods on a frozen backbone (Vigneswaran et al. 2021,
"Feature Generation for Long-tail Classification", SPEC 6).

TailCalib: L2-normalised training features (with training augmentation) are balanced once by
calibrated feature generation (``tailcalib.TailCalib.generate``), then only the classifier is
trained on the balanced set, starting from the stage-1 classifier (not re-initialised), with a
constant learning rate, instance sampling over the balanced set. TailCalibX: the same, but every
epoch extracts fresh augmented features and generates a fresh balanced set (the paper's "X").
Validation and test features go through the same path as the real training features:
L2-normalise, then the Tukey transform (``convert_others``).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from .decoupling import TWO_STAGE, FrozenBackbone, passes_training_set, train_classifier
from ..tailcalib import TailCalib, l2_normalize
from ..train.seeding import derive_seed


class TukeyHead(nn.Module):
    """Classifier on features that are L2-normalised and Tukey-transformed first (test time)."""

    def __init__(self, classifier: nn.Module, tukey_value: float) -> None:
        super().__init__()
        self.classifier = classifier
        self.tukey_value = tukey_value

    def forward(self, features: Tensor) -> Tensor:
        converted = TailCalib("pytorch").convert_others(l2_normalize(features), self.tukey_value)
        return self.classifier(converted.to(features.dtype))


def _balanced(backbone: FrozenBackbone, epoch: int, seed: int, tukey_value: float, alpha: float,
              topk: int) -> tuple[Tensor, Tensor]:
    features = l2_normalize(backbone.train_features(epoch, seed))
    generated, labels, _ = TailCalib("pytorch").generate(
        features, backbone.data.train.labels, tukey_value=tukey_value, alpha=alpha, topk=topk,
        shuffle=False, seed=derive_seed(seed, epoch, "tailcalib"))
    return generated.float(), labels.long()


def _feature_generation(backbone: FrozenBackbone, seed: int, regenerate: bool, tukey_value: float,
                        alpha: float, topk: int, epochs: int, lr: float,
                        momentum: float) -> tuple[nn.Module, dict]:
    classifier = copy.deepcopy(backbone.model.classifier).requires_grad_(True)
    fixed = None if regenerate else _balanced(backbone, 0, seed, tukey_value, alpha, topk)

    def epoch_data(epoch: int) -> tuple[Tensor, Tensor]:
        return _balanced(backbone, epoch, seed, tukey_value, alpha, topk) if regenerate else fixed

    train_classifier(classifier, epoch_data, epochs, lr, seed, momentum=momentum,
                     sampler="instance", schedule="constant")
    info = {"tukey_value": tukey_value, "alpha": alpha, "topk": topk, "epochs": epochs, "lr": lr,
            "momentum": momentum, "regenerate_every_epoch": regenerate}
    return TukeyHead(classifier, tukey_value).eval(), info


@TWO_STAGE.register("TailCalib")
@passes_training_set("once")
def tailcalib_method(backbone: FrozenBackbone, seed: int, tukey_value: float = 1.0, alpha: float = 0.0,
                     topk: int = 3, epochs: int = 150, lr: float = 0.01,
                     momentum: float = 0.7) -> tuple[nn.Module, dict]:
    """Defaults: the paper's CIFAR-100-LT IF 100 setting (SPEC 6)."""
    return _feature_generation(backbone, seed, False, tukey_value, alpha, topk, epochs, lr, momentum)


@TWO_STAGE.register("TailCalibX")
@passes_training_set("every epoch")
def tailcalibx_method(backbone: FrozenBackbone, seed: int, tukey_value: float = 1.0, alpha: float = 0.0,
                      topk: int = 3, epochs: int = 150, lr: float = 0.01,
                      momentum: float = 0.7) -> tuple[nn.Module, dict]:
    """TailCalib regenerated every epoch from fresh augmented features."""
    return _feature_generation(backbone, seed, True, tukey_value, alpha, topk, epochs, lr, momentum)


@torch.no_grad()
def generated_features_view(backbone: FrozenBackbone, seed: int = 0, tukey_value: float = 1.0,
                            alpha: float = 0.0, topk: int = 3) -> tuple[Tensor, Tensor, Tensor]:
    """(features, labels, is_generated) of one balanced set, for plots of real vs generated."""
    features, labels = _balanced(backbone, 0, seed, tukey_value, alpha, topk)
    real = len(backbone.data.train)
    is_generated = torch.arange(len(labels)) >= real  # shuffle=False: real rows come first
    return features, labels, is_generated
