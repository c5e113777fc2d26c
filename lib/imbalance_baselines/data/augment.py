"""Batched, tensor-resident augmentation for small images (the standard CIFAR recipe).

Random crop of 32 from the image zero-padded by 4 pixels, random horizontal flip, per-channel
normalisation (He et al. 2016, Sec. 4.2; the recipe of LDAM-DRW and Cui et al.). Whole batches are
augmented on the device they live on with index arithmetic; no per-image Python. Zero padding is in
pixel space, as torchvision's ``RandomCrop(32, padding=4)`` on the PIL image: a padded pixel
normalises to -mean/std.

All randomness comes from one ``torch.Generator`` passed by the caller (drawn on the CPU, so that
the same generator gives the same crops on every device).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class BatchAugment:
    """Crop-with-padding + horizontal flip + normalisation of uint8 [B, 3, H, W] batches."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], padding: int = 4,
                 flip: bool = True) -> None:
        if padding < 0:
            raise ValueError(f"padding={padding} is out of range; allowed: padding >= 0")
        if any(s <= 0 for s in std):
            raise ValueError(f"std={tuple(std)} is out of range; allowed: every std > 0")
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self.padding = padding
        self.flip = flip

    def normalize(self, images: Tensor) -> Tensor:
        """uint8 [B, 3, H, W] -> float32 (x / 255 - mean) / std, no augmentation (evaluation)."""
        mean, std = self.mean.to(images.device), self.std.to(images.device)
        return (images.float().div_(255.0) - mean) / std

    def draw(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Random crop offsets [B, 2] in 0..2*padding and flip flags [B] (bool), on the CPU."""
        offsets = torch.randint(0, 2 * self.padding + 1, (batch_size, 2), generator=generator)
        flips = torch.rand(batch_size, generator=generator) < 0.5 if self.flip else \
            torch.zeros(batch_size, dtype=torch.bool)
        return offsets, flips

    def apply(self, images: Tensor, offsets: Tensor, flips: Tensor) -> Tensor:
        """Augment with given crop offsets (row, column into the padded image) and flip flags, then
        normalise. An offset of (padding, padding) with no flip returns the normalised original."""
        return self.normalize(self.crop_flip(images, offsets, flips))

    def crop_flip(self, images: Tensor, offsets: Tensor, flips: Tensor) -> Tensor:
        """The uint8 crops with given offsets and flip flags (what a stronger policy starts from)."""
        batch, _, height, width = images.shape
        device = images.device
        padded = torch.nn.functional.pad(images, (self.padding,) * 4)  # zero pixels around
        offsets, flips = offsets.to(device), flips.to(device)
        rows = offsets[:, 0:1] + torch.arange(height, device=device)              # [B, H]
        cols = torch.arange(width, device=device).expand(batch, width)
        cols = torch.where(flips[:, None], cols.flip(1), cols) + offsets[:, 1:2]  # [B, W]
        flat = padded.flatten(2)                                                  # [B, 3, (H+2p)(W+2p)]
        index = (rows[:, :, None] * padded.shape[-1] + cols[:, None, :]).flatten(1)
        return flat.gather(2, index[:, None, :].expand(-1, 3, -1)).view(batch, 3, height, width)

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        """Randomly augment a uint8 batch (crop offsets and flips drawn from ``generator``)."""
        offsets, flips = self.draw(images.shape[0], generator)
        return self.apply(images, offsets, flips)
