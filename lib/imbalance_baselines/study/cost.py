"""What a large-scale run costs, estimated before it starts: GPU-hours from a FLOP count.

Estimates, not measurements. How they are made:

- FLOPs of one forward pass of the actual model (``models.MODELS``) at the run's image size, counted
  by ``torch.utils.flop_counter.FlopCounterMode`` on the meta device (shapes only, nothing computed;
  2 FLOPs per multiply-add, so ResNet-50 at 224 px is about 8.2 GFLOPs).
- A training step costs about 3 forward passes (the backward pass about twice the forward: Kaplan et
  al. 2020, "Scaling Laws for Neural Language Models", Sec. 2.1, the same 2:1 rule for any network
  dominated by matrix products and convolutions).
- A run = stage 1 (training every epoch over the training images, plus the test-set evaluations the
  engine makes every ``eval_every`` epochs and a final test + validation pass) and each stage-2
  method (cRT and LWS re-extract augmented training features every epoch; every method then extracts
  validation and test features), times the number of seeds.
- The sustained FLOP rate of the GPU is calibrated on one published measurement, :data:`REFERENCE_GPU`:
  NVIDIA's ResNet-50 v1.5 training throughput on one A100 80GB with mixed precision, 2,470 img/s
  (NVIDIA DeepLearningExamples, PyTorch/Classification/ConvNets/resnet50v1.5/README.md, "Training
  performance: NVIDIA DGX A100 (8x A100 80GB)", pytorch-21.03 container). That rate times ResNet-50's
  training FLOPs per image is assumed for every model, i.e. every model is assumed to use the GPU as
  well as a tuned ResNet-50 with a DALI input pipeline does; a slower data loader makes runs longer.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from ..data import DATASETS, KNOWN_COUNTS
from ..data.inaturalist import EXPECTED_CLASSES
from ..models import MODELS
from ..train.spec import TrainConfig

TRAINING_TO_FORWARD = 3  # forward + backward ~ 3 forward passes (Kaplan et al. 2020, Sec. 2.1)
# iNaturalist (Van Horn et al. 2018): images in the official train and val json files.
INATURALIST_IMAGES = {2017: {"train": 579_184, "val": 95_986}, 2018: {"train": 437_513, "val": 24_426}}


@dataclass(frozen=True)
class ReferenceGpu:
    """A published training throughput that calibrates the sustained FLOP rate of a GPU."""

    name: str
    model: str
    images_per_second: float
    image_size: int
    source: str

    def sustained_flops(self) -> float:
        """FLOP/s the GPU sustains on ``model``: throughput x training FLOPs per image."""
        return self.images_per_second * TRAINING_TO_FORWARD * forward_flops(self.model, 1000, self.image_size)


REFERENCE_GPU = ReferenceGpu(
    "NVIDIA A100 80GB, mixed precision", "resnet50", 2470.0, 224,
    "NVIDIA DeepLearningExamples resnet50v1.5 README, DGX A100 table, 1 GPU (pytorch-21.03)")


def forward_flops(model: str, num_classes: int, image_size: int = 224) -> int:
    """FLOPs of one forward pass of one image through ``model`` (FlopCounterMode, meta device)."""
    with torch.device("meta"):
        network = MODELS.build(model, num_classes=num_classes)
        x = torch.empty(1, 3, image_size, image_size)
    with FlopCounterMode(display=False) as counter:
        network(x)
    return counter.get_total_flops()


def _loader_defaults(name: str) -> dict[str, Any]:
    """The keyword defaults of a dataset's loader (``data.DATASETS``), e.g. its image size."""
    parameters = inspect.signature(DATASETS.get(name)).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def split_sizes(dataset: dict[str, Any]) -> dict[str, int]:
    """Images per split and classes of a large-scale dataset's parameters ({"name": ..., ...}):
    the published counts (``data.KNOWN_COUNTS``, iNaturalist's json files) or a synthetic fixture's."""
    name = dataset["name"]
    params = {**_loader_defaults(name), **dataset}
    if name.startswith("inaturalist"):
        year = int(name[-4:])
        return {"train": INATURALIST_IMAGES[year]["train"], "val": 0,
                "test": INATURALIST_IMAGES[year]["val"], "classes": EXPECTED_CLASSES[year]}
    if name == "synthetic_split_files":
        classes = len(params["class_counts"])
        return {"train": sum(params["class_counts"]), "val": params["val_per_class"] * classes,
                "test": params["test_per_class"] * classes, "classes": classes}
    if (name, "train") not in KNOWN_COUNTS:
        raise ValueError(f"dataset {name!r} is not a large-scale dataset; allowed: "
                         f"{', '.join(sorted({n for n, _ in KNOWN_COUNTS}))}, inaturalist2017/2018, "
                         "synthetic_split_files")
    return {**{split: KNOWN_COUNTS[(name, split)].num_images for split in ("train", "val", "test")},
            "classes": KNOWN_COUNTS[(name, "train")].num_classes}


