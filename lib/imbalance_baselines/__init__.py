"""imbalance-baselines: a reproducible study suite for long-tailed image classification.

Layers, lowest first (a module imports only from layers below it):
registry, data, evaluate -> losses, samplers, models, config, plots -> train, tailcalib -> study.
"""

__version__ = "0.1.0"
