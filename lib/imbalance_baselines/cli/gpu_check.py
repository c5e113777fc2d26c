"""``make gpu-check``: is the first CUDA device ready for the full profile? Measured on it, in minutes.

    python -m imbalance_baselines.cli.gpu_check [--device cuda] [--budget-seconds 480] [--out FILE]
                                                [--data-dir DATA_DIR] [--tiny]

Every figure comes from the engine's ``train`` (ResNet-32, batch 128, precision "auto", channels_last)
in worker processes (``gpu_workers``), so that a phase that overruns the budget or fails is killed
without ending the check. Phases, in order:

1. probe: one run of 3 epochs of 96 full batches of CIFAR-10-LT-shaped random data, eager and under
   ``torch.compile(mode="reduce-overhead")`` (CUDA graphs); images/s after a warm-up of the same run
   (its time, compilation included, is printed apart). Both warm up at once and are measured one
   after the other. The faster way is used from here on.
2. full run: CE with the protocol schedule (TrainConfig's defaults: 200 epochs, lr 0.1, warm-up 5,
   x0.01 at 160 and x0.0001 at 180, evaluation every 10) on real CIFAR-10-LT IF100 when
   ``DATA_DIR/cifar-10-batches-py`` exists, else on synthetic data of the same shape: wall time
   (start-up and recompilation included), images/s, final top-1.
3. concurrency: K = 1, 4, 8, 16 runs (seeds 0..K-1) like the probe's at once, (a) in one engine
   pass (one ``train`` call: K groups, stepped one after another) and (b) in K processes released
   together by a barrier; images/s in all and per run.
4. estimate: the full profile's GPU time (``profile_images``) from 2 and the best speed-up of 3.

A phase starts only when its expected time fits what is left of ``--budget-seconds`` and is killed
when it overruns; what was skipped is printed and written. The figures are written (``--out``) after
every phase. ``--tiny`` runs every phase at a tiny size (ResNet-8, 70 synthetic images, batch 16, 3
epochs, K in {1, 2}, one thread per process, compile backend ``eager``: graph capture without code
generation): a test of the command (``tests/test_gpu_check.py``), not a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from ..data import counts
from ..paths import params_dir
from ..train import TrainConfig
from ..train.precision import resolve_precision
from .gpu_workers import PhaseError, Worker, compile_options, scale

CPU_FP32_TOP1 = 71.98  # results/cpu-reference/cifar10_lt/runs/CE_seed_0-ab039be35bb8: CE, 200 epochs
TARGETS = {"full_run_seconds": 30.0, "cost_of_8_at_once": 0.3, "profile_gpu_hours": 1.0}
# The full profile per (dataset, IF, seed), from the notebooks' method lists: 01 trains 12 losses,
# 02 seven samplers beyond CE, 03 six mix-ups beyond CE, 05 the cosine-classifier CE and its CBD
# student (04 reuses CE): 27 runs, of which 5 share their epochs before the first milestone with
# another run (CE-DRW and CE-DRS with CE, LDAM-DRW with LDAM, both mix-up + FT with mix-up).
RUNS_PER_STUDY, SHARED_PREFIX_RUNS = 27, 5
N_MAX = {"cifar10_lt": (5000, 10), "cifar100_lt": (500, 100)}  # images of the head class, classes


class Check:
    """The phases against one time budget; ``figures`` is the report (printed and written as JSON)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args, self.started = args, time.monotonic()
        self.deadline = self.started + args.budget_seconds
        self.scale = scale(args.tiny)
        self.workers: list[Worker] = []
        device = torch.device(args.device)
        self.figures: dict[str, Any] = {
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "torch": torch.__version__, "precision": resolve_precision("auto", device), "tiny": args.tiny,
            "budget_seconds": args.budget_seconds, "skipped": []}

    def save(self, phase: str) -> None:
        """Complete the figures so far, and write them (after every phase: a killed check keeps them)."""
        self.figures["faster"] = faster_way(self.figures)
        self.figures["targets"] = targets(self.figures)
        self.figures["seconds"] = time.monotonic() - self.started
        print(f"[{self.figures['seconds']:4.0f} s] {phase}: done", flush=True)
        if self.args.out is not None:
            self.args.out.parent.mkdir(parents=True, exist_ok=True)
            self.args.out.write_text(json.dumps(self.figures, indent=1))

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def skip(self, what: str, why: str) -> None:
        self.figures["skipped"].append(f"{what}: {why}")
        print(f"skipped {what}: {why}", flush=True)

    def spawn(self, compiled: bool, compile_threads: int | None = None) -> Worker:
        self.workers.append(Worker(self.args.device, self.args.data_dir, compiled, self.args.tiny, compile_threads))
        return self.workers[-1]

    def probe(self) -> Worker | None:
        """Both ways, one run; returns the faster way's worker (the other is stopped). Both warm up at
        once, then are measured one after the other, so that no compilation runs beside a measurement."""
        workers = {name: self.spawn(name == "compiled") for name in ("eager", "compiled")}
        # Compilation may take at most 40% of the budget, so that the other phases keep time.
        limits = {"eager": self.deadline, "compiled": self.started + 0.4 * self.args.budget_seconds}
        warmups, ways = {}, {}
        for name, worker in workers.items():
            try:
                warmups[name] = worker.receive(limits[name])["seconds"]
            except PhaseError as error:
                worker.stop()  # a compilation still running would slow the other way's measurement
                self.skip(f"probe ({name})", str(error))
        for name, warmup in warmups.items():
            try:
                workers[name].send({"runs": 1})
                ways[name] = {**timing(workers[name].receive(self.deadline)), "warmup_seconds": warmup}
            except PhaseError as error:
                self.skip(f"probe ({name})", str(error))
                continue
            ways[name]["images_per_second"] = ways[name]["images"] / ways[name]["seconds"]
        if not ways:
            return None
        best = max(ways, key=lambda name: ways[name]["images_per_second"])
        for name, worker in workers.items():
            if name != best:
                worker.stop()
        self.figures["compile"] = compile_options(best == "compiled", self.args.tiny)
        self.figures["probe"] = ways
        return workers[best]

    def full_run(self, worker: Worker) -> None:
        measured = self.scale
        rate = max(way["images_per_second"] for way in self.figures["probe"].values())
        # Training at the probe's rate plus a warm-up's worth of recompilation (new batch shapes).
        expected = measured["full"].epochs * len(measured["data"].train) / rate + max(
            way["warmup_seconds"] for way in self.figures["probe"].values())
        if expected > self.left():
            return self.skip("full run", f"expected {expected:.0f} s from the probe, {self.left():.0f} s left")
        try:
            worker.send({"full": True})
            full = worker.receive(self.deadline)
        except PhaseError as error:
            return self.skip("full run", str(error))
        self.figures["full_run"] = {**full, "epochs": measured["full"].epochs,
                                    "images_per_second": full["images"] / full["seconds"]}

    def concurrency(self, worker: Worker) -> None:
        """K runs in one engine pass (``worker``), then in K processes (``worker`` and K - 1 more)."""
        ks = self.scale["ks"]
        one = self.figures["probe"]["compiled" if self.figures["compile"] else "eager"]
        table: dict[str, dict[str, Any]] = {"one_pass": {}, "processes": {}}
        for k in ks:
            if k * one["seconds"] > self.left():
                self.skip(f"one pass, K = {k}", f"expected {k * one['seconds']:.0f} s, {self.left():.0f} s left")
                break
            try:
                worker.send({"runs": k})
                table["one_pass"][str(k)] = timing(worker.receive(self.deadline))
            except PhaseError as error:
                self.skip(f"one pass, K = {k}", str(error))
                break
        # One compile process each: K - 1 processes compiling at once (from inductor's cache, warm from
        # the probe) would otherwise start a pool of one per core each.
        pool = [worker] + [self.spawn(bool(self.figures["compile"]), 1) for _ in range(max(ks) - 1)]
        try:
            for extra in pool[1:]:
                extra.receive(self.deadline)
            for k in ks:
                for member in pool[:k]:
                    member.send({"runs": 1})
                answers = [member.receive(self.deadline) for member in pool[:k]]
                table["processes"][str(k)] = {"seconds": max(a["seconds"] for a in answers),
                                              "images": sum(a["images"] for a in answers)}
        except PhaseError as error:
            self.skip("processes", str(error))
        for way in table.values():
            for k, row in way.items() if "1" in way else ():
                row["images_per_second"] = row["images"] / row["seconds"]
                row["per_run"] = row["images_per_second"] / int(k)
                row["cost_vs_one_after_another"] = way["1"]["images_per_second"] / row["images_per_second"]
        self.figures["concurrency"] = table

    def estimate(self) -> None:
        """The full profile's GPU time from the full run's rate times the best measured speed-up."""
        images, studies = profile_images(params_dir() / "full")
        rows = [row for way in self.figures.get("concurrency", {}).values() for row in way.values()]
        speedup = max([1 / row["cost_vs_one_after_another"] for row in rows if "cost_vs_one_after_another" in row],
                      default=1.0)
        if "full_run" in self.figures:
            rate, source = self.figures["full_run"]["images_per_second"], "the full run (evaluation included)"
        else:
            rate = max(way["images_per_second"] for way in self.figures["probe"].values())
            source = "the probe (no evaluation: the full run was skipped)"
        self.figures["estimate"] = {
            "training_images": images, "studies": studies, "speedup": speedup,
            "gpu_hours": images / (rate * speedup) / 3600,
            "assumptions": [
                f"{RUNS_PER_STUDY} runs per dataset, IF and seed, {SHARED_PREFIX_RUNS} of them training only "
                "the epochs after the first milestone (shared prefix); studies and seeds from params/full",
                "every epoch draws the training set once (over-sampling draws more, under-sampling less)",
                f"images/s of one run from {source}, times the best concurrency speed-up measured "
                f"({speedup:.2f}x); stage-2 methods (a few percent) left out"]}


