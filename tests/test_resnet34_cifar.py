"""The CIFAR ResNet-34 of weight balancing's code: torchvision's ResNet-34 with a 3x3 stem."""

import pytest
import torch

from imbalance_baselines.models import MIX_POINTS, MODELS


def basic_blocks(blocks: int, in_channels: int, width: int) -> int:
    """Parameters of a stage of basic blocks (two 3x3 convolutions without bias and two BatchNorms
    each); the first block has a 1x1-convolution + BN shortcut when the width changes."""
    first = in_channels * width * 9 + width * width * 9 + 2 * 2 * width
    if in_channels != width:
        first += in_channels * width + 2 * width
    return first + (blocks - 1) * (2 * width * width * 9 + 2 * 2 * width)


def test_parameter_count_by_hand():
    model = MODELS.build("resnet34_cifar", num_classes=100)
    stem = 3 * 64 * 9 + 2 * 64
    stages = (basic_blocks(3, 64, 64) + basic_blocks(4, 64, 128) + basic_blocks(6, 128, 256)
              + basic_blocks(3, 256, 512))
    expected = stem + stages + 512 * 100 + 100
    assert expected == 21_328_292
    assert sum(p.numel() for p in model.parameters()) == expected
    # Equal to torchvision's ImageNet ResNet-34 less its 7x7 stem and 1000-way classifier.
    imagenet = 21_797_672
    assert expected == imagenet - 3 * 64 * 49 - (512 * 1000 + 1000) + 3 * 64 * 9 + 512 * 100 + 100


def test_shapes_features_and_the_stem():
    model = MODELS.build("resnet34_cifar", num_classes=10).eval()
    x = torch.randn(2, 3, 32, 32)
    assert model(x).shape == (2, 10) and model.features(x).shape == (2, 512) and model.feature_dim == 512
    stem = model.stem[0]
    assert (stem.kernel_size, stem.stride, stem.padding, stem.bias) == ((3, 3), (1, 1), (1, 1), None)
    assert [len(s) for s in (model.stage1, model.stage2, model.stage3, model.stage4)] == [3, 4, 6, 3]
    torch.testing.assert_close(model.classifier(model.features(x)), model(x))


def test_mix_points_see_the_expected_shapes():
    model = MODELS.build("resnet34_cifar", num_classes=4).eval()
    shapes = {"input": (2, 3, 32, 32), "stem": (2, 64, 32, 32), "stage1": (2, 64, 32, 32),
              "stage2": (2, 128, 16, 16), "stage3": (2, 256, 8, 8), "pool": (2, 512)}
    for point in MIX_POINTS:
        seen = []
        model(torch.randn(2, 3, 32, 32), point, lambda h: (seen.append(tuple(h.shape)), h)[1])
        assert seen == [shapes[point]]
    with pytest.raises(ValueError, match="mix_point='stage4'"):
        model(torch.randn(2, 3, 32, 32), "stage4", lambda h: h)


def test_cosine_head_is_accepted():
    model = MODELS.build("resnet34_cifar", num_classes=3, head="cosine", head_params={"scale": 16.0}).eval()
    assert model(torch.randn(1, 3, 32, 32)).abs().max() <= 16.0 + 1e-4