def run_flops(params: dict[str, Any]) -> float:
    """FLOPs of every run of a 07_large_scale parameter set (stage 1 + stage 2, all seeds)."""
    sizes = split_sizes(params["dataset"])
    image_size = {**_loader_defaults(params["dataset"]["name"]), **params["dataset"]}["image_size"]
    forward = forward_flops(params["model"], sizes["classes"], image_size)
    epochs = params["train"]["epochs"]
    every = params["train"].get("eval_every", TrainConfig.eval_every)
    evaluations = epochs // every + (epochs % every != 0)
    stage1 = (TRAINING_TO_FORWARD * sizes["train"] * epochs + sizes["test"] * evaluations
              + sizes["test"] + sizes["val"])
    stage2 = sum(method.get("epochs", 0) * sizes["train"] + sizes["val"] + sizes["test"]
                 for method in params.get("stage2", {}).values())
    return float(forward * (stage1 + stage2) * len(params.get("seeds", [0])))


def gpu_hours(flops: float, gpu: ReferenceGpu = REFERENCE_GPU) -> float:
    """Hours on one ``gpu`` at its calibrated sustained FLOP rate."""
    return flops / gpu.sustained_flops() / 3600


def cost_table(profiles: Sequence[str], params_root: str | Path | None = None,
               notebook: str = "07_large_scale", gpu: ReferenceGpu = REFERENCE_GPU) -> pd.DataFrame:
    """One row per parameter file ``params_root/<profile>/<notebook>*.yaml`` (default: the project's
    ``params/``): the recipe and its estimated cost (GPU-hours on ``gpu``, stage 1 and 2, all seeds)."""
    from .yaml12 import read_params
    from ..paths import params_dir

    rows = []
    for profile in profiles:
        for path in sorted((Path(params_root or params_dir()) / profile).glob(f"{notebook}*.yaml")):
            params = read_params(path)
            sizes = split_sizes(params["dataset"])
            flops = run_flops(params)
            rows.append({"profile": profile, "file": path.name, "dataset": params["dataset"]["name"],
                         "model": params["model"], "train images": sizes["train"],
                         "epochs": params["train"]["epochs"], "seeds": len(params.get("seeds", [0])),
                         "PFLOP": flops / 1e15, f"GPU-hours ({gpu.name})": gpu_hours(flops, gpu)})
    return pd.DataFrame(rows)


def measured_cpu_images_per_second(model: str, num_classes: int = 10, image_size: int = 224,
                                   batch_size: int = 2, steps: int = 2) -> float:
    """Training images/s of ``model`` on this CPU (SGD steps on random images, fp32; the first step
    is a warm-up and not timed). A measurement of this machine, for comparison with the estimate."""
    network = MODELS.build(model, num_classes=num_classes)
    optimizer = torch.optim.SGD(network.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch_size, 3, image_size, image_size)
    y = torch.arange(batch_size) % num_classes
    started = math.nan
    for step in range(steps + 1):
        if step == 1:
            started = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(network(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return batch_size * steps / (time.perf_counter() - started)


def cpu_slowdown(model: str, images_per_second: float, image_size: int = 224,
                 gpu: ReferenceGpu = REFERENCE_GPU) -> float:
    """How many times longer a run takes on a CPU that trains ``model`` at ``images_per_second``
    than on ``gpu`` (ratio of sustained FLOP rates; GPU-hours x this = CPU-hours)."""
    cpu_flops = images_per_second * TRAINING_TO_FORWARD * forward_flops(model, 10, image_size)
    return gpu.sustained_flops() / cpu_flops