def timing(answer: dict[str, Any]) -> dict[str, float]:
    """Seconds and images of a worker's answer (its top-1 on random data means nothing)."""
    return {"seconds": answer["seconds"], "images": answer["images"]}


def profile_images(params: Path) -> tuple[int, list[str]]:
    """Training images of the full profile's stage-1 runs, and the studies counted (dataset, IF)."""
    seeds: dict[tuple[str, float], tuple[int, TrainConfig]] = {}
    for path in sorted(params.glob("*.yaml")):
        described = yaml.safe_load(path.read_text())
        dataset = described.get("dataset", {})
        if "train" in described and dataset.get("name") in N_MAX:
            config = TrainConfig(**described["train"])
            seeds[(dataset["name"], float(dataset["imbalance_factor"]))] = (len(described["seeds"]), config)
    images = 0
    for (name, factor), (count, config) in seeds.items():
        epochs = RUNS_PER_STUDY * config.epochs - SHARED_PREFIX_RUNS * config.milestones[0]
        images += count * epochs * sum(counts(*N_MAX[name], factor))
    return images, [f"{name} IF {factor:g} x {count} seeds" for (name, factor), (count, _) in seeds.items()]


def targets(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target next to its measured figure (None when not measured)."""
    ratios = [way["8"]["cost_vs_one_after_another"] for way in figures.get("concurrency", {}).values() if "8" in way]
    measured = {"full_run_seconds": figures.get("full_run", {}).get("seconds"),
                "cost_of_8_at_once": min(ratios, default=None),
                "profile_gpu_hours": figures.get("estimate", {}).get("gpu_hours")}
    return [{"name": name, "target": limit, "measured": measured[name],
             "met": None if measured[name] is None else measured[name] <= limit} for name, limit in TARGETS.items()]


def report(figures: dict[str, Any]) -> None:
    """The figures as text."""
    print(f"gpu-check on {figures['device']}, torch {figures['torch']}, precision {figures['precision']}, "
          f"channels_last; budget {figures['budget_seconds']:.0f} s; kept: "
          f"{'torch.compile ' + json.dumps(figures['compile']) if figures.get('compile') else 'eager'}")
    for name, way in figures.get("probe", {}).items():
        print(f"probe {name:8s}: {way['images_per_second']:9.0f} img/s (warm-up {way['warmup_seconds']:.1f} s)")
    if "full_run" in figures:
        full = figures["full_run"]
        reference = f" (CPU fp32: {CPU_FP32_TOP1:.2f} %)" if full["real"] else " (synthetic: not comparable)"
        print(f"full run, CE, {full['epochs']} epochs, {full['data']}: {full['seconds']:.1f} s, "
              f"{full['images_per_second']:.0f} img/s, final top-1 {full['top1']:.2f} %{reference}")
    for way, rows in figures.get("concurrency", {}).items():
        for k, row in rows.items():
            print(f"{way:9s} K = {k:>2}: {row['images_per_second']:9.0f} img/s in all, {row['per_run']:9.0f} "
                  f"per run; costs {row['cost_vs_one_after_another']:.2f} x K runs one after another")
    if figures.get("faster"):
        print(f"faster at K = {figures['faster']['k']}: {figures['faster']['way']}")
    if "estimate" in figures:
        estimate = figures["estimate"]
        print(f"full profile: {estimate['training_images'] / 1e9:.2f} G training images "
              f"({', '.join(estimate['studies'])}) -> {estimate['gpu_hours']:.2f} GPU-hours")
        for assumption in estimate["assumptions"]:
            print(f"  assumes {assumption}")
    for target in figures["targets"]:
        verdict = "not measured" if target["met"] is None else ("met" if target["met"] else "not met")
        value = "-" if target["measured"] is None else f"{target['measured']:.2f}"
        print(f"target {target['name']} <= {target['target']}: {value}  {verdict}")
    for skipped in figures["skipped"]:
        print(f"skipped {skipped}")


def faster_way(figures: dict[str, Any]) -> dict[str, Any] | None:
    """Which way gives more images/s at the largest K both measured."""
    table = figures.get("concurrency", {})
    common = set(table.get("one_pass", {})) & set(table.get("processes", {}))
    if not common:
        return None
    k = max(common, key=int)
    way = max(table, key=lambda name: table[name][k]["images_per_second"])
    return {"k": int(k), "way": way}


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``make gpu-check``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="a CUDA device (default: the first), or cpu with --tiny")
    parser.add_argument("--budget-seconds", type=float, default=480.0, help="time for every phase in all")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("DATA_DIR", "data")),
                        help="where cifar-10-batches-py may be (default: $DATA_DIR or data)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON to this file")
    parser.add_argument("--tiny", action="store_true", help="every phase at a tiny size (a test, not a measurement)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu-check: no CUDA device here; run it on a GPU machine, or with --device cpu --tiny", file=sys.stderr)
        return 2
    check = Check(args)
    try:
        best = check.probe()
        check.save("probe")
        if best is not None:
            for name, phase in (("full run", lambda: check.full_run(best)),
                                ("concurrency", lambda: check.concurrency(best)), ("estimate", check.estimate)):
                phase()
                check.save(name)
    finally:
        for worker_process in check.workers:
            worker_process.stop()
    report(check.figures)
    if args.out is not None:
        print(f"figures written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
