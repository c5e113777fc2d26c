"""Losses for long-tailed classification and mix-up (SPEC sections 3 and 4).

Every loss is registered in ``LOSSES`` and built as ``LOSSES.build(name, class_counts=[...],
**params)``; it is a ``Loss`` (an ``nn.Module``) with ``forward(logits, target)``, ``set_epoch``,
``phase_key`` and ``classifier_bias_init``. Registered names and their parameters (defaults):

========================  ===========================================  ==========================
name                      what                                         reduction
========================  ===========================================  ==========================
``ce``                    softmax cross-entropy                        sum / B
``softmax_focal``         softmax focal (gamma=2.0)                    sum / B
``sigmoid_ce``            sigmoid cross-entropy                        sum / B
``focal``                 sigmoid focal, Cui et al.'s form (gamma=2.0)  sum / B
``cb_ce``                 class-balanced CE (beta=0.9999)              weighted sum / B
``cb_sigmoid``            class-balanced sigmoid CE (beta=0.9999)      weighted sum / B
``cb_focal``              class-balanced focal (beta=0.9999, gamma=2)  weighted sum / B
``cost_sensitive_ce``     CE weighted by min n / n_c                   weighted mean
``ldam``                  LDAM (max_margin=0.5, scale=30.0)            sum / B
``balanced_softmax``      CE on z + log prior                          sum / B
``logit_adjusted``        CE on z + tau log prior (tau=1.0)            sum / B
``ce_drw``, ``ldam_drw``  DRW (drw_epoch=160, beta=0.9999)             sum / B, then weighted mean
``label_smoothing_ce``    label smoothing (epsilon=0.1)                sum / B
``label_aware_smoothing`` MiSLAS's (smooth_head=0.4, smooth_tail=0.1)  sum / B
========================  ===========================================  ==========================

Mixing for the engine (``draw``, ``mix``, ``mixed_loss``): ``MixUp``, ``CutMix``, ``Remix``, built
from a run's parameters by ``build_mixer`` (``mixing.MIXERS``).
"""

from . import adjustment, drw, margin, ride, sigmoid, smoothing, softmax  # noqa: F401  (registers the losses)
from .adjustment import LogitAdjusted, posthoc_logit_adjustment
from .base import LOSSES, Loss
from .drw import DeferredReweighting
from .margin import LDAM
from .mixing import MIXERS, CutMix, CutPair, Mixer, Remix, build_mixer
from .mixup import MIX_POINTS, MixPair, MixUp
from .sigmoid import SigmoidFocal
from .smoothing import LabelAwareSmoothing, LabelSmoothingCE, label_aware_epsilons
from .softmax import SoftmaxCrossEntropy, SoftmaxFocal
from .weights import (
    class_balanced_weights,
    cost_sensitive_weights,
    ldam_margins,
    log_prior,
    sigmoid_bias_init,
)

__all__ = [
    "LOSSES", "Loss", "SoftmaxCrossEntropy", "SoftmaxFocal", "SigmoidFocal", "LDAM",
    "LogitAdjusted", "DeferredReweighting", "MixUp", "MixPair", "MIX_POINTS",
    "CutMix", "CutPair", "Remix", "Mixer", "MIXERS", "build_mixer",
    "LabelSmoothingCE", "LabelAwareSmoothing", "label_aware_epsilons",
    "class_balanced_weights", "cost_sensitive_weights", "ldam_margins", "log_prior",
    "posthoc_logit_adjustment", "sigmoid_bias_init",
]
