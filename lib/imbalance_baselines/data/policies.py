"""Stronger augmentation policies as batch transforms on uint8 [B, 3, H, W] tensors.

Applied after the standard crop and flip (``augment.BatchAugment``) and before normalisation, on the
device the batch lives on. Registered in ``AUGMENTATIONS``:

- ``autoaugment_cifar10``: AutoAugment (Cubuk et al. 2019, "AutoAugment: Learning Augmentation
  Strategies from Data", Sec. 3 and appendix Table 7), the CIFAR-10 policy as torchvision ships it:
  one of 25 sub-policies, chosen uniformly per image; each of its two operations is applied with
  its probability, at its magnitude bin (of 10), with a random sign where the operation is signed.
- ``randaugment``: RandAugment (Cubuk et al. 2020, "RandAugment: Practical automated data
  augmentation with a reduced search space", Sec. 3): ``num_ops`` operations drawn uniformly from
  torchvision's 14 (identity included), each at the magnitude bin ``magnitude`` of
  ``num_magnitude_bins`` (31: M in 0..30 as in the paper's Sec. 4.1) with a random sign where signed.
  The scale is torchvision's: bin 30 is each operation's maximum (e.g. 30 degrees of rotation). The
  TensorFlow implementation divides by 10 instead, so one M is stronger there than here
  (tensorflow/tpu issue #614): quote M with its scale.
- ``cutout``: Cutout (DeVries and Taylor 2017, "Improved Regularization of Convolutional Neural
  Networks with Cutout", Sec. 3): one square hole of side ``length`` (the paper: 16 for CIFAR-10, 8
  for CIFAR-100; uoguelph-mlrg/Cutout's README) at a centre drawn uniformly over the pixels, clipped
  at the border (rows clip(r - length // 2) to clip(r + length // 2), as the authors' code), so a hole
  near the border is smaller. The authors cut *after* normalisation, filling 0 there: that is the
  mean pixel. Here the cut is in pixel space, so the hole is filled with the mean the batch is
  normalised with (``fill``: pass the data's ``mean``; the default is the CIFAR-10 constant of
  LDAM-DRW), which normalises to 0 within uint8 rounding (at most 0.5 / 255 / std, about 0.01). A
  fill of black would instead normalise to -mean / std (about -2).

Randomness, as ``BatchAugment``: ``draw(count, generator, size)`` gives parameters for ``count``
positions of an epoch's draw sequence from one CPU ``torch.Generator``; ``apply(images, params)``
applies them. A sample's augmentation then depends on (seed, epoch, position) only, not on the
batch size or the sharding. ``policy(images, generator)`` does both.

AutoAugment and RandAugment use torchvision's own operation table and operations (the private
helpers ``_augmentation_space`` and ``_apply_op`` of ``torchvision.transforms.autoaugment``; read
with torchvision 0.29), so the operations are torchvision's, not a re-implementation. torchvision
draws from the global RNG, one image per call; here the draws come from the generator and images
are batched by operation: every image that draws the same (operation, signed magnitude) at the same
step goes through one call. Measured on this project's 2-core CPU (shared with other jobs, load
4 to 7), one batch of 128 CIFAR images, 12 interleaved trials: with 1 thread (medians) AutoAugment
7,330 img/s batched against 1,720 img/s one image at a time under ``torch.random.fork_rng``, and
RandAugment(2, 9) 8,210 against 1,320; with 2 threads the contention dominates (medians 40 to 100
img/s either way), the best of 12 being 1,960 against 550 and 4,050 against 480. The batched form
is kept; ``make bench BENCH_ARGS="--part augment"`` prints the current figures. The
grouping is computed on the host from the host-resident parameters (keep them there: on a GPU a
device-side ``nonzero`` would synchronise per group); torchvision's ``equalize`` synchronises per
image and channel on a GPU all the same.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import cache

import torch
import torchvision.transforms as T
from torch import Tensor
from torchvision.transforms.autoaugment import AutoAugmentPolicy, _apply_op

from ..losses.checks import check_number
from ..registry import Registry

AUGMENTATIONS = Registry("augmentation")

#: One operation at one signed magnitude, as torchvision's ``_apply_op`` takes it.
Operation = tuple[str, float]

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)


def check_images(owner: str, images: Tensor) -> None:
    """uint8 [B, 3, H, W] or refuse in one line."""
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"{owner}: images of shape {tuple(images.shape)} and dtype {images.dtype}; "
                         f"allowed: uint8 images of shape [B, 3, H, W]")


class Policy(ABC):
    """A batch augmentation: per-position parameters drawn from a generator, applied batch-wise."""

    name: str

    @abstractmethod
    def key(self) -> str:
        """What the policy computes (name and parameters): equal keys, equal augmentation."""

    @abstractmethod
    def draw(self, count: int, generator: torch.Generator, size: tuple[int, int]) -> Tensor:
        """int64 parameters [count, k] on the CPU for ``count`` positions of images of ``size`` (H, W)."""

    @abstractmethod
    def apply(self, images: Tensor, params: Tensor) -> Tensor:
        """uint8 [B, 3, H, W] augmented with ``params`` [B, k] (from ``draw``); a new tensor."""

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        """Augment a uint8 batch, parameters drawn from ``generator``."""
        check_images(self.name, images)
        return self.apply(images, self.draw(images.shape[0], generator, tuple(images.shape[-2:])))


class OperationPolicy(Policy):
    """Policies made of torchvision operations in fixed steps (AutoAugment, RandAugment).

    ``params[:, s]`` is the index, into ``self.operations(size)[s]``, of the operation an image
    gets at step ``s``, or -1 for none. Images are batched by (step, operation).
    """

    @abstractmethod
    def operations(self, size: tuple[int, int]) -> list[list[Operation]]:
        """Per step, the distinct operations an image of ``size`` can get."""

    def apply(self, images: Tensor, params: Tensor) -> Tensor:
        check_images(self.name, images)
        steps = self.operations(tuple(images.shape[-2:]))
        if params.shape != (images.shape[0], len(steps)):
            raise ValueError(f"{self.name}: params of shape {tuple(params.shape)}; allowed: "
                             f"[{images.shape[0]}, {len(steps)}] (one operation index per step)")
        out = images.clone()
        params = params.cpu()
        for step, choices in enumerate(steps):
            indices_of: dict[Operation, list[int]] = {}  # equal operations from different indices
            for index in torch.unique(params[:, step]).tolist():
                if index >= 0:
                    indices_of.setdefault(choices[index], []).append(index)
            for (op_name, magnitude), indices in indices_of.items():
                chosen = torch.nonzero(torch.isin(params[:, step], torch.tensor(indices))).flatten()
                chosen = chosen.to(images.device)
                out[chosen] = _apply_op(out[chosen], op_name, magnitude,
                                        interpolation=T.InterpolationMode.NEAREST, fill=None)
        return out


def _signed(op_name: str, magnitudes: Tensor, signed: bool, bin_: int | None) -> list[Operation]:
    """The operation at magnitude bin ``bin_`` (None: magnitude-free): [+m, -m] if signed, else [m]."""
    magnitude = float(magnitudes[bin_]) if bin_ is not None and magnitudes.ndim > 0 else 0.0
    return [(op_name, magnitude), (op_name, -magnitude)] if signed else [(op_name, magnitude)]


class AutoAugmentCifar10(OperationPolicy):
    """AutoAugment's CIFAR-10 policy (torchvision's table): 25 sub-policies of two operations."""

    name = "autoaugment_cifar10"

    def __init__(self) -> None:
        self.policies = T.AutoAugment(AutoAugmentPolicy.CIFAR10).policies  # [(op, p, bin), (op, p, bin)]

    def key(self) -> str:
        return self.name

    def draw(self, count: int, generator: torch.Generator, size: tuple[int, int]) -> Tensor:
        """Per image: a sub-policy (uniform), per step whether it applies (u <= p) and a sign.

        The index at step s is 2 * sub-policy + sign into ``operations`` (a sign drawn for unsigned
        operations too, which both map to the same operation), -1 where the step does not apply.
        """
        count = check_number(self.name, "count", count, minimum=0, integer=True)
        policy = torch.randint(0, len(self.policies), (count,), generator=generator)
        u = torch.rand(count, 2, generator=generator, dtype=torch.float64)
        sign = torch.randint(0, 2, (count, 2), generator=generator)
        p = torch.tensor([[step[1] for step in sub] for sub in self.policies], dtype=torch.float64)
        return torch.where(u <= p[policy], 2 * policy[:, None] + sign, -1)

    def operations(self, size: tuple[int, int]) -> list[list[Operation]]:
        return _autoaugment_operations(size)


@cache
def _autoaugment_operations(size: tuple[int, int]) -> list[list[Operation]]:
    transform = T.AutoAugment(AutoAugmentPolicy.CIFAR10)
    space = transform._augmentation_space(10, size)
    steps = []
    for step in range(2):
        choices = []
        for sub in transform.policies:
            op_name, _, bin_ = sub[step]
            magnitudes, signed = space[op_name]
            pair = _signed(op_name, magnitudes, signed, bin_)
            choices += pair if signed else pair * 2  # index 2 * sub-policy + sign
        steps.append(choices)
    return steps


class RandAugment(OperationPolicy):
    """RandAugment(N = ``num_ops``, M = ``magnitude``) on torchvision's scale of ``num_magnitude_bins``."""

    name = "randaugment"

    def __init__(self, num_ops: int = 2, magnitude: int = 9, num_magnitude_bins: int = 31) -> None:
        self.num_ops = check_number(self.name, "num_ops", num_ops, minimum=1, integer=True)
        self.num_magnitude_bins = check_number(self.name, "num_magnitude_bins", num_magnitude_bins,
                                               minimum=2, integer=True)
        self.magnitude = check_number(self.name, "magnitude", magnitude, minimum=0,
                                      maximum=self.num_magnitude_bins - 1, integer=True)

    def key(self) -> str:
        return f"{self.name}(num_ops={self.num_ops},magnitude={self.magnitude}," \
               f"num_magnitude_bins={self.num_magnitude_bins})"

    def draw(self, count: int, generator: torch.Generator, size: tuple[int, int]) -> Tensor:
        """Per image and step: an operation (uniform over the 14) and a sign; index 2 * op + sign."""
        count = check_number(self.name, "count", count, minimum=0, integer=True)
        op = torch.randint(0, len(_randaugment_space(size, self.num_magnitude_bins)),
                           (count, self.num_ops), generator=generator)
        sign = torch.randint(0, 2, (count, self.num_ops), generator=generator)
        return 2 * op + sign

    def operations(self, size: tuple[int, int]) -> list[list[Operation]]:
        choices = []
        for op_name, (magnitudes, signed) in _randaugment_space(size, self.num_magnitude_bins).items():
            pair = _signed(op_name, magnitudes, signed, self.magnitude)
            choices += pair if signed else pair * 2  # index 2 * op + sign
        return [choices] * self.num_ops


