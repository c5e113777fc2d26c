"""Runs and the groups that share one training state.

Runs whose configuration is identical up to an epoch (CE, CE-DRW and CE with deferred re-sampling
are the same model until epoch 160; LDAM and LDAM-DRW likewise) are the same computation until then.
The engine keeps one ``Group`` (model + optimiser) for all of them and splits it, by copying the
state, at the first epoch where their ``phase_key``s differ. A branched run is therefore the same
computation as the run trained alone. Distilled runs (CBD) never share a group with other runs
but those with the same distillation settings.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .distillation import Distiller
from ..data.policies import AUGMENTATIONS, Policy
from ..losses import LOSSES, Loss, Mixer, build_mixer
from ..models import MODELS
from ..optim import OPTIMIZERS
from ..samplers import SAMPLERS, EpochSampler
from .seeding import derive_seed
from .spec import RunSpec, TrainConfig, canonical_json


@dataclass
class RunState:
    """A run's components (built from its spec) and its per-epoch history."""

    spec: RunSpec
    loss: Loss
    sampler: EpochSampler
    mixup: Mixer | None
    distiller: Distiller | None = None
    policy: Policy | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @classmethod
    def build(cls, spec: RunSpec, labels: torch.Tensor, class_counts: list[int]) -> "RunState":
        loss = LOSSES.build(spec.loss, class_counts=class_counts, **spec.loss_params)
        sampler = SAMPLERS.build(spec.sampler, labels=labels, num_classes=len(class_counts),
                                 seed=spec.seed, **spec.sampler_params)
        mixup = build_mixer(spec.mixup, class_counts) if spec.mixup is not None else None
        policy = None
        if spec.augment is not None:
            params = dict(spec.augment)
            policy = AUGMENTATIONS.build(params.pop("name"), **params)
        if spec.optimizer is not None:  # built once on a dummy parameter: a bad setting fails before training
            options, dummy = dict(spec.optimizer), torch.zeros(1, requires_grad=True)
            OPTIMIZERS.build(options.pop("name", None), params=[dummy], base_optimizer=torch.optim.SGD([dummy], lr=0.1),
                             **options)
        distiller = None
        if spec.distill is not None:
            if mixup is not None:
                raise ValueError(f"run {spec.name!r}: distill with mixup={spec.mixup!r} is not "
                                 "supported; allowed: mixup=None for a distilled run")
            distiller = Distiller(spec.distill, len(class_counts), spec.model_params.get("head", "linear"))
        return cls(spec, loss, sampler, mixup, distiller, policy)

    def static_key(self) -> str:
        """What fixes the initial state: model, seed, the loss's classifier-bias prior, and the
        distillation settings when there are any (plain runs keep their keys)."""
        described = [self.spec.model, self.spec.model_params, self.spec.seed, self.loss.classifier_bias_init()]
        if self.spec.distill is not None:
            described.append(self.spec.distill)
        return canonical_json(described)

    def stream_key(self, epoch: int) -> str:
        """What fixes the epoch's batches: the seed, what the sampler draws, and a stronger policy."""
        described = [self.spec.seed, self.sampler.phase_key(epoch)]
        if self.policy is not None:
            described.append(self.policy.key())
        return canonical_json(described)

    def phase_description(self, epoch: int) -> dict[str, str]:
        """What the loss, sampler and mix-up do during ``epoch`` (recorded in the history)."""
        described = {"loss": self.loss.phase_key(epoch), "sampler": self.sampler.phase_key(epoch),
                     "mixup": self.mixup.phase_key(epoch) if self.mixup is not None else "off"}
        if self.distiller is not None:
            described["distill"] = self.distiller.phase_key()
        if self.policy is not None:
            described["augment"] = self.policy.key()
        if self.spec.optimizer is not None:
            described["optimizer"] = canonical_json(self.spec.optimizer)
        return described

    def phase_key(self, epoch: int) -> str:
        """Everything that determines this run's computation during ``epoch``."""
        return canonical_json([self.static_key(), self.spec.seed, self.phase_description(epoch)])


@dataclass
class Group:
    """Runs that are, so far, one computation: one model and one optimiser for all of them."""

    runs: list[RunState]
    model: nn.Module
    optimizer: torch.optim.Optimizer

    @property
    def lead(self) -> RunState:
        """The run whose loss, sampler and mix-up objects the group uses (all are equivalent)."""
        return self.runs[0]

    @property
    def names(self) -> list[str]:
        return [run.spec.name for run in self.runs]

    def split(self, epoch: int, config: TrainConfig) -> list["Group"]:
        """This group, divided where its runs' phase keys at ``epoch`` differ (state is copied)."""
        parts: dict[str, list[RunState]] = {}
        for run in self.runs:
            parts.setdefault(run.phase_key(epoch), []).append(run)
        if len(parts) == 1:
            return [self]
        groups = []
        for index, runs in enumerate(parts.values()):
            if index == 0:
                groups.append(Group(runs, self.model, self.optimizer))
                continue
            model = copy.deepcopy(self.model)
            optimizer = make_optimizer(model, runs[0], config)
            optimizer.load_state_dict(self.optimizer.state_dict())
            groups.append(Group(runs, model, optimizer))
        return groups


def build_model(run: RunState, num_classes: int, device: torch.device,
                config: TrainConfig) -> nn.Module:
    """The run's network, initialised from its seed alone (and the loss's bias prior, if any); a
    distilled run's network carries its converter (``distillation``), initialised from the seed too."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(run.spec.seed, "init", run.spec.model))
        model = MODELS.build(run.spec.model, num_classes=num_classes, **run.spec.model_params)
    if run.distiller is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(run.spec.seed, "init", "distill converter"))
            run.distiller.attach_converter(model)
    bias_init = run.loss.classifier_bias_init()
    if bias_init is not None:
        bias = getattr(model.classifier, "bias", None)
        if bias is None:
            raise ValueError(f"run {run.spec.name!r}: loss {run.spec.loss!r} initialises the "
                             "classifier bias, but the model's head has none")
        nn.init.constant_(bias, bias_init)
    model = model.to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if config.compile:  # in place: state_dict keys (checkpoints) stay those of the plain module
        model.compile(**(config.compile if isinstance(config.compile, dict) else {}))
    return model


def make_optimizer(model: nn.Module, run: RunState, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD with momentum; weight decay off for the prior-initialised classifier bias of sigmoid
    losses (Cui et al. 2019's code), and for every bias when ``config.decay_biases`` is False; inside
    the run's ``optimizer`` wrapper when it names one (SAM, ``optim``)."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        exempt = name.endswith("bias") and (not config.decay_biases or (
            name == "classifier.bias" and run.loss.classifier_bias_init() is not None))
        (no_decay if exempt else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": config.weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    sgd = torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
    if run.spec.optimizer is None:
        return sgd
    options = dict(run.spec.optimizer)
    return OPTIMIZERS.build(options.pop("name"), params=model.parameters(), base_optimizer=sgd, **options)


def initial_groups(runs: list[RunState], num_classes: int, device: torch.device,
                   config: TrainConfig, epoch: int = 0) -> list[Group]:
    """One group per distinct phase key at ``epoch`` (0 for a fresh study)."""
    parts: dict[str, list[RunState]] = {}
    for run in runs:
        parts.setdefault(run.phase_key(epoch), []).append(run)
    groups = []
    for members in parts.values():
        model = build_model(members[0], num_classes, device, config)
        groups.append(Group(members, model, make_optimizer(model, members[0], config)))
    return groups
