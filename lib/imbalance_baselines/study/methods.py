"""The methods of the study by display name: each is a run recipe (loss, sampler, head, mix-up).

A method turns the study's schedule and hyper-parameters into the fields of a ``RunSpec``. Deferred
switches follow the schedule: DRW and DRS switch at the first learning-rate milestone (epoch 160 of
200 in the protocol, Cao et al. 2019), and mix-up fine-tuning (He et al. 2019; Bag of Tricks) turns
mix-up off at that same epoch. Adding a method is one ``@method(...)`` function.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..registry import Registry
from ..train.spec import RunSpec, TrainConfig

METHODS = Registry("method")

# Hyper-parameters the recipes read, with their defaults (each notebook may override them).
DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "beta": 0.9999,          # class-balanced loss (Cui et al. 2019)
    "gamma": 1.0,            # focal loss (Lin et al. 2017)
    "tau": 1.0,              # logit adjustment (Menon et al. 2021)
    "mixup_alpha": 1.0,      # Beta(alpha, alpha) of mix-up (Bag of Tricks: 1.0)
    "manifold_point": "pool",  # where manifold mix-up mixes (Bag of Tricks: the pooled feature)
    "teachers": [],          # CBD: run folders of the frozen teachers (runs with kept weights)
    "distill_alpha": 0.8,    # CBD (Iscen et al. 2021): weight a of the distillation term
    "distill_beta": 100.0,   # CBD: scale b of the cosine term (TailCalibX: 100 / 200 / 100 at IF 100 / 50 / 10)
    "sam_rho": 0.0,          # SAM's radius; 0: each SAM recipe's CIFAR-10-LT value (Rangwani et al. 2022)
    "smoothing": 0.1,        # label smoothing epsilon (Szegedy et al. 2016)
    "cutout_length": 16,     # Cutout's square side (DeVries and Taylor 2017: 16 on CIFAR-10, 8 on CIFAR-100)
    "randaugment": [2, 9],   # RandAugment's N operations and magnitude M (torchvision's defaults, 31 bins)
    "cutmix_prob": 0.5,      # CutMix's probability per batch (Yun et al. 2019's CIFAR command)
    "remix_kappa": 3.0,      # Remix's count ratio (Chou et al. 2020)
    "remix_tau": 0.5,        # Remix's mixing-weight threshold
    "experts": 3,            # RIDE's experts (Wang et al. 2021)
}


# Ranges of the hyper-parameters no component checks when it is built (the others: losses,
# samplers, mixers, policies and optimizers refuse their own bad values).
HYPERPARAMETER_RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "experts": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "sam_rho": (lambda v: v >= 0, "a number >= 0 (0: the recipe's published radius)"),
    "randaugment": (lambda v: len(v) == 2 and all(isinstance(x, int) for x in v), "[N operations, magnitude M]"),
}


@dataclass(frozen=True)
class Method:
    """A named recipe: ``fields(config, hyperparameters)`` gives the RunSpec fields."""

    name: str
    family: str
    paper: str
    fields: Callable[[TrainConfig, Mapping[str, Any]], dict[str, Any]]

    def run(self, config: TrainConfig, seed: int = 0,
            hyperparameters: Mapping[str, Any] | None = None, name: str | None = None,
            model: str = "resnet32", model_params: Mapping[str, Any] | None = None) -> RunSpec:
        """The RunSpec of this method on ``model`` (the recipe may set its head); ``model_params``
        (e.g. ``weights_path``) are passed to the model too, the recipe's own taking precedence."""
        hp = {**DEFAULT_HYPERPARAMETERS, **(hyperparameters or {})}
        fields = {"model": model, **self.fields(config, hp)}  # a recipe may choose its network (RIDE)
        if model_params:
            fields["model_params"] = {**model_params, **fields.get("model_params", {})}
        return RunSpec(name=name or self.name, seed=seed, **fields)


def method(name: str, family: str, paper: str) -> Callable:
    def register(fields: Callable[[TrainConfig, Mapping[str, Any]], dict[str, Any]]) -> Method:
        entry = Method(name, family, paper, fields)
        METHODS.register(name)(entry)
        return entry

    return register


def switch_epoch(config: TrainConfig) -> int:
    """Epoch where deferred methods switch: the first lr milestone (160 of 200), else 80% of epochs."""
    return config.milestones[0] if config.milestones else int(0.8 * config.epochs)