@cache
def _randaugment_space(size: tuple[int, int], num_bins: int) -> dict[str, tuple[Tensor, bool]]:
    return T.RandAugment(num_magnitude_bins=num_bins)._augmentation_space(num_bins, size)


class Cutout(Policy):
    """One square hole of side ``length`` at a uniform centre, clipped at the border, filled with
    ``fill`` (per-channel pixel values in [0, 1], rounded to uint8)."""

    name = "cutout"

    def __init__(self, length: int = 16, fill: Sequence[float] = CIFAR10_MEAN) -> None:
        self.length = check_number(self.name, "length", length, minimum=1, integer=True)
        if len(fill) != 3:
            raise ValueError(f"{self.name}: fill={tuple(fill)!r} has {len(fill)} values; allowed: "
                             f"3 per-channel values in [0, 1]")
        self.fill = tuple(check_number(self.name, "fill", f, minimum=0, maximum=1) for f in fill)
        self.fill_pixels = torch.tensor([round(255 * f) for f in self.fill], dtype=torch.uint8)

    def key(self) -> str:
        return f"{self.name}(length={self.length},fill={list(self.fill)})"

    def draw(self, count: int, generator: torch.Generator, size: tuple[int, int]) -> Tensor:
        """Hole centres [count, 2] (row, column), uniform over the H x W pixels."""
        count = check_number(self.name, "count", count, minimum=0, integer=True)
        rows = torch.randint(0, size[0], (count,), generator=generator)
        cols = torch.randint(0, size[1], (count,), generator=generator)
        return torch.stack([rows, cols], 1)

    def box(self, centres: Tensor, size: tuple[int, int]) -> Tensor:
        """[B, 4] (top, left, bottom, right), bottom and right exclusive, clipped to the image."""
        half = self.length // 2
        low = (centres - half).clamp(min=0)
        high = torch.minimum(centres + half, torch.tensor(size))
        return torch.cat([low, high], 1)

    def apply(self, images: Tensor, params: Tensor) -> Tensor:
        check_images(self.name, images)
        if params.shape != (images.shape[0], 2):
            raise ValueError(f"{self.name}: params of shape {tuple(params.shape)}; allowed: "
                             f"[{images.shape[0]}, 2] (hole centres)")
        height, width = images.shape[-2:]
        box = self.box(params.cpu(), (height, width)).to(images.device)
        rows = torch.arange(height, device=images.device)
        cols = torch.arange(width, device=images.device)
        in_rows = (rows >= box[:, 0:1]) & (rows < box[:, 2:3])               # [B, H]
        in_cols = (cols >= box[:, 1:2]) & (cols < box[:, 3:4])               # [B, W]
        hole = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]           # [B, 1, H, W]
        return torch.where(hole, self.fill_pixels.to(images.device).view(1, 3, 1, 1), images)


@AUGMENTATIONS.register("autoaugment_cifar10")
def autoaugment_cifar10() -> Policy:
    """AutoAugment, CIFAR-10 policy (Cubuk et al. 2019), torchvision's operations."""
    return AutoAugmentCifar10()


@AUGMENTATIONS.register("randaugment")
def randaugment(*, num_ops: int = 2, magnitude: int = 9, num_magnitude_bins: int = 31) -> Policy:
    """RandAugment (Cubuk et al. 2020); defaults are torchvision's (N = 2, M = 9 of 0..30)."""
    return RandAugment(num_ops, magnitude, num_magnitude_bins)


@AUGMENTATIONS.register("cutout")
def cutout(*, length: int = 16, fill: Sequence[float] = CIFAR10_MEAN) -> Policy:
    """Cutout (DeVries and Taylor 2017): length 16 for CIFAR-10, 8 for CIFAR-100; fill the mean."""
    return Cutout(length, fill)
