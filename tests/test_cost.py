"""Cost estimates of the large-scale profiles (cost.py), the linear learning-rate scaling rule, and
the JPEG part of make bench (run once on a tiny tree; never timed against a threshold)."""

import pytest
import torch
from torch import nn

from imbalance_baselines.cli import bench_jpeg
from conftest import record_entry
from imbalance_baselines.study import cost, methods as study
from imbalance_baselines.models import MODELS
from imbalance_baselines.train.schedule import linear_scaled_lr


class TinyConv(nn.Module):
    """conv3x3(3->4, no bias) on 8x8 -> global average pool -> linear 4 -> C: FLOPs countable by hand."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x):
        return self.fc(self.conv(x).mean(dim=(2, 3)))


MODELS._entries.setdefault("test_tiny_conv", TinyConv)


def test_forward_flops_of_a_tiny_conv_net_by_hand():
    # conv: 8*8 outputs x 4 channels x (3*3*3) multiply-adds; linear: 4 x 5 multiply-adds; 2 FLOPs each
    # (the counter counts matrix products and convolutions, not the mean or the bias additions).
    expected = 2 * (8 * 8 * 4 * 27) + 2 * (4 * 5)
    assert cost.forward_flops("test_tiny_conv", num_classes=5, image_size=8) == expected


def test_forward_flops_of_resnet50_is_the_published_figure():
    # He et al. 2016, Table 1: 3.8 x 10^9 FLOPs (multiply-adds) for ResNet-50; torchvision's v1.5
    # (stride in the 3x3 convolution) has 4.1 G multiply-adds, i.e. 8.2 GFLOPs.
    assert cost.forward_flops("resnet50", 1000) / 2e9 == pytest.approx(4.1, abs=0.05)


def test_run_flops_counts_stage1_evaluations_stage2_and_seeds():
    params = {"dataset": {"name": "synthetic_split_files", "class_counts": [10, 5], "val_per_class": 2,
                          "test_per_class": 3, "image_size": 8},
              "model": "test_tiny_conv", "train": {"epochs": 4, "eval_every": 3},
              "stage2": {"cRT": {"epochs": 2}, "tau-norm": {}}, "seeds": [0, 1]}
    forward = cost.forward_flops("test_tiny_conv", 2, 8)
    train, val, test = 15, 4, 6
    stage1 = 3 * train * 4 + test * 2 + test + val  # evaluations after epochs 3 and 4, then test + val
    stage2 = (2 * train + val + test) + (val + test)
    assert cost.run_flops(params) == forward * (stage1 + stage2) * 2


def test_split_sizes_use_the_published_counts():
    assert cost.split_sizes({"name": "imagenet_lt"}) == {"train": 115_846, "val": 20_000, "test": 50_000,
                                                         "classes": 1000}
    assert cost.split_sizes({"name": "inaturalist2018"})["classes"] == 8142
    with pytest.raises(ValueError, match="not a large-scale dataset"):
        cost.split_sizes({"name": "cifar10_lt"})


def test_gpu_hours_follow_the_calibration():
    gpu = cost.REFERENCE_GPU
    one_hour = gpu.images_per_second * 3600 * 3 * cost.forward_flops(gpu.model, 1000, gpu.image_size)
    assert cost.gpu_hours(one_hour) == pytest.approx(1.0)
    # a CPU at the GPU's image rate on the GPU's own model is exactly as fast (at 1,000 vs 10 classes
    # the head's FLOPs differ slightly)
    assert cost.cpu_slowdown(gpu.model, gpu.images_per_second) == pytest.approx(1.0, rel=1e-3)


def test_cost_table_has_a_row_per_benchmark_file():
    table = cost.cost_table(["imagenet-lt", "places-lt", "mini-imagenet-lt", "inat2018"])
    assert list(table["file"]) == ["07_large_scale.yaml"] * 3 + ["07_large_scale.e200.yaml",
                                                                 "07_large_scale.e90.yaml"]
    hours = dict(zip(table["file"] + table["profile"], table.iloc[:, -1]))
    assert hours["07_large_scale.e200.yamlinat2018"] > hours["07_large_scale.e90.yamlinat2018"] > 0


@pytest.mark.parametrize("base, total, reference, expected", [
    (0.2, 512, 512, 0.2), (0.2, 256, 512, 0.1), (0.2, 128, 512, 0.05), (0.01, 2048, 512, 0.04)])
def test_linear_scaling_rule(base, total, reference, expected):
    assert linear_scaled_lr(base, total, reference) == pytest.approx(expected)


def test_linear_scaling_refuses_an_empty_batch():
    with pytest.raises(ValueError, match="total_batch=0"):
        linear_scaled_lr(0.1, 0, 512)


def test_scaled_learning_rate_counts_processes(monkeypatch):
    train = {"batch_size": 128, "lr": 0.2, "epochs": 90}
    assert study.scaled_learning_rate(train, 512, processes=4)["lr"] == pytest.approx(0.2)
    assert study.scaled_learning_rate(train, 512, processes=1)["lr"] == pytest.approx(0.05)
    monkeypatch.setenv("WORLD_SIZE", "2")  # what torchrun --nproc-per-node 2 sets
    assert study.scaled_learning_rate(train, 512)["lr"] == pytest.approx(0.1)
    assert study.scaled_learning_rate(train, 0) == train


def test_initial_weights_name_the_missing_file(tmp_path):
    assert study.initial_weights("", tmp_path) == {}
    with pytest.raises(FileNotFoundError, match="resnet152_imagenet.pth is missing"):
        study.initial_weights("resnet152_imagenet.pth", tmp_path)
    torch.save({}, tmp_path / "w.pth")
    assert study.initial_weights("w.pth", tmp_path) == {"weights_path": str((tmp_path / "w.pth").resolve())}


def test_model_params_reach_the_run_and_keep_the_recipe_head():
    from imbalance_baselines.study.methods import METHODS
    from imbalance_baselines.train import TrainConfig

    config = TrainConfig(epochs=10)
    plain = METHODS.get("CE").run(config, model="resnet152")
    assert plain.model_params == {}  # unchanged when none are given (cache keys stay the same)
    run = METHODS.get("LDAM").run(config, model="resnet152", model_params={"weights_path": "/w.pth"})
    assert run.model_params["weights_path"] == "/w.pth" and run.model_params["head"] == "cosine"


def test_bench_jpeg_compares_both_loaders_on_the_same_tree():
    result = bench_jpeg.compare(classes=2, per_class=4, file_size=48, batch_size=4, workers=0)
    assert set(result) == {"pipeline", "reference", "ratio"}
    assert result["pipeline"] > 0 and result["reference"] > 0
    assert result["ratio"] == pytest.approx(result["pipeline"] / result["reference"])


def test_large_scale_results_average_seeds_per_profile(tmp_path):
    import json

    from imbalance_baselines.study import summary

    def run(method, seed, top1):
        return record_entry(method, seed, top1, epochs=90, factor=None, dataset="imagenet_lt",
                            test={"top1": top1, "many_shot": 0.6, "medium_shot": 0.4, "few_shot": 0.1, "ece": 0.05})

    (tmp_path / "imagenet-lt").mkdir()
    document = {"runs": [run("CE", 0, 0.44), run("CE", 1, 0.46), run("cRT", 0, 0.50)]}
    (tmp_path / "imagenet-lt" / "07_large_scale-imagenet_lt.json").write_text(json.dumps(document))
    table = summary.large_scale_results(tmp_path, ["imagenet-lt", "places-lt"])
    assert table.loc[("imagenet-lt", "imagenet_lt", 90, "CE"), "top-1"] == pytest.approx(45.0)
    assert table.loc[("imagenet-lt", "imagenet_lt", 90, "CE"), "seeds"] == 2
    assert table.loc[("imagenet-lt", "imagenet_lt", 90, "cRT"), "few"] == pytest.approx(10.0)
    assert summary.large_scale_results(tmp_path, ["places-lt"]).empty
