"""``make bench``: training throughput of the engine against a peers'-style reference, same run.

    python -m imbalance_baselines.cli.bench [--steps 30] [--threads N] [--part all|engine|jpeg|augment|recipes]

Prints, on CIFAR-10-LT-shaped data (12,406 images of 32x32; random pixels, since throughput does
not depend on them), ResNet-32, batch 128:
- images/s of the engine (tensor-resident data, batched augmentation on the device, channels_last,
  precision "auto"), one run;
- images/s of a reference pipeline written the way most peer repositories do it (PIL images,
  per-sample RandomCrop/RandomHorizontalFlip/ToTensor/Normalize, DataLoader with 2 workers,
  NCHW fp32), and the ratio (target >= 2.2 on a 2-core CPU with native bf16);
- the achieved GFLOP/s (FLOPs of one training step counted by torch's FlopCounterMode) and, on the
  CPU, its share of the cores' peak (``cpu_peak``: threads x clock x flop/cycle of the ISA, each
  assumption printed);
- K = 1, 2, 4 runs in one pass (one seed, different losses, so they share one batch stream), as
  images/s per run.
and (``bench_jpeg``) the JPEG pipeline's images/s with 2 workers next to a torchvision ImageFolder +
DataLoader reference, on a synthetic JPEG tree written to a temporary folder, and their ratio; and
(``--part augment``) the images/s of each stronger augmentation policy (``data.policies``) on one
128-image CIFAR batch, next to torchvision's AutoAugment / RandAugment applied one image at a time;
and (``--part recipes``) one epoch of each 2020-2022 recipe against CE's (SAM's two passes cost about
2 x, RIDE's experts more). Every figure is measured in this invocation on this machine; compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import platform
import re
import time
from pathlib import Path

import torch
import torchvision.transforms as T
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from . import bench_jpeg
from ..data.bundle import ImageSplit, LongTailedData
from ..data.profiles import counts
from ..models import MODELS
from ..train import RunSpec, TrainConfig, train
from ..train.precision import resolve_precision

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
LOSSES_FOR_K = [("ce", {}), ("balanced_softmax", {}), ("logit_adjusted", {"tau": 0.5}), ("focal", {"gamma": 1.0})]
# Peak flop per cycle and core of the widest FMA path, assuming 2 FMA units per core (Zen 5; Xeons
# with two AVX-512 FMA units). Zen 4 (512-bit instructions on 256-bit units) and one-unit Xeons have half.
FLOP_PER_CYCLE = {
    ("AVX512", "fp32"): (64, "AVX-512 FMA: 2 units x 16 fp32 lanes x 2 flop"),
    ("AVX512", "bf16"): (128, "AVX-512 BF16 VDPBF16PS: 2 units x 16 lanes x 2 bf16 products x 2 flop"),
    ("AMX", "bf16"): (2048, "AMX-BF16: 1,024 bf16 multiply-adds per cycle (Intel TMUL)"),
    ("AVX2", "fp32"): (32, "AVX2 FMA: 2 units x 8 fp32 lanes x 2 flop"),
}


def cifar10_lt_shaped(steps: int, batch_size: int = 128) -> LongTailedData:
    """Up to ``steps`` batches of random 32x32 images with CIFAR-10-LT IF100 labels (12,406 in all)."""
    per_class = counts(5000, 10, 100)  # 12,406 images in all
    labels = torch.repeat_interleave(torch.arange(10), torch.tensor(per_class))
    shuffled = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    firsts = torch.stack([shuffled[labels[shuffled] == c][0] for c in range(10)])  # every class present
    order = torch.cat([firsts, shuffled[~torch.isin(shuffled, firsts)]])[: max(steps * batch_size, 10)]
    generator = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (len(order), 3, 32, 32), dtype=torch.uint8, generator=generator)
    test = ImageSplit(images[:batch_size].clone(), labels[order][:batch_size].clone())
    return LongTailedData("bench", [str(c) for c in range(10)], ImageSplit(images, labels[order]), test,
                          mean=MEAN, std=STD, identity={"dataset": "bench", "train_images_hash": "random"})


def engine_images_per_second(data: LongTailedData, runs: int, device: str, precision: str) -> float:
    """Images per second and per run of one epoch over ``data`` with ``runs`` runs in one pass."""
    specs = [RunSpec(f"{loss}", loss=loss, loss_params=params) for loss, params in LOSSES_FOR_K[:runs]]
    config = TrainConfig(epochs=1, warmup_epochs=1, milestones=(), factors=(), precision=precision)
    train(specs[:1], _head(data, 2), config, device, progress=False)  # warm-up (allocator, kernels)
    started = time.perf_counter()
    train(specs, data, config, device, progress=False)
    return len(data.train) / (time.perf_counter() - started)


def _head(data: LongTailedData, batches: int) -> LongTailedData:
    """The first ``batches`` x 128 images plus the first of every class (losses need a count for each
    class)."""
    firsts = [torch.nonzero(data.train.labels == c).flatten()[:1] for c in range(data.num_classes)]
    index = torch.unique(torch.cat([torch.arange(min(batches * 128, len(data.train))), *firsts]))
    return LongTailedData(data.name, data.class_names, ImageSplit(data.train.images[index], data.train.labels[index]),
                          data.test, mean=data.mean, std=data.std, identity=data.identity)


class _PilImages(Dataset):
    """A peers'-style dataset: PIL images, transforms applied one sample at a time."""

    def __init__(self, split: ImageSplit) -> None:
        self.images = [Image.fromarray(image.permute(1, 2, 0).numpy()) for image in split.images]
        self.labels = split.labels.tolist()
        self.transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                                    T.Normalize(MEAN, STD)])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.images[index]), self.labels[index]


