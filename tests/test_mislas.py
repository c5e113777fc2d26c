"""MiSLAS stage 2 (Zhong et al. 2021): label-aware smoothing + shifted BatchNorm on a copy of the
frozen network; the head maps images to logits."""

from __future__ import annotations

import pytest
import torch

from imbalance_baselines.data.synthetic import make_synthetic_lt
from imbalance_baselines.models import MODELS
from imbalance_baselines.stage2 import TWO_STAGE, FrozenBackbone, check_stage2
from imbalance_baselines.stage2.mislas import ShiftedNetwork


@pytest.fixture(scope="module")
def data():
    return make_synthetic_lt(num_classes=4, n_max=40, imbalance_factor=8, test_per_class=5, seed=3)


def backbone_of(data) -> FrozenBackbone:
    torch.manual_seed(0)
    return FrozenBackbone(MODELS.build("resnet8", num_classes=data.num_classes), data)


def _is_bn_statistic(key: str) -> bool:
    return key.endswith(("running_mean", "running_var", "num_batches_tracked"))


@pytest.fixture(scope="module")
def shifted(data):
    backbone = backbone_of(data)
    before = {k: v.clone() for k, v in backbone.model.state_dict().items()}
    head, info = TWO_STAGE.get("MiSLAS")(backbone, 0, epochs=2, lr=0.05, shift_bn=True)
    return backbone, before, head, info


def test_the_frozen_network_is_never_touched(shifted):
    backbone, before, _, _ = shifted
    for key, value in backbone.model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_bn_statistics_shift_and_no_other_network_weight_changes(shifted):
    backbone, before, head, _ = shifted
    after = head.network.state_dict()
    statistics = [k for k in after if _is_bn_statistic(k)]
    assert statistics and all(not torch.equal(after[k], before[k]) for k in statistics)
    convs = [k for k in after if k.endswith(".weight") and after[k].dim() == 4]
    assert convs
    for key in after:
        if not _is_bn_statistic(key) and not key.startswith("classifier."):
            assert torch.equal(after[key], before[key]), key  # conv weights, BN affine parameters
    assert not torch.equal(after["classifier.weight"], before["classifier.weight"])


def test_the_head_maps_images_to_logits_and_refuses_features(shifted, data):
    backbone, _, head, info = shifted
    assert isinstance(head, ShiftedNetwork) and head.maps_images and not head.training
    logits = backbone.source.map(head, "test", "fp32")
    assert logits.shape == (len(data.test), data.num_classes) and torch.isfinite(logits).all()
    with pytest.raises(ValueError, match="allowed: images"):
        head(backbone.features("test"))
    assert info["evaluate_on"] == "images" and info["shift_bn"] is True
    assert len(info["scales"]) == data.num_classes and info["scales"] != [1.0] * data.num_classes
    assert info["epsilons"][0] == pytest.approx(0.4) and info["epsilons"][-1] == pytest.approx(0.1)


def test_without_shift_only_the_classifier_and_scales_change(data):
    backbone = backbone_of(data)
    head, _ = TWO_STAGE.get("MiSLAS")(backbone, 0, epochs=1, shift_bn=False)
    for key, value in head.network.state_dict().items():
        if not key.startswith("classifier."):
            assert torch.equal(value, backbone.model.state_dict()[key]), key
    # unshifted, the adapted network's features are the frozen network's
    torch.testing.assert_close(backbone.source.map(head.features, "test", "fp32"), backbone.features("test"))


def test_reproducible_given_the_seed(data):
    first, _ = TWO_STAGE.get("MiSLAS")(backbone_of(data), 5, epochs=1)
    second, _ = TWO_STAGE.get("MiSLAS")(backbone_of(data), 5, epochs=1)
    for (key, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), key


@pytest.mark.parametrize("params, message", [
    ({"smooth_head": 1.0}, "MiSLAS.smooth_head=1.0 is out of range; allowed: a number in [0, 1)"),
    ({"shape": "exp"}, "MiSLAS.shape='exp' is out of range; allowed: 'concave' or 'linear' or 'convex'"),
    ({"shift_bn": 1}, "MiSLAS.shift_bn=1 is out of range; allowed: True or False"),
    ({"lr_factor": 0}, "MiSLAS.lr_factor=0 is out of range; allowed: a number > 0"),
    ({"tau": 1.0}, "MiSLAS.tau=1.0 is not a parameter of MiSLAS"),
])
def test_stage2_parameters_are_checked_before_training(params, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        check_stage2("MiSLAS", params, num_classes=10)
    check_stage2("MiSLAS", {"smooth_head": 0.3, "smooth_tail": 0.0, "shift_bn": False, "lr_factor": 0.5},
                 num_classes=10)
