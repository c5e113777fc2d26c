"""CutMix and Remix, drop-in for ``MixUp`` in the training engine (``draw``, ``mix``, ``mixed_loss``,
``set_epoch``, ``phase_key``, ``active``, ``point``).

CutMix (Yun et al. 2019, "CutMix: Regularization Strategy to Train Strong Classifiers with
Localizable Features", Sec. 3.1, Eq. 1-2): lam ~ Beta(alpha, alpha) (alpha = 1); a box of side
int(H sqrt(1 - lam)) x int(W sqrt(1 - lam)) at a centre uniform over the pixels, clipped at the
border, rows clip(r - h // 2) to clip(r + h // 2) as in the authors' ``rand_bbox``
(clovaai/CutMix-PyTorch ``train.py``); inside it each image takes its partner's pixels, and lam
becomes the exact fraction of the image left unmixed, 1 - box area / (H W), which weighs the labels.
The authors' CIFAR command mixes a batch with probability ``prob`` = 0.5 (``--cutmix_prob 0.5``;
1.0 for ImageNet); an unmixed batch has lam = 1 and an empty box.

Remix (Chou et al. 2020, "Remix: Rebalanced Mixup", ECCV 2020 workshops, Sec. 3, Eq. 10): the inputs
are mixed as by its ``mixer`` (mix-up, or CutMix) with weight lam on x_i, but the label weight of
sample i with partner j (counts n_i, n_j) is

    lam_y = 0    if n_i / n_j >= kappa and lam < tau,
    lam_y = 1    if n_i / n_j <= 1 / kappa and 1 - lam < tau,
    lam_y = lam  otherwise,

so a mix whose minority share passes 1 - tau takes the minority label whole. kappa = 3, tau = 0.5,
the values of the paper's experiments (zhangyongshun/BagofTricks-LT ``lib/core/combiner.py``
``remix`` applies the same rule). Where both cases hold at once (only kappa = 1, n_i = n_j,
tau > 1/2), the first, as listed, applies.

Remix's loss is the mix-up loss with relabelled targets: lam L(z, a) + (1 - lam) L(z, b), a = y_j
where lam_y = 0 (else y_i), b = y_i where lam_y = 1 (else y_j). Per sample this is
lam_y l(z_i, y_i) + (1 - lam_y) l(z_i, y_j), and it goes through each loss's own ``forward``, so
class weights (each sample weighted by the class it is scored against) and DRW's switch apply as
they do for mix-up.

Build one from a run's ``mixup`` parameters with ``build_mixer(params, class_counts)``: ``{"kind":
"cutmix", "alpha": 1.0}``, ``{"kind": "remix", "kappa": 3, "tau": 0.5, "mixer": {"kind": "mixup"}}``;
no ``kind`` is mix-up, so existing parameters keep their meaning.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from ..registry import Registry
from .base import Loss, counts_digest
from .checks import check_counts, check_number
from .mixup import MixPair, MixUp


class Mixer(Protocol):
    """What the training engine calls on a run's mixing (``MixUp``, ``CutMix``, ``Remix``)."""

    point: str

    @property
    def active(self) -> bool: ...

    def set_epoch(self, epoch: int) -> None: ...

    def phase_key(self, epoch: int) -> str: ...

    def draw(self, batch_size: int, generator: torch.Generator,
             device: torch.device | str | None = None) -> MixPair: ...

    def mix(self, h: Tensor, pair: MixPair) -> Tensor: ...

    def mixed_loss(self, loss: Loss, logits: Tensor, target: Tensor, pair: MixPair) -> Tensor: ...


@dataclass(frozen=True)
class CutPair(MixPair):
    """A CutMix draw: ``lam`` is the exact unmixed fraction; ``box`` = (top, left, bottom, right),
    bottom and right exclusive, empty for an unmixed batch."""

    box: tuple[int, int, int, int]