def initial_weights(init_weights: str, data_dir: str | Path) -> dict[str, Any]:
    """Model parameters loading initial weights from a local state-dict file (``init_weights``,
    relative to ``data_dir`` unless absolute; "" for a random initialisation). Nothing is downloaded:
    a missing file is a ``FileNotFoundError`` naming its path and how to make it."""
    if not init_weights:
        return {}
    path = Path(data_dir) / init_weights
    if not path.is_file():
        raise FileNotFoundError(
            f"init_weights={init_weights!r}: {path.resolve()} is missing; save an ImageNet-pretrained "
            f"state dict there, e.g. on a machine with internet access: torch.save(torchvision.models."
            f"resnet152(weights='IMAGENET1K_V1').state_dict(), '{path.name}')")
    return {"weights_path": str(path.resolve())}


def scaled_learning_rate(train: Mapping[str, Any], reference_batch: int,
                         processes: int | None = None) -> dict[str, Any]:
    """``train`` with its lr scaled by the linear rule (``train.schedule.linear_scaled_lr``): the
    recipe's lr is for a total batch of ``reference_batch``; the total batch here is ``batch_size``
    (per process) x ``processes`` (default: torchrun's ``WORLD_SIZE``, 1 without torchrun).
    ``reference_batch`` 0 leaves ``train`` as it is."""
    from ..train.schedule import linear_scaled_lr

    if not reference_batch:
        return dict(train)
    processes = processes if processes is not None else int(os.environ.get("WORLD_SIZE", "1"))
    lr = train.get("lr", TrainConfig.lr)
    total = train.get("batch_size", TrainConfig.batch_size) * processes
    return {**train, "lr": linear_scaled_lr(lr, total, reference_batch)}


NORMED = {"model_params": {"head": "cosine", "head_params": {"scale": 1.0}}}  # LDAM's normalised layer


# --- re-weighting (losses) -----------------------------------------------------------------------
@method("CE", "reweighting", "softmax cross-entropy baseline")
def _ce(config, hp):
    return {"loss": "ce"}


@method("Sigmoid CE", "reweighting", "Cui et al. 2019, Sec. 4 (sigmoid baseline)")
def _sigmoid(config, hp):
    return {"loss": "sigmoid_ce"}


@method("Focal", "reweighting", "Lin et al. 2017, Eq. 5 (sigmoid form as Cui et al. 2019)")
def _focal(config, hp):
    return {"loss": "focal", "loss_params": {"gamma": hp["gamma"]}}


@method("CB Softmax", "reweighting", "Cui et al. 2019, Eq. 9")
def _cb_ce(config, hp):
    return {"loss": "cb_ce", "loss_params": {"beta": hp["beta"]}}


@method("CB Sigmoid", "reweighting", "Cui et al. 2019, Eq. 10")
def _cb_sigmoid(config, hp):
    return {"loss": "cb_sigmoid", "loss_params": {"beta": hp["beta"]}}


@method("CB Focal", "reweighting", "Cui et al. 2019, Eq. 12")
def _cb_focal(config, hp):
    return {"loss": "cb_focal", "loss_params": {"beta": hp["beta"], "gamma": hp["gamma"]}}


@method("Cost-sensitive CE", "reweighting", "Bag of Tricks (Zhang et al. 2021), weights min n / n_c")
def _cost_sensitive(config, hp):
    return {"loss": "cost_sensitive_ce"}


@method("LDAM", "reweighting", "Cao et al. 2019, Eq. 13, normalised last layer, s = 30")
def _ldam(config, hp):
    return {"loss": "ldam", **NORMED}


@method("LDAM-DRW", "reweighting", "Cao et al. 2019, Alg. 1 (DRW at the first lr decay)")
def _ldam_drw(config, hp):
    return {"loss": "ldam_drw", "loss_params": {"drw_epoch": switch_epoch(config)}, **NORMED}


@method("CE-DRW", "reweighting", "Cao et al. 2019, Sec. 3.3 (DRW with CE)")
def _ce_drw(config, hp):
    return {"loss": "ce_drw", "loss_params": {"drw_epoch": switch_epoch(config)}}


