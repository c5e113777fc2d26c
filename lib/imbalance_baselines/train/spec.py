"""What a study is made of: runs (``RunSpec``) and the schedule they share (``TrainConfig``).

A run = (name, model, loss, sampler, mix-up, seed). All runs of a study share one ``TrainConfig``
(epochs, optimiser, learning-rate schedule, evaluation and checkpoint cadence, precision).
Both are plain, JSON-serialisable dataclasses; ``key()`` hashes their canonical JSON so that a
changed parameter always gives a new result folder.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from .precision import PRECISIONS
from .schedule import SCHEDULES

COMPILE_OPTIONS = ("backend", "mode", "dynamic", "fullgraph")  # TrainConfig.compile's allowed keys

# Bump when a change to the engine changes what a finished run computes: cached results and
# checkpoints made by other versions are then not reused.
TRAINING_CODE_VERSION = 1


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces) used for hashing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def short_hash(value: Any, length: int = 12) -> str:
    """A short SHA-256 of ``canonical_json(value)``."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:length]


OPTIONAL_FIELDS = ("distill", "optimizer", "augment")
# Bump a field's version when a change to its code changes what runs that set it compute: only their
# keys change (version 1 leaves keys as they were). optimizer 2: SAM's perturbed forward no longer
# moves BatchNorm's running statistics (optim.sam.batch_norm_statistics_kept).
OPTIONAL_FIELD_VERSIONS = {"distill": 1, "optimizer": 2, "augment": 1}


@dataclass(frozen=True)
class RunSpec:
    """One training run of a study.

    ``mixup`` is None (no mix-up) or a mixer's parameters (``losses.build_mixer``: mix-up's alpha,
    point, stop_epoch; ``{"kind": "cutmix" | "remix", ...}``). ``distill`` is None or ``{"teachers":
    [teacher descriptions], "alpha": a, "beta": b}``: class-balanced distillation (CBD).
    ``optimizer`` is None (SGD) or ``{"name": "sam", "rho": ...}`` (``optim``: SGD inside SAM).
    ``augment`` is None (the standard crop and flip) or ``{"name": policy, ...}`` (``data.policies``,
    applied after crop and flip). The optional fields enter a run's description only when set, so
    runs without them keep their keys and records.
    """

    name: str
    loss: str = "ce"
    loss_params: dict[str, Any] = field(default_factory=dict)
    sampler: str = "instance"
    sampler_params: dict[str, Any] = field(default_factory=dict)
    model: str = "resnet32"
    model_params: dict[str, Any] = field(default_factory=dict)
    mixup: dict[str, Any] | None = None
    seed: int = 0
    distill: dict[str, Any] | None = None
    optimizer: dict[str, Any] | None = None
    augment: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields; the optional ones only when set (class docstring)."""
        described = asdict(self)
        for optional in OPTIONAL_FIELDS:
            if described[optional] is None:
                described.pop(optional)
        return described

    def key(self) -> str:
        """Hash of everything but the name (two names for the same run share a result).

        Teachers enter by what they are (run key, model), not where their weights lie, so that a
        distilled run's key is the same on every machine.
        """
        described = self.to_dict()
        described.pop("name")
        if self.distill is not None:
            described["distill"] = {**self.distill, "teachers": [
                {k: v for k, v in t.items() if k != "weights"} for t in self.distill.get("teachers", [])]}
        for optional, version in OPTIONAL_FIELD_VERSIONS.items():
            if optional in described and version > 1:
                described[f"{optional}_code_version"] = version
        return short_hash(described)


@dataclass(frozen=True)
class TrainConfig:
    """The schedule shared by every run of a study (SPEC 7 defaults: the LDAM-DRW protocol)."""

    epochs: int = 200
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 2e-4
    decay_biases: bool = True
    warmup_epochs: int = 5
    schedule: str = "step"
    milestones: tuple[int, ...] = (160, 180)
    factors: tuple[float, ...] = (0.01, 0.0001)
    eval_every: int = 10
    checkpoint_every: int = 5
    precision: str = "auto"
    channels_last: bool = True
    # torch.compile each model: True, or torch.compile's keyword arguments (COMPILE_OPTIONS), e.g.
    # {"mode": "reduce-overhead"}: CUDA graphs on a GPU. Inductor needs a C++ compiler on the CPU.
    compile: bool | dict[str, Any] = False

    def __post_init__(self) -> None:
        # JSON round trips give lists; keep tuples so that equal configs compare and hash equal.
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        object.__setattr__(self, "factors", tuple(float(f) for f in self.factors))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def training_dict(self) -> dict[str, Any]:
        """The fields that change what is computed (not cadence of evaluation or checkpoints)."""
        described = self.to_dict()
        for cadence in ("eval_every", "checkpoint_every", "compile"):
            described.pop(cadence)
        return described

    def validate(self, num_train: int) -> None:
        """Raise ``ValueError`` naming the first field out of range."""
        checks = [
            ("epochs", self.epochs, self.epochs >= 1, "epochs >= 1"),
            ("batch_size", self.batch_size, 1 <= self.batch_size <= num_train,
             f"1 <= batch_size <= {num_train} (training images)"),
            ("lr", self.lr, self.lr > 0, "lr > 0"),
            ("momentum", self.momentum, 0 <= self.momentum < 1, "0 <= momentum < 1"),
            ("weight_decay", self.weight_decay, self.weight_decay >= 0, "weight_decay >= 0"),
            ("warmup_epochs", self.warmup_epochs, 0 <= self.warmup_epochs <= self.epochs,
             "0 <= warmup_epochs <= epochs"),
            ("schedule", self.schedule, self.schedule in SCHEDULES, " or ".join(SCHEDULES)),
            ("milestones", self.milestones,
             all(0 < m < self.epochs for m in self.milestones)
             and all(a < b for a, b in zip(self.milestones, self.milestones[1:])),
             f"strictly increasing epochs in 1..{self.epochs - 1}"),
            ("factors", self.factors, len(self.factors) == len(self.milestones)
             and all(f > 0 for f in self.factors), "one positive factor per milestone"),
            ("eval_every", self.eval_every, self.eval_every >= 1, "eval_every >= 1"),
            ("checkpoint_every", self.checkpoint_every, self.checkpoint_every >= 1,
             "checkpoint_every >= 1"),
            ("precision", self.precision, self.precision in PRECISIONS, " or ".join(PRECISIONS)),
            ("compile", self.compile, isinstance(self.compile, bool) or (
                isinstance(self.compile, dict) and set(self.compile) <= set(COMPILE_OPTIONS)),
             f"True, False or a dict of torch.compile arguments among {', '.join(COMPILE_OPTIONS)}"),
        ]
        for name, value, ok, allowed in checks:
            if not ok:
                raise ValueError(f"train config: {name}={value!r} is out of range; allowed: {allowed}")