class CutMix(MixUp):
    """CutMix of input images of ``image_size`` (H, W), with probability ``prob`` per batch."""

    def __init__(self, alpha: float = 1.0, prob: float = 0.5, image_size: Sequence[int] = (32, 32),
                 stop_epoch: int | None = None) -> None:
        super().__init__(alpha, "input", stop_epoch)
        self.prob = check_number("cutmix", "prob", prob, minimum=0, maximum=1)
        if len(image_size) != 2:
            raise ValueError(f"cutmix: image_size={tuple(image_size)!r}; allowed: (H, W), both >= 1")
        self.image_size = tuple(check_number("cutmix", "image_size", s, minimum=1, integer=True)
                                for s in image_size)

    def phase_key(self, epoch: int) -> str:
        if not self.mixes_at(epoch):
            return "off"
        return f"cutmix(alpha={self.alpha!r},prob={self.prob!r},size={list(self.image_size)})"

    def draw(self, batch_size: int, generator: torch.Generator,
             device: torch.device | str | None = None) -> CutPair:
        """Whether to mix, lam, the permutation and the box centre, all from the CPU ``generator``
        (the same number of draws whether the batch is mixed or not); lam from numpy's Beta seeded
        from the generator, as ``MixUp.draw``."""
        batch_size = check_number("cutmix", "batch_size", batch_size, minimum=1, integer=True)
        if generator.device.type != "cpu":
            raise ValueError(f"cutmix: generator on {generator.device}; allowed: a CPU torch.Generator")
        mixes = float(torch.rand((), generator=generator, dtype=torch.float64)) < self.prob
        seed = int(torch.randint(0, 2**63 - 1, (), generator=generator))
        lam = float(np.random.default_rng(seed).beta(self.alpha, self.alpha))
        perm = torch.randperm(batch_size, generator=generator).to(device)
        height, width = self.image_size
        row = int(torch.randint(0, height, (), generator=generator))
        col = int(torch.randint(0, width, (), generator=generator))
        if not mixes:
            return CutPair(1.0, perm, (0, 0, 0, 0))
        box = cut_box(lam, (row, col), self.image_size)
        area = (box[2] - box[0]) * (box[3] - box[1])
        return CutPair(1.0 - area / (height * width), perm, box)

    def mix(self, h: Tensor, pair: MixPair) -> Tensor:
        """``h`` [B, C, H, W] with each image's box replaced by its partner's (``pair`` a CutPair)."""
        if not isinstance(pair, CutPair):
            raise ValueError(f"cutmix: pair of type {type(pair).__name__}; allowed: the CutPair from "
                             f"CutMix.draw (copy it with dataclasses.replace, not MixPair(lam, perm))")
        if tuple(h.shape[-2:]) != self.image_size:
            raise ValueError(f"cutmix: images of size {tuple(h.shape[-2:])}; allowed: image_size="
                             f"{self.image_size}")
        top, left, bottom, right = pair.box
        if bottom <= top or right <= left:
            return h
        mixed = h.clone()
        mixed[..., top:bottom, left:right] = h[..., top:bottom, left:right][pair.perm.to(h.device)]
        return mixed

    def mixed_loss(self, loss: Loss, logits: Tensor, target: Tensor, pair: MixPair) -> Tensor:
        """As mix-up's with the box-area lam; an unmixed batch (lam = 1) is the plain loss."""
        if pair.lam == 1.0:
            return loss(logits, target)
        return super().mixed_loss(loss, logits, target, pair)


