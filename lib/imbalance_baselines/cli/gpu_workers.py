"""The worker processes of ``gpu_check``: each warms up, then trains what the check asks for.

    python -m imbalance_baselines.cli.gpu_workers [--device cuda] [--compile] [--tiny] [--data-dir D]

A worker trains once what it measures (its warm-up, compilation included) and answers; then, per
request line on stdin (JSON), trains ``{"runs": K}`` (K runs, seeds 0..K-1, in one engine pass) or ``{"full": true}`` (one run with the full schedule) and answers one line on
stdout: ``@gpu-check {"seconds": ..., "images": ..., "top1": ..., "error": ...}``. Everything else on
stdout is not an answer. A failed request is answered with its error, and the worker goes on.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch

from .bench import cifar10_lt_shaped
from ..data import DATASETS, make_synthetic_lt
from ..data.bundle import LongTailedData
from ..train import RunSpec, TrainConfig, train

MODULE = "imbalance_baselines.cli.gpu_workers"
MARK = "@gpu-check "  # prefix of an answer line


class PhaseError(RuntimeError):
    """A phase that failed or ran out of time (the check goes on without it)."""


def scale(tiny: bool) -> dict[str, Any]:
    """Model, step data and schedules of a measurement (the protocol's, or the tiny test's)."""
    if tiny:
        return {"model": "resnet8", "ks": (1, 2), "data": make_synthetic_lt(
                    num_classes=3, n_max=40, imbalance_factor=4, test_per_class=6, seed=1),
                "steps": TrainConfig(epochs=1, batch_size=16, warmup_epochs=1, milestones=(), factors=()),
                "full": TrainConfig(epochs=3, batch_size=16, warmup_epochs=1, milestones=(2,),
                                    factors=(0.01,), eval_every=1)}
    return {"model": "resnet32", "ks": (1, 4, 8, 16), "data": cifar10_lt_shaped(96),
            # Three epochs of 96 full batches: enough steps that train()'s start-up weighs little.
            "steps": TrainConfig(epochs=3, warmup_epochs=1, milestones=(), factors=()), "full": TrainConfig()}


def compile_options(compiled: bool, tiny: bool) -> bool | dict[str, Any]:
    """TrainConfig.compile for the eager or the compiled way."""
    if not compiled:
        return False
    return {"backend": "eager"} if tiny else {"mode": "reduce-overhead"}


def full_data(data_dir: Path, tiny: bool) -> tuple[LongTailedData, str, bool]:
    """CIFAR-10-LT IF100 from ``data_dir`` when there, else synthetic data of its shape; (data, what, real)."""
    if tiny:
        return scale(True)["data"], "tiny synthetic data", False
    if (data_dir / "cifar-10-batches-py").is_dir():
        data = DATASETS.build("cifar10_lt", root=data_dir, imbalance_factor=100, val_per_class=100)
        return data, f"real CIFAR-10-LT IF100 from {data_dir}", True
    data = make_synthetic_lt(num_classes=10, n_max=5000, imbalance_factor=100, val_per_class=100,
                             test_per_class=1000)
    return data, f"synthetic data of CIFAR-10-LT IF100's shape (no {data_dir}/cifar-10-batches-py)", False


def timed_train(runs: int, data: LongTailedData, config: TrainConfig, model: str, device: str) -> dict[str, Any]:
    """Wall time, images and final test top-1 (%) of ``runs`` runs (seeds 0..runs-1) in one pass."""
    specs = [RunSpec(f"seed{seed}", model=model, seed=seed) for seed in range(runs)]
    started = time.perf_counter()
    outcomes = train(specs, data, config, device, progress=False)
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    errors = [o.error for o in outcomes.values() if o.error]
    return {"seconds": seconds, "images": runs * config.epochs * len(data.train),
            "error": errors[0] if errors else None,
            "top1": 100 * outcomes["seed0"].history[-1]["test_acc"] if not errors else None}


def answer(message: dict[str, Any]) -> None:
    """One answer line of a worker."""
    print(MARK + json.dumps(message), flush=True)


def main(argv: list[str] | None = None) -> int:
    """Warm up, answer, then answer each request (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--compile", action="store_true", help="torch.compile (see compile_options)")
    parser.add_argument("--tiny", action="store_true", help="the tiny size (see gpu_check)")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="where cifar-10-batches-py may be")
    args = parser.parse_args(argv)
    if torch.device(args.device).type == "cpu":
        torch.set_num_threads(1)  # K processes share the cores
    measured = scale(args.tiny)
    compiled = compile_options(args.compile, args.tiny)
    steps = TrainConfig(**{**measured["steps"].to_dict(), "compile": compiled})
    for line in itertools.chain([json.dumps({"runs": 1})], sys.stdin):  # the warm-up, then the check's
        request = json.loads(line)
        try:
            if request.get("full"):
                data, what, real = full_data(args.data_dir, args.tiny)
                full = TrainConfig(**{**measured["full"].to_dict(), "compile": compiled})
                answer({"data": what, "real": real, **timed_train(1, data, full, measured["model"], args.device)})
            else:
                answer(timed_train(request["runs"], measured["data"], steps, measured["model"], args.device))
        except Exception as error:  # noqa: BLE001 - reported to the check, which goes on without it
            answer({"error": f"{type(error).__name__}: {error}"})
    return 0


class Worker:
    """A worker process seen from the check: requests to its stdin, answers from its stdout (read by
    a thread, so that waiting for one has a deadline), its stderr kept for the error message."""

    def __init__(self, device: str, data_dir: Path, compiled: bool, tiny: bool,
                 compile_threads: int | None = None) -> None:
        argv = [sys.executable, "-m", MODULE, "--device", device, "--data-dir", str(data_dir)]
        argv += ["--compile"] * compiled + ["--tiny"] * tiny
        env = dict(os.environ)
        if compile_threads is not None:  # inductor's pool of compile processes (default: one per core)
            env["TORCHINDUCTOR_COMPILE_THREADS"] = str(compile_threads)
        self.errors = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors,
                                        text=True, bufsize=1, env=env)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            if line.startswith(MARK):
                self.lines.put(line[len(MARK):])
        self.lines.put(None)

    def send(self, request: dict[str, Any]) -> None:
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except OSError as error:  # the worker has exited
            raise PhaseError(f"worker gone ({error})") from None

    def receive(self, deadline: float) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.0))
        except queue.Empty:
            raise PhaseError("ran out of the time budget") from None
        if line is None:
            self.errors.seek(0)
            tail = self.errors.read().strip().splitlines()[-3:]
            raise PhaseError(f"worker exited with {self.process.wait()}: {' | '.join(tail)}")
        answer = json.loads(line)
        if answer.get("error"):
            raise PhaseError(answer["error"])
        return answer

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


if __name__ == "__main__":
    raise SystemExit(main())
