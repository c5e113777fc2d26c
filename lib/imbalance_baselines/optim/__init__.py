"""Optimizers by name: ``OPTIMIZERS.build(name, params=..., base_optimizer=..., **options)``.

- ``sam``: Sharpness-Aware Minimization (Foret et al. 2021) around a base optimizer (``SAM``);
  ``adaptive=True`` is ASAM (Kwon et al. 2021).
"""

from ..registry import Registry
from .sam import SAM

OPTIMIZERS = Registry("optimizer")
OPTIMIZERS.register("sam")(SAM)

__all__ = ["OPTIMIZERS", "SAM"]