def cut_box(lam: float, centre: tuple[int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """CutMix's box (top, left, bottom, right) for weight ``lam`` around ``centre`` (row, column):
    sides int(H sqrt(1 - lam)), int(W sqrt(1 - lam)), half a side each way, clipped to the image."""
    height, width = size
    cut_h, cut_w = int(height * math.sqrt(1.0 - lam)), int(width * math.sqrt(1.0 - lam))
    row, col = centre
    return (min(max(row - cut_h // 2, 0), height), min(max(col - cut_w // 2, 0), width),
            min(max(row + cut_h // 2, 0), height), min(max(col + cut_w // 2, 0), width))


class Remix:
    """Remix's label rule (``kappa``, ``tau``) on the inputs mixed by ``mixer`` (mix-up by default)."""

    def __init__(self, class_counts: Sequence[int], kappa: float = 3.0, tau: float = 0.5,
                 mixer: MixUp | None = None) -> None:
        self.class_counts = check_counts("remix", class_counts)
        self.kappa = check_number("remix", "kappa", kappa, minimum=1)
        self.tau = check_number("remix", "tau", tau, minimum=0, maximum=1)
        self.mixer = mixer if mixer is not None else MixUp(alpha=1.0)
        self.counts = torch.tensor(self.class_counts, dtype=torch.float32)

    @property
    def point(self) -> str:
        return self.mixer.point

    @property
    def active(self) -> bool:
        return self.mixer.active

    def set_epoch(self, epoch: int) -> None:
        self.mixer.set_epoch(epoch)

    def phase_key(self, epoch: int) -> str:
        inner = self.mixer.phase_key(epoch)
        if inner == "off":
            return "off"
        return (f"remix(kappa={self.kappa!r},tau={self.tau!r},"
                f"counts={counts_digest(self.class_counts)})+{inner}")

    def draw(self, batch_size: int, generator: torch.Generator,
             device: torch.device | str | None = None) -> MixPair:
        return self.mixer.draw(batch_size, generator, device)

    def mix(self, h: Tensor, pair: MixPair) -> Tensor:
        return self.mixer.mix(h, pair)

    def branches(self, lam: float, target: Tensor, partner: Tensor) -> tuple[Tensor, Tensor]:
        """Boolean [B] masks: label weight 0 (the partner's label), label weight 1 (its own)."""
        if self.counts.device != target.device:  # moved once, not copied every step
            self.counts = self.counts.to(target.device)
        n_i, n_j = self.counts[target], self.counts[partner]
        to_partner = (n_i >= self.kappa * n_j) & (lam < self.tau)
        to_self = (self.kappa * n_i <= n_j) & (1.0 - lam < self.tau) & ~to_partner
        return to_partner, to_self

    def label_weights(self, lam: float, target: Tensor, partner: Tensor) -> Tensor:
        """lam_y [B] (float32) of Eq. 10 for labels ``target`` mixed with weight ``lam`` with ``partner``."""
        to_partner, to_self = self.branches(lam, target, partner)
        weights = torch.full(target.shape, lam, dtype=torch.float32, device=target.device)
        return weights.masked_fill(to_partner, 0.0).masked_fill(to_self, 1.0)

    def mixed_loss(self, loss: Loss, logits: Tensor, target: Tensor, pair: MixPair) -> Tensor:
        """lam L(z, a) + (1 - lam) L(z, b) with Remix's relabelled a, b (module docstring)."""
        partner = target[pair.perm.to(target.device)]
        to_partner, to_self = self.branches(pair.lam, target, partner)
        first = torch.where(to_partner, partner, target)
        second = torch.where(to_self, target, partner)
        return pair.lam * loss(logits, first) + (1.0 - pair.lam) * loss(logits, second)


# Mixers by kind; every factory takes the training counts (Remix needs them) and its parameters.
MIXERS = Registry("mixer")


@MIXERS.register("mixup")
def _mixup(*, class_counts: Sequence[int], alpha: float = 1.0, point: str = "input",
           stop_epoch: int | None = None) -> MixUp:
    return MixUp(alpha, point, stop_epoch)


@MIXERS.register("cutmix")
def _cutmix(*, class_counts: Sequence[int], alpha: float = 1.0, prob: float = 0.5,
            image_size: Sequence[int] = (32, 32), stop_epoch: int | None = None) -> CutMix:
    return CutMix(alpha, prob, image_size, stop_epoch)


@MIXERS.register("remix")
def _remix(*, class_counts: Sequence[int], kappa: float = 3.0, tau: float = 0.5,
           mixer: Mapping[str, Any] | None = None) -> Remix:
    inner = build_mixer(mixer if mixer is not None else {"kind": "mixup"}, class_counts)
    if isinstance(inner, Remix):
        raise ValueError("remix: mixer of kind 'remix'; allowed: a mixer of kind 'mixup' or 'cutmix'")
    return Remix(class_counts, kappa, tau, inner)


def build_mixer(params: Mapping[str, Any], class_counts: Sequence[int]) -> Mixer:
    """The mixer of a run's ``mixup`` parameters: ``kind`` (default "mixup") and its arguments."""
    arguments = {k: v for k, v in params.items() if k != "kind"}
    return MIXERS.build(params.get("kind", "mixup"), class_counts=class_counts, **arguments)
