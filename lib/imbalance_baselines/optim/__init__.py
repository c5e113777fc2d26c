"""Optimizers by name: ``OPTIMIZERS.build(name, params=..., base_optimizer=..., **options)``.

- ``sam``: Sharpness-Aware Minimization (Foret et al. 2021) around a base optimizer (``SAM``);
  ``adaptive=True`` is ASAM (Kwon et al. 2021); ``batch_norm_statistics_kept`` keeps BatchNorm's
  running statistics out of SAM's second, perturbed forward.
"""

from ..registry import Registry
from .sam import SAM, batch_norm_statistics_kept

OPTIMIZERS = Registry("optimizer")
OPTIMIZERS.register("sam")(SAM)

__all__ = ["OPTIMIZERS", "SAM", "batch_norm_statistics_kept"]
