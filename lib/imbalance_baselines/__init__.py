"""imbalance-baselines: a reproducible study suite for long-tailed image classification.

Layers, lowest first (a module imports only from layers below it):

- base: ``registry``, ``paths``, ``evaluate``
- components: ``data``, ``samplers``, ``models``, ``losses``, ``optim``, ``tailcalib``
- engine: ``train`` (many runs in one pass, schedules, deferred switches, distillation, checkpoints,
  precision, DDP; knows nothing of result files or notebooks)
- stage 2: ``stage2`` (methods on a frozen backbone, complete on import)
- study: ``study`` (parameter schema, run record, results store, plan, queue and executors, recipes,
  reports, summary, plots, explorer, cost)
- entry points: ``cli`` (reproduce, queue, status, data, site, bench, gpu-check)
"""

__version__ = "0.2.0"