def reference_images_per_second(data: LongTailedData, device: str, workers: int = 2) -> float:
    """One epoch of the peers' pipeline: DataLoader + per-sample transforms + NCHW fp32 SGD."""
    model = MODELS.build("resnet32", num_classes=10).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=2e-4)
    loader = DataLoader(_PilImages(data.train), batch_size=128, shuffle=True, num_workers=workers,
                        persistent_workers=workers > 0)
    seen, started = 0, None
    for step, (x, y) in enumerate(loader):
        if step == 1:  # exclude worker start-up and the first step, as the engine's warm-up does
            started, seen = time.perf_counter(), 0
        loss = torch.nn.functional.cross_entropy(model(x.to(device)), y.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += len(y)
    return seen / (time.perf_counter() - started)


def flops_per_image(device: str) -> float:
    """FLOPs of one ResNet-32 training step (forward + backward) per image."""
    model = MODELS.build("resnet32", num_classes=10).to(device)
    x = torch.randn(8, 3, 32, 32, device=device)
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(model(x), torch.zeros(8, dtype=torch.long, device=device)).backward()
    return counter.get_total_flops() / 8


def cpu_clock_ghz() -> tuple[float, str]:
    """The cores' clock: the maximum from sysfs (what lscpu calls max MHz) if the kernel gives one,
    else the current clock of the first core in /proc/cpuinfo (a VM's nominal clock)."""
    maximum = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if maximum.exists():
        return int(maximum.read_text()) / 1e6, "maximum clock, sysfs cpuinfo_max_freq"
    found = re.search(r"^cpu MHz\s*:\s*([\d.]+)", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    if found is None:
        raise OSError("no clock in /proc/cpuinfo")
    return float(found.group(1)) / 1e3, "current clock, /proc/cpuinfo cpu MHz"


def cpu_peak(precision: str) -> tuple[float, str] | None:
    """Peak FLOP/s of the cores torch uses (one thread per core) in ``precision``, and how it was
    derived; None where the ISA or the clock is unknown."""
    isa = torch.backends.cpu.get_cpu_capability()
    if precision == "bf16" and torch.cpu._is_amx_tile_supported():
        isa = "AMX"
    elif precision == "bf16" and not torch.cpu._is_avx512_bf16_supported():
        return None  # bf16 emulated: no bf16 peak
    if (isa, precision) not in FLOP_PER_CYCLE:
        return None
    try:
        clock, clock_source = cpu_clock_ghz()
    except OSError:
        return None
    per_cycle, why = FLOP_PER_CYCLE[(isa, precision)]
    cores = torch.get_num_threads()
    return (cores * clock * 1e9 * per_cycle,
            f"{cores} cores x {clock:.2f} GHz ({clock_source}) x {per_cycle} flop/cycle ({why}, "
            "assuming 2 FMA units per core)")


def augmentation_images_per_second(device: str, repeats: int = 5) -> dict[str, tuple[float, float | None]]:
    """Per policy of ``data.policies.AUGMENTATIONS`` (defaults): images/s on one 128 x 3 x 32 x 32
    uint8 batch on ``device``, and for AutoAugment / RandAugment images/s of torchvision's own
    transform applied one image at a time under ``torch.random.fork_rng`` (the per-sample form the
    batched one replaced), else None. Median of ``repeats`` timings after a warm-up."""
    from ..data.policies import AUGMENTATIONS

    images = torch.randint(0, 256, (128, 3, 32, 32), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0)).to(device)
    per_image = {"autoaugment_cifar10": T.AutoAugment(T.AutoAugmentPolicy.CIFAR10),
                 "randaugment": T.RandAugment(num_ops=2, magnitude=9)}

    def one_by_one(transform: torch.nn.Module) -> torch.Tensor:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return torch.stack([transform(image) for image in images])

    def rate(run) -> float:
        timings = []
        for _ in range(repeats + 1):
            started = time.perf_counter()
            run()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            timings.append(time.perf_counter() - started)
        return len(images) / sorted(timings[1:])[repeats // 2]

    figures = {}
    for name in AUGMENTATIONS.names():
        policy = AUGMENTATIONS.build(name)
        batched = rate(lambda: policy(images, torch.Generator().manual_seed(1)))
        reference = rate(lambda: one_by_one(per_image[name])) if name in per_image else None
        figures[name] = (batched, reference)
    return figures


def augmentation_benchmark(args: argparse.Namespace) -> None:
    """Print ``augmentation_images_per_second`` (one line per policy)."""
    print(f"augmentation policies, one 128 x 3 x 32 x 32 uint8 batch, {args.device}, "
          f"{torch.get_num_threads()} threads:")
    for name, (batched, reference) in augmentation_images_per_second(args.device).items():
        line = f"  {name:20s} batched {batched:8.1f} img/s"
        if reference is not None:
            line += f"   torchvision per image {reference:8.1f} img/s   ratio {batched / reference:5.2f}"
        print(line)


# The 2020-2022 recipes whose cost differs from CE's (two passes, policies, experts), timed against CE.
RECIPES = ("CE", "CE + SAM", "CE + AutoAugment", "CE + RandAugment", "CE + Cutout", "CutMix", "Remix",
           "Label smoothing", "RIDE")


def recipe_benchmark(args: argparse.Namespace) -> None:
    """One epoch of each recipe alone (``study.methods``) on CIFAR-10-LT-shaped data: images/s and its
    cost against CE's on the same machine, in the same invocation."""
    from ..study.methods import METHODS

    precision = resolve_precision("auto", torch.device(args.device))
    data = cifar10_lt_shaped(args.steps)
    config = TrainConfig(epochs=1, warmup_epochs=1, milestones=(), factors=(), precision=precision)
    rates: dict[str, list[float]] = {}
    for name in (*RECIPES, "CE"):  # CE first and last: the spread of the same recipe within this run
        spec = METHODS.get(name).run(config, 0, {}, name=name)
        train([spec], _head(data, 2), config, args.device, progress=False)  # warm-up
        started = time.perf_counter()
        train([spec], data, config, args.device, progress=False)
        rates.setdefault(name, []).append(len(data.train) / (time.perf_counter() - started))
    ce = sum(rates["CE"]) / 2
    print(f"recipes, one epoch of {len(data.train)} images each, {precision}, {torch.get_num_threads()} threads; "
          f"CE first / last: {rates['CE'][0]:.1f} / {rates['CE'][1]:.1f} img/s (the run-to-run spread):")
    for name in RECIPES:
        rate = ce if name == "CE" else rates[name][0]  # CE's row: the mean of its two epochs
        print(f"  {name:18s} {rate:7.1f} img/s   {ce / rate:5.2f} x CE's time per epoch")


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``make bench``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=97,
                        help="batches per measured epoch (97: the 12,406 images of CIFAR-10-LT IF100)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--part", choices=("all", "engine", "jpeg", "augment", "recipes"), default="all",
                        help="the engine benchmark, the JPEG pipeline benchmark, the augmentation "
                             "policies, the recipes' cost against CE, or all")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.part in ("all", "engine"):
        engine_benchmark(args)
    if args.part in ("all", "jpeg"):
        jpeg = bench_jpeg.compare()
        print(f"JPEG pipeline (decode_jpeg + transforms.v2, 2 workers): {jpeg['pipeline']:7.1f} img/s")
        print(f"reference (ImageFolder + PIL transforms, 2 workers):    {jpeg['reference']:7.1f} img/s")
        print(f"ratio JPEG pipeline / reference:                        {jpeg['ratio']:7.2f}")
    if args.part in ("all", "augment"):
        augmentation_benchmark(args)
    if args.part in ("all", "recipes"):
        recipe_benchmark(args)
    return 0


def engine_benchmark(args: argparse.Namespace) -> None:
    """The engine against the peers'-style CIFAR reference (see the module docstring)."""
    precision = resolve_precision("auto", torch.device(args.device))
    data = cifar10_lt_shaped(args.steps)
    print(f"machine: {platform.machine()}, {args.device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"engine precision {precision}; {len(data.train)} images per measurement")
    engine = engine_images_per_second(data, 1, args.device, precision)
    engine_fp32 = engine_images_per_second(data, 1, args.device, "fp32")
    reference = reference_images_per_second(data, args.device)
    flops = flops_per_image(args.device)
    print(f"engine ({precision}, channels_last):       {engine:7.1f} img/s   {engine * flops / 1e9:6.1f} GFLOP/s")
    print(f"engine (fp32, channels_last):       {engine_fp32:7.1f} img/s   {engine_fp32 * flops / 1e9:6.1f} GFLOP/s")
    print(f"reference (PIL + DataLoader, fp32): {reference:7.1f} img/s   {reference * flops / 1e9:6.1f} GFLOP/s")
    print(f"ratio engine / reference:           {engine / reference:7.2f}   (target >= 2.2 on a 2-core CPU)")
    print(f"ratio engine fp32 / reference:      {engine_fp32 / reference:7.2f}")
    print(f"FLOPs per training image: {flops / 1e6:.0f} M (FlopCounterMode, forward + backward)")
    for name, rate in {precision: engine, "fp32": engine_fp32}.items():
        peak = cpu_peak(name) if args.device == "cpu" else None
        if peak is not None:
            print(f"engine step, {name}: {128 / rate * 1e3:.0f} ms per batch of 128, {rate * flops / 1e9:.1f} "
                  f"GFLOP/s = {100 * rate * flops / peak[0]:.0f}% of the peak {peak[0] / 1e9:.0f} GFLOP/s\n"
                  f"  peak = {peak[1]}")
    for runs in (1, 2, 4):
        per_run = engine if runs == 1 else engine_images_per_second(data, runs, args.device, precision)
        print(f"K = {runs} runs in one pass: {per_run:7.1f} img/s per run, {runs * per_run:7.1f} img/s in all; "
              f"the pass costs {engine / per_run:.2f} x one run (K runs one after another: {runs} x)")


if __name__ == "__main__":
    raise SystemExit(main())
