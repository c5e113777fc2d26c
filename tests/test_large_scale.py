"""The large-scale path end to end on a synthetic ImageNet-LT-layout fixture: split files -> JPEG
pipeline -> torchvision ResNet -> two-stage methods -> many/medium/few table."""

import pytest
import torch

from conftest import stored_runs
from imbalance_baselines.study.execute import load_data
from imbalance_baselines.study.params import DatasetParams
from imbalance_baselines.study.store import Store
from imbalance_baselines.models import MODELS
from imbalance_baselines.train import RunSpec, TrainConfig


@pytest.fixture(scope="module")
def fixture_data(tmp_path_factory):
    return load_data(DatasetParams("synthetic_split_files", {"class_counts": [30, 12, 4], "image_size": 64,
                                                             "workers": 0}), tmp_path_factory.mktemp("data"))


def test_resnet10_is_one_basic_block_per_stage():
    model = MODELS.build("resnet10", num_classes=5)
    assert [len(getattr(model.backbone, f"layer{i}")) for i in range(1, 5)] == [1, 1, 1, 1]
    assert model.feature_dim == 512 and model(torch.randn(1, 3, 64, 64)).shape == (1, 5)


def test_train_then_two_stage_on_streamed_jpegs(fixture_data, tmp_path):
    data = fixture_data
    assert data.class_counts == [30, 12, 4] and data.val is not None
    config = TrainConfig(epochs=2, batch_size=16, warmup_epochs=1, milestones=(), factors=(),
                         precision="fp32", eval_every=1)
    runs = [RunSpec("CE", model="resnet10"), RunSpec("CE-CB", model="resnet10", sampler="class_balanced")]
    results = dict(zip(["CE", "CE-CB"], stored_runs(runs, data, config, tmp_path)))
    for result in results.values():
        test = result.test
        assert len(test["per_class_accuracy"]) == 3 and 0 <= test["top1"] <= 1
        assert {"many_shot", "medium_shot", "few_shot"} <= set(test)
        assert test["few_shot"] is not None and test["many_shot"] is None  # counts 30/12 medium, 4 few
    assert len(results["CE"].history) == 2 and results["CE"].history[-1]["test_acc"] is not None
    for method in ("cRT", "tau-norm"):
        outcome = Store(tmp_path).run_stage2(results["CE"], data, method, {"epochs": 1} if method == "cRT" else {},
                                             "cpu", 0)
        assert 0 <= outcome.test["top1"] <= 1
