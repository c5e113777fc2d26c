"""Class-balanced distillation (CBD; Iscen et al. 2021, "Class-Balanced Distillation for Long-Tailed
Visual Recognition", BMVC; SPEC 6).

A student is trained from scratch with class-aware sampling against frozen teachers (CE models with a
cosine classifier trained with different seeds: TailCalibX's stage 1). Its loss on a batch is

    L = (1 - a) * CE(logits, y) + a * b * mean_i (1 - cos(s_i, t_i))

with a = 0.8 and b = 100 / 200 / 100 at imbalance factor 100 / 50 / 10 (TailCalibX's scripts). As in
TailCalibX's implementation: the student's pooled feature is L2-normalised and the classifier acts on
it; each teacher's pooled feature is L2-normalised, the teachers' features are concatenated and the
concatenation is L2-normalised again (t_i); with more than one teacher, or a teacher dimension other
than the student's, a learnable linear layer (the *converter*, trained with the student and saved in
its checkpoints) maps the normalised student feature to the teachers' dimension and its output is
L2-normalised (s_i). Teachers stay in evaluation mode (BatchNorm statistics frozen) and get no
gradient. Each teacher is described by the study layer as ``{"run": its run key, "model": name,
"model_params": {...}, "num_classes": C, "weights": path of its state dict}``; the engine loads the
weights file and never reads a result record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models import MODELS

CONVERTER = "distill_converter"  # the student's attribute holding the converter (training only)
TEACHER_FIELDS = ("run", "model", "model_params", "num_classes", "weights")


def cbd_loss(logits: Tensor, target: Tensor, student: Tensor, teacher: Tensor, alpha: float, beta: float,
             classification: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy) -> Tensor:
    """(1 - alpha) * classification(logits, target) + alpha * beta * mean_i (1 - cos(student_i, teacher_i)).

    Iscen et al. 2021 in TailCalibX's form (see the module docstring); ``student`` and
    ``teacher`` are [B, D] features (the cosine normalises them), ``classification`` the run's loss.
    """
    similarity = F.cosine_similarity(student.float(), teacher.float(), dim=1)
    return (1 - alpha) * classification(logits, target) + alpha * beta * (1 - similarity).mean()


def teacher_target(teachers: list[nn.Module], x: Tensor) -> Tensor:
    """The normalised concatenation of the teachers' normalised pooled features of ``x`` [B, sum D_k]."""
    with torch.no_grad():
        features = [F.normalize(teacher.features(x).float(), dim=1) for teacher in teachers]
        return F.normalize(torch.cat(features, dim=1), dim=1)


def load_teacher(teacher: Mapping[str, Any]) -> tuple[nn.Module, int]:
    """A teacher's network (from its description, module docstring) in evaluation mode without
    gradients, and its number of classes."""
    model = MODELS.build(teacher["model"], num_classes=teacher["num_classes"], **teacher["model_params"])
    model.load_state_dict(torch.load(teacher["weights"], map_location="cpu", weights_only=True))
    return model.eval().requires_grad_(False), int(teacher["num_classes"])


def _fail(field: str, value: Any, problem: str, allowed: str, error: type[Exception] = ValueError) -> NoReturn:
    raise error(f"distill.{field}={value!r} {problem}; allowed: {allowed}")


def _check(settings: Mapping[str, Any], student_head: str) -> list[Mapping[str, Any]]:
    """The teachers of valid ``settings``; raise naming the field, its value and what is allowed."""
    unknown = sorted(set(settings) - {"teachers", "alpha", "beta"})
    if unknown:
        _fail("keys", unknown, "are unknown", "teachers, alpha, beta")
    alpha, beta, teachers = settings.get("alpha"), settings.get("beta"), settings.get("teachers")
    if not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        _fail("alpha", alpha, "is out of range", "a number in [0, 1] (the paper's CIFAR setting: 0.8)")
    if not isinstance(beta, (int, float)) or beta < 0:
        _fail("beta", beta, "is out of range", "a number >= 0 (TailCalibX: 100 / 200 / 100 at IF 100 / 50 / 10)")
    if not isinstance(teachers, (list, tuple)) or not teachers:
        _fail("teachers", teachers, "is not a list of teachers", "a non-empty list of kept runs")
    if student_head != "cosine":
        _fail("student head", student_head, "is not supported", "'cosine' (the student's classifier acts "
              "on its normalised feature, which only a cosine head reproduces at evaluation)")
    for index, teacher in enumerate(teachers):
        if not isinstance(teacher, Mapping) or set(teacher) != set(TEACHER_FIELDS):
            _fail(f"teachers[{index}]", teacher, "is not a teacher description",
                  f"a mapping of {', '.join(TEACHER_FIELDS)}")
        if not Path(teacher["weights"]).is_file():
            _fail(f"teachers[{index}].weights", teacher["weights"], "is missing",
                  "the state dict of a finished run trained with keep_weights", FileNotFoundError)
    return list(teachers)


class Distiller(nn.Module):
    """A CBD run's frozen teachers and its loss (``student_loss``); moved to the device with ``.to``."""

    def __init__(self, settings: Mapping[str, Any], num_classes: int, student_head: str) -> None:
        super().__init__()
        teachers = _check(settings, student_head)
        self.alpha, self.beta = float(settings["alpha"]), float(settings["beta"])
        loaded = [load_teacher(teacher) for teacher in teachers]
        for index, (_, classes) in enumerate(loaded):
            if classes != num_classes:
                _fail(f"teachers[{index}]", teachers[index]["run"], f"classifies {classes} classes",
                      f"teachers of this dataset's {num_classes} classes")
        self.teachers = nn.ModuleList(teacher for teacher, _ in loaded)
        self.target_dim = sum(teacher.feature_dim for teacher in self.teachers)

    def train(self, mode: bool = True) -> Distiller:
        """Teachers stay in evaluation mode whatever the caller asks (BatchNorm statistics frozen)."""
        return super().train(False)

    def phase_key(self) -> str:
        return f"cbd(alpha={self.alpha!r},beta={self.beta!r},teachers={len(self.teachers)})"

    def attach_converter(self, student: nn.Module) -> None:
        """Give ``student`` the converter when needed (several teachers or another dimension); it
        is then one of the student's parameters: optimised, checkpointed and copied with it."""
        if len(self.teachers) > 1 or self.target_dim != student.feature_dim:
            setattr(student, CONVERTER, nn.Linear(student.feature_dim, self.target_dim))

    def student_loss(self, student: nn.Module, x: Tensor, y: Tensor,
                     classification: Callable[[Tensor, Tensor], Tensor]) -> tuple[Tensor, Tensor]:
        """(logits, CBD loss) of ``student`` on the batch ``x``, ``y``."""
        feature = F.normalize(student.features(x), dim=1)
        logits = student.classifier(feature)
        converter = getattr(student, CONVERTER, None)
        projected = feature if converter is None else F.normalize(converter(feature), dim=1)
        loss = cbd_loss(logits, y, projected, teacher_target(list(self.teachers), x), self.alpha,
                        self.beta, classification)
        return logits, loss


def without_converter(model: nn.Module) -> nn.Module:
    """``model`` with the training-only converter removed (its state dict is then the plain network's)."""
    if hasattr(model, CONVERTER):
        delattr(model, CONVERTER)
    return model
