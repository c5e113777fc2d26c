"""Input and manifold mix-up with one (lambda, permutation) pair for features and labels.

Zhang et al. 2018, mixup: Beyond Empirical Risk Minimization, Sec. 2: x~ = lam x + (1 - lam) x[pi],
loss lam L(f(x~), y) + (1 - lam) L(f(x~), y[pi]), lam ~ Beta(alpha, alpha). Verma et al. 2019,
Manifold Mixup: Better Representations by Interpolating Hidden States, Sec. 2: the same mixing of
a hidden representation. He et al. 2019, Data Augmentation Revisited: Rethinking the Distribution
Gap between Clean and Augmented Data: fine-tune the last epochs without mixing (``stop_epoch``).

The training engine calls, per batch::

    pair = mix.draw(batch_size, generator, device)
    logits = model(x, mix.point, lambda h: mix.mix(h, pair))
    loss = mix.mixed_loss(loss_fn, logits, target, pair)

so the pair that mixes the features is, by construction, the pair that mixes the labels (the
seed code drew a second one for the labels, SPEC section 9).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .base import Loss
from .checks import check_choice, check_number

#: Where ResNet-32 can mix: the input, after the stem, after each residual stage, or the pooled
#: 64-d feature ("pool", Bag of Tricks' default for manifold mix-up).
MIX_POINTS = ("input", "stem", "stage1", "stage2", "stage3", "pool")


@dataclass(frozen=True)
class MixPair:
    """One mixing draw: weight ``lam`` of the batch itself and the partner permutation ``perm``."""

    lam: float
    perm: Tensor


class MixUp:
    """Mix-up at ``point`` with lam ~ Beta(alpha, alpha), off from ``stop_epoch`` on (if given)."""

    def __init__(self, alpha: float = 1.0, point: str = "input", stop_epoch: int | None = None) -> None:
        self.alpha = check_number("mixup", "alpha", alpha, minimum=0, min_open=True)
        self.point = check_choice("mixup", "point", point, MIX_POINTS)
        self.stop_epoch = None if stop_epoch is None else check_number(
            "mixup", "stop_epoch", stop_epoch, minimum=0, integer=True)
        self.epoch = 0

    def mixes_at(self, epoch: int) -> bool:
        """Whether batches are mixed at ``epoch`` (0-based)."""
        return self.stop_epoch is None or epoch < self.stop_epoch

    def set_epoch(self, epoch: int) -> None:
        """Tell mix-up the epoch about to start."""
        self.epoch = epoch

    @property
    def active(self) -> bool:
        """Whether the current epoch mixes."""
        return self.mixes_at(self.epoch)

    def phase_key(self, epoch: int) -> str:
        """What mix-up does at ``epoch``: ``"off"`` when it does not mix."""
        return f"mixup(alpha={self.alpha!r},point={self.point})" if self.mixes_at(epoch) else "off"

    def draw(self, batch_size: int, generator: torch.Generator,
             device: torch.device | str | None = None) -> MixPair:
        """Draw lam and the permutation from the CPU ``generator``; a pure function of its state.

        torch has no Beta sampler that takes a generator, so lam comes from numpy: a 63-bit seed is
        drawn from ``generator`` (``torch.randint``) and seeds a ``numpy.random.Generator`` (PCG64)
        whose ``beta(alpha, alpha)`` gives lam. The permutation is ``torch.randperm`` with the same
        generator, on the CPU, then moved to ``device``: the pair does not depend on the device.
        """
        batch_size = check_number("mixup", "batch_size", batch_size, minimum=1, integer=True)
        if generator.device.type != "cpu":
            raise ValueError(f"mixup: generator on {generator.device}; allowed: a CPU torch.Generator")
        seed = int(torch.randint(0, 2**63 - 1, (), generator=generator))
        lam = float(np.random.default_rng(seed).beta(self.alpha, self.alpha))
        perm = torch.randperm(batch_size, generator=generator).to(device)
        return MixPair(lam, perm)

    def mix(self, h: Tensor, pair: MixPair) -> Tensor:
        """lam * h + (1 - lam) * h[perm] along the batch (first) dimension, any trailing shape."""
        return pair.lam * h + (1.0 - pair.lam) * h[pair.perm.to(h.device)]

    def mixed_loss(self, loss: Loss, logits: Tensor, target: Tensor, pair: MixPair) -> Tensor:
        """lam * loss(logits, y) + (1 - lam) * loss(logits, y[perm]): the labels mixed like the features."""
        return pair.lam * loss(logits, target) + (1.0 - pair.lam) * loss(
            logits, target[pair.perm.to(target.device)])