@method("Balanced Softmax", "reweighting", "Ren et al. 2020, Eq. 4")
def _balanced_softmax(config, hp):
    return {"loss": "balanced_softmax"}


@method("Logit-adjusted loss", "reweighting", "Menon et al. 2021, Eq. 10")
def _logit_adjusted(config, hp):
    return {"loss": "logit_adjusted", "loss_params": {"tau": hp["tau"]}}


@method("CE (cosine classifier)", "reweighting",
        "CE with a cosine classifier, learnable scale from 10: TailCalibX's stage 1")
def _ce_cosine(config, hp):
    return {"loss": "ce", "model_params": {"head": "cosine",
                                           "head_params": {"scale": 10.0, "learn_scale": True}}}


# --- re-sampling ---------------------------------------------------------------------------------
@method("Over-sampling", "resampling", "random over-sampling to n_max (Buda et al. 2018)")
def _over(config, hp):
    return {"sampler": "oversample"}


@method("Under-sampling", "resampling", "random under-sampling to n_min (Buda et al. 2018)")
def _under(config, hp):
    return {"sampler": "undersample"}


@method("Class-balanced sampling", "resampling", "Kang et al. 2020, Eq. 1 with q = 0")
def _class_balanced(config, hp):
    return {"sampler": "class_balanced"}


@method("Square-root sampling", "resampling", "Kang et al. 2020, Eq. 1 with q = 1/2")
def _square_root(config, hp):
    return {"sampler": "square_root"}


@method("Progressively-balanced sampling", "resampling", "Kang et al. 2020, Eq. 2")
def _progressive(config, hp):
    return {"sampler": "progressive", "sampler_params": {"total_epochs": config.epochs}}


@method("Class-aware sampling", "resampling", "Shen et al. 2016 (k = 4 per class visit)")
def _class_aware(config, hp):
    return {"sampler": "class_aware"}


@method("CE-DRS", "resampling", "Cao et al. 2019, Sec. 3.3 (deferred class-balanced re-sampling)")
def _ce_drs(config, hp):
    return {"sampler": "drs", "sampler_params": {"start_epoch": switch_epoch(config),
                                                 "then": "class_balanced"}}


# --- mix-up --------------------------------------------------------------------------------------
def _mixup(hp: Mapping[str, Any], point: str, fine_tune: bool, config: TrainConfig) -> dict[str, Any]:
    return {"alpha": hp["mixup_alpha"], "point": point,
            "stop_epoch": switch_epoch(config) if fine_tune else None}


@method("Input mix-up", "mixup", "Zhang et al. 2018, Eq. 1")
def _input_mixup(config, hp):
    return {"mixup": _mixup(hp, "input", False, config)}


@method("Input mix-up + FT", "mixup", "Zhang et al. 2018; fine-tuning without mix-up, He et al. 2019")
def _input_mixup_ft(config, hp):
    return {"mixup": _mixup(hp, "input", True, config)}


@method("Manifold mix-up", "mixup", "Verma et al. 2019, Eq. 2")
def _manifold(config, hp):
    return {"mixup": _mixup(hp, hp["manifold_point"], False, config)}


@method("Manifold mix-up + FT", "mixup", "Verma et al. 2019; fine-tuning, He et al. 2019")
def _manifold_ft(config, hp):
    return {"mixup": _mixup(hp, hp["manifold_point"], True, config)}


@method("Input mix-up + Balanced Softmax", "mixup", "Zhang et al. 2018 with Ren et al. 2020")
def _input_mixup_bs(config, hp):
    return {"loss": "balanced_softmax", "mixup": _mixup(hp, "input", False, config)}


@method("Manifold mix-up + Balanced Softmax", "mixup", "Verma et al. 2019 with Ren et al. 2020")
def _manifold_bs(config, hp):
    return {"loss": "balanced_softmax", "mixup": _mixup(hp, hp["manifold_point"], False, config)}


# --- distillation --------------------------------------------------------------------------------
@method("CBD", "distillation", "Iscen et al. 2021, class-balanced distillation (TailCalibX's form): "
        "class-aware sampling, cosine classifier, frozen CE (cosine) teachers")
def _cbd(config, hp):
    return {**_class_aware.fields(config, hp), "model_params": _ce_cosine.fields(config, hp)["model_params"],
            "distill": {"teachers": list(hp["teachers"]), "alpha": hp["distill_alpha"],
                        "beta": hp["distill_beta"]}}


