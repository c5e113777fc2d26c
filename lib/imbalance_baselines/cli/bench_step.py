"""The CPU training step of ResNet-32 in variants: which way of computing it is fastest here.

    python -m imbalance_baselines.cli.bench_step [--rounds 3] [--steps 10] [--batch 128] [--threads N]

One training step = forward, cross-entropy, backward and SGD (momentum 0.9, weight decay 2e-4) on a
fixed random batch of 32x32 images; the model-only step that the engine's step loop runs at ~98% of.
Variants (each its own model, same initial weights):

- ``eager bf16``: bf16 autocast, channels_last (the engine's way on a CPU with native bf16);
- ``eager bf16 NCHW``: the same in the default memory format;
- ``compile bf16``: ``torch.compile`` (inductor, C++ code generation) of the model, bf16 autocast;
- ``eager fp32``: no autocast;
- ``fp32, oneDNN bf16 math``: no autocast, convolutions and matmuls allowed to compute in bf16
  inside oneDNN (``torch.backends.mkldnn.{conv,matmul}.fp32_precision = "bf16"``).

Every variant is warmed up (compilation included) and then measured ``--rounds`` times, the variants
alternating within each round, so that a load that changes over time (other processes) falls on all
of them alike. Printed per variant: median wall ms per step, min-max over the rounds, the ratio to
``eager bf16``, and the median CPU ms per step of this process (``time.process_time``). On a machine
shared with other processes, the CPU time of a one-thread measurement (``--threads 1``) counts the
work done, not the time spent waiting for a core; with more threads it also counts OpenMP spin-waits.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext

import torch
from torch import nn

from ..models import MODELS


@contextmanager
def onednn_bf16_math() -> Iterator[None]:
    """fp32 convolutions and matmuls computed in bf16 by oneDNN, restored afterwards."""
    backends = (torch.backends.mkldnn.conv, torch.backends.mkldnn.matmul)
    before = [backend.fp32_precision for backend in backends]
    for backend in backends:
        backend.fp32_precision = "bf16"
    try:
        yield
    finally:
        for backend, precision in zip(backends, before):
            backend.fp32_precision = precision


VARIANTS: dict[str, dict] = {
    "eager bf16": {"bf16": True, "channels_last": True},
    "eager bf16 NCHW": {"bf16": True, "channels_last": False},
    "compile bf16": {"bf16": True, "channels_last": True, "compile": True},
    "eager fp32": {"bf16": False, "channels_last": True},
    "fp32, oneDNN bf16 math": {"bf16": False, "channels_last": True, "context": onednn_bf16_math},
}


def make_step(variant: dict, batch: int) -> Callable[[], None]:
    """One training step of a fresh ResNet-32 (seed 0) in ``variant``'s way."""
    torch.manual_seed(0)
    model: nn.Module = MODELS.build("resnet32", num_classes=10)
    layout = torch.channels_last if variant["channels_last"] else torch.contiguous_format
    model = model.to(memory_format=layout)
    if variant.get("compile"):
        model.compile()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=2e-4)
    x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=layout)
    y = torch.randint(0, 10, (batch,))
    context = variant.get("context", nullcontext)

    def step() -> None:
        with context(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=variant["bf16"]):
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="measurements per variant (alternating)")
    parser.add_argument("--steps", type=int, default=10, help="steps per measurement")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, batch {args.batch}, {args.steps} steps x {args.rounds} rounds")
    steps = {}
    for name in args.variants:
        started = time.perf_counter()
        steps[name] = make_step(VARIANTS[name], args.batch)
        for _ in range(3):
            steps[name]()
        print(f"warm-up {name}: {time.perf_counter() - started:.1f} s", flush=True)
    wall: dict[str, list[float]] = {name: [] for name in steps}
    cpu: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            for _ in range(args.steps):
                step()
            wall[name].append(1000 * (time.perf_counter() - started) / args.steps)
            cpu[name].append(1000 * (time.process_time() - started_cpu) / args.steps)
    reference = statistics.median(wall[args.variants[0]])
    for name, measured in wall.items():
        median = statistics.median(measured)
        print(f"{name:24s} {median:8.1f} ms/step  (min {min(measured):.1f}, max {max(measured):.1f})  "
              f"{reference / median:5.2f} x {args.variants[0]};  CPU {statistics.median(cpu[name]):8.1f} ms/step "
              f"(min {min(cpu[name]):.1f}, max {max(cpu[name]):.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
