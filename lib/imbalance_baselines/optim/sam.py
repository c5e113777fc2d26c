"""Sharpness-Aware Minimization as a wrapper around any PyTorch optimizer.

Foret, Kleiner, Mobahi, Neyshabur, "Sharpness-Aware Minimization for Efficiently Improving
Generalization", ICLR 2021, Sec. 2: minimise max_{||e|| <= rho} L(w + e). The inner maximum is
approximated to first order (Eq. 2 with p = 2): e(w) = rho * g / ||g||_2, g = grad L(w), the norm
taken over all perturbed parameters together; the update uses the gradient at the perturbed point,
grad L(w)|_{w + e(w)} (Eq. 3, second-order terms dropped), applied at w (Algorithm 1). Weight decay
is not part of the perturbed loss (Eq. 1 adds lambda ||w||^2 outside the maximum), which is what a
base optimizer with ``weight_decay`` does: it decays w, not w + e.

``adaptive=True`` is ASAM (Kwon, Kim, Park, Choi, "ASAM: Adaptive Sharpness-Aware Minimization for
Scale-Invariant Learning of Deep Neural Networks", ICML 2021, Sec. 4, with its eta = 0):
e(w) = rho * T_w^2 g / ||T_w g||_2 with T_w = diag(|w|), the form of the SAM implementation that
Rangwani et al. (NeurIPS 2022, val-iisc/Saddle-LongTail) use.

Long-tailed use (Rangwani et al. 2022, "Escaping Saddle Points for Effective Generalization on
Class-Imbalanced Data"; their ``run.sh``, ResNet-32, the LDAM-DRW protocol, SAM on every parameter
in every epoch, constant rho): CIFAR-10-LT IF 100 rho = 0.1 (CE), 0.5 (CE+DRW), 0.8 (LDAM+DRW);
CIFAR-100-LT IF 100 rho = 0.2 (CE), 0.8 (CE+DRW), 0.8 (LDAM+DRW).

Use::

    base = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=2e-4)
    sam = SAM(model.parameters(), base, rho=0.05)
    loss_fn(model(x), y).backward()
    sam.step(lambda: loss_fn(model(x), y).backward())   # same batch at the perturbed weights

``param_groups`` and ``state_dict`` are the base optimizer's, so learning-rate schedules and
checkpoints work on a ``SAM`` as on the optimizer it wraps.

BatchNorm: the second forward (at w + e) runs in training mode, so it normalises with its own batch
statistics as the gradient requires, but its running mean and variance would also move toward the
statistics of the perturbed network, which is never evaluated. ``batch_norm_statistics_kept`` wraps
that forward and its backward so the running statistics are those of the first forward alone (the fix Foret et al.'s
follow-up implementations make by setting the BatchNorm momentum to 0 during the second pass).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from ..losses.checks import check_number


class SAM(torch.optim.Optimizer):
    """Perturb ``params`` by rho * g / ||g|| (``first_step``), step ``base_optimizer`` from the
    unperturbed weights with the gradients at the perturbed ones (``second_step``).

    ``params`` are the parameters to perturb, the trainable ones all optimised by ``base_optimizer``
    (normally the same set; frozen ones, ``requires_grad=False``, are ignored, so
    ``model.parameters()`` fits an optimizer built on the trainable parameters only); those without
    a gradient at ``first_step`` are neither perturbed nor counted in the norm. ``rho`` may be
    changed between steps (a rho schedule).
    """

    def __init__(self, params: Iterable[Tensor], base_optimizer: torch.optim.Optimizer,
                 rho: float = 0.05, adaptive: bool = False) -> None:
        if not isinstance(base_optimizer, torch.optim.Optimizer):
            raise ValueError(f"SAM: base_optimizer={base_optimizer!r} is not an optimizer; allowed: "
                             f"a torch.optim.Optimizer instance")
        if not isinstance(adaptive, bool):
            raise ValueError(f"SAM: adaptive={adaptive!r} is not a bool; allowed: True or False")
        self.rho = check_number("SAM", "rho", rho, minimum=0, min_open=True)
        self.adaptive = adaptive
        self.base_optimizer = base_optimizer
        optimised = {id(p) for group in base_optimizer.param_groups for p in group["params"]}
        given = list(params)
        if any(not isinstance(p, Tensor) for p in given):
            raise ValueError("SAM: params holds a non-tensor; allowed: an iterable of parameters")
        self.perturbed = [p for p in given if p.requires_grad]  # frozen ones never have gradients
        if not self.perturbed or any(id(p) not in optimised for p in self.perturbed):
            raise ValueError("SAM: params must be a non-empty subset of base_optimizer's parameters; "
                             "allowed: trainable tensors that base_optimizer optimises")
        # The base optimizer's groups (the same dicts, the same list): learning rates set on
        # ``self.param_groups`` by a scheduler or the training engine reach the base step.
        super().__init__(base_optimizer.param_groups, base_optimizer.defaults)
        self.param_groups = base_optimizer.param_groups

    @torch.no_grad()
    def first_step(self) -> None:
        """w <- w + e(w) from the current gradients, remembering w."""
        with_grad = [p for p in self.perturbed if p.grad is not None]
        if not with_grad:
            return
        scaled = [p.abs() * p.grad if self.adaptive else p.grad for p in with_grad]
        device = with_grad[0].device
        dtype = functools.reduce(torch.promote_types, [s.dtype for s in scaled])
        norm = torch.linalg.vector_norm(torch.stack(
            [torch.linalg.vector_norm(s).to(device=device, dtype=dtype) for s in scaled]))
        # A zero gradient gives no perturbation (rho / 0 is never used), without a host sync.
        factor = torch.where(norm > 0, self.rho / norm, torch.zeros_like(norm))
        for p, s in zip(with_grad, scaled):
            self.state[p]["w"] = p.detach().clone()
            direction = p.abs() * s if self.adaptive else s
            p.add_(direction * factor.to(p.device))

    @torch.no_grad()
    def second_step(self) -> None:
        """Restore the w saved by ``first_step``, then the base optimizer's step with the current
        (perturbed-point) gradients."""
        for p in self.perturbed:
            saved = self.state.pop(p, None)
            if saved is not None:
                p.copy_(saved["w"])
        self.base_optimizer.step()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """Both steps; ``closure`` recomputes the loss on the same batch and calls ``backward``
        (gradients are zeroed before it). Returns what ``closure`` returns (the perturbed loss)."""
        if closure is None:
            raise ValueError("SAM: closure=None; allowed: a callable that recomputes the loss on "
                             "the same batch and calls backward()")
        self.first_step()
        self.zero_grad(set_to_none=True)
        with torch.enable_grad():
            loss = closure()
        self.second_step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        """The base optimizer's state (momentum buffers etc.); SAM keeps none between steps."""
        return self.base_optimizer.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load into the base optimizer, which makes new groups: share them again."""
        self.base_optimizer.load_state_dict(state_dict)
        self.param_groups = self.base_optimizer.param_groups


@contextlib.contextmanager
def batch_norm_statistics_kept(model: nn.Module) -> Iterator[None]:
    """Inside the block, forwards in training mode leave every BatchNorm's running mean, variance
    and batch count as they were on entry (restored on exit); the batch statistics are still used.
    Put the backward inside the block too: autograd keeps the running buffers of a training-mode
    forward, so restoring them in place before the backward is refused."""
    buffers = [b for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
               for b in (m.running_mean, m.running_var, m.num_batches_tracked) if b is not None]
    saved = [b.clone() for b in buffers]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, s in zip(buffers, saved):
                b.copy_(s)
