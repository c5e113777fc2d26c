"""Seeds derived from named parts, so every random stream is a pure function of what it is for.

A run's randomness is split into independent streams (initialisation; each epoch's sampler order
and augmentation; each epoch's mix-up draws), each seeded by hashing (run seed, epoch, purpose).
Nothing random carries state from one epoch to the next, so a run resumed at any epoch boundary,
on any machine, draws exactly what it would have drawn without the interruption.
"""

from __future__ import annotations

import hashlib

import torch


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from the ``repr`` of ``parts`` (stable across processes and machines)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def generator(*parts: object) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``derive_seed(*parts)``."""
    return torch.Generator().manual_seed(derive_seed(*parts))