# --- regularisation and the recipes of 2020-2022 ----------------------------------------------------
def _sam(hp: Mapping[str, Any], cifar10_rho: float) -> dict[str, Any]:
    """SAM around SGD (Foret et al. 2021) with Rangwani et al. 2022's radius for CIFAR-10-LT IF100
    unless ``sam_rho`` sets one (their CIFAR-100-LT values: CE 0.2, CE-DRW 0.8, LDAM-DRW 0.8)."""
    return {"name": "sam", "rho": hp["sam_rho"] or cifar10_rho}


@method("CE + SAM", "regularisation", "Rangwani et al. 2022 (SAM, Foret et al. 2021; rho 0.1 on CIFAR-10-LT)")
def _ce_sam(config, hp):
    return {"loss": "ce", "optimizer": _sam(hp, 0.1)}


@method("CE-DRW + SAM", "regularisation", "Rangwani et al. 2022, CE + DRW + SAM (rho 0.5 on CIFAR-10-LT)")
def _ce_drw_sam(config, hp):
    return {**_ce_drw.fields(config, hp), "optimizer": _sam(hp, 0.5)}


@method("LDAM-DRW + SAM", "regularisation", "Rangwani et al. 2022, LDAM + DRW + SAM (rho 0.8)")
def _ldam_drw_sam(config, hp):
    return {**_ldam_drw.fields(config, hp), "optimizer": _sam(hp, 0.8)}


@method("Label smoothing", "regularisation", "Szegedy et al. 2016, Sec. 7 (epsilon 0.1)")
def _label_smoothing(config, hp):
    return {"loss": "label_smoothing_ce", "loss_params": {"epsilon": hp["smoothing"]}}


@method("CE + AutoAugment", "regularisation", "Cubuk et al. 2019, the CIFAR-10 policy (torchvision)")
def _autoaugment(config, hp):
    return {"augment": {"name": "autoaugment_cifar10"}}


@method("CE + RandAugment", "regularisation", "Cubuk et al. 2020, N operations at magnitude M")
def _randaugment(config, hp):
    return {"augment": {"name": "randaugment", "num_ops": hp["randaugment"][0], "magnitude": hp["randaugment"][1]}}


@method("CE + Cutout", "regularisation", "DeVries and Taylor 2017, one square hole")
def _cutout(config, hp):
    return {"augment": {"name": "cutout", "length": hp["cutout_length"]}}


@method("CutMix", "regularisation", "Yun et al. 2019, Alg. A1 (alpha 1, probability 0.5)")
def _cutmix(config, hp):
    return {"mixup": {"kind": "cutmix", "alpha": hp["mixup_alpha"], "prob": hp["cutmix_prob"]}}


def _remix(hp: Mapping[str, Any]) -> dict[str, Any]:
    return {"kind": "remix", "kappa": hp["remix_kappa"], "tau": hp["remix_tau"],
            "mixer": {"kind": "mixup", "alpha": hp["mixup_alpha"]}}


@method("Remix", "regularisation", "Chou et al. 2020, Eq. 10 (kappa 3, tau 0.5) on input mix-up")
def _remix_ce(config, hp):
    return {"mixup": _remix(hp)}


@method("Remix-DRW", "regularisation", "Chou et al. 2020 with deferred re-weighting (Cao et al. 2019)")
def _remix_drw(config, hp):
    return {**_ce_drw.fields(config, hp), "mixup": _remix(hp)}


@method("RIDE", "regularisation", "Wang et al. 2021: shared stem and stage 1, experts with the RIDE loss "
        "(LDAM-DRW per expert + diversity); no expert router")
def _ride(config, hp):
    return {"model": "ride_resnet32", "model_params": {"num_experts": hp["experts"]},
            "loss": "ride", "loss_params": {"drw_epoch": switch_epoch(config)}}


@method("LDAM-DRW + SAM + AutoAugment", "regularisation", "the suite's strongest combination candidate: "
        "Rangwani et al. 2022 with Cubuk et al. 2019's CIFAR-10 policy")
def _ldam_drw_sam_autoaugment(config, hp):
    return {**_ldam_drw_sam.fields(config, hp), **_autoaugment.fields(config, hp)}
