"""ResNet-32 structure (He et al. 2016, SPEC 5), heads, and the torchvision backbone."""

import pytest
import torch

from imbalance_baselines.models import MIX_POINTS, MODELS, CosineClassifier


def test_resnet32_parameter_count_matches_he_et_al():
    model = MODELS.build("resnet32", num_classes=10)
    # 3x3 convs: stem 3*16*9; stage widths 16/32/64 with 5 blocks each (2 convs per block);
    # BN has 2 parameters per channel; linear 64*10 + 10. Counted by hand from the architecture.
    convs = 3 * 16 * 9 + 10 * 16 * 16 * 9 + (16 * 32 * 9 + 9 * 32 * 32 * 9) + (32 * 64 * 9 + 9 * 64 * 64 * 9)
    batchnorms = 2 * (16 + 10 * 16 + 10 * 32 + 10 * 64)
    expected = convs + batchnorms + 64 * 10 + 10
    assert sum(p.numel() for p in model.parameters()) == expected
    assert 0.45e6 < expected < 0.47e6


def test_resnet32_output_and_feature_shapes():
    model = MODELS.build("resnet32", num_classes=7).eval()
    x = torch.randn(3, 3, 32, 32)
    assert model(x).shape == (3, 7)
    assert model.features(x).shape == (3, 64)
    assert model.feature_dim == 64


def test_every_mix_point_is_visited_once_with_the_expected_shape():
    model = MODELS.build("resnet32", num_classes=4).eval()
    shapes = {"input": (2, 3, 32, 32), "stem": (2, 16, 32, 32), "stage1": (2, 16, 32, 32),
              "stage2": (2, 32, 16, 16), "stage3": (2, 64, 8, 8), "pool": (2, 64)}
    for point in MIX_POINTS:
        seen = []
        model(torch.randn(2, 3, 32, 32), point, lambda h: (seen.append(tuple(h.shape)), h)[1])
        assert seen == [shapes[point]]


def test_mix_fn_changes_the_output_and_unknown_point_is_refused():
    model = MODELS.build("resnet32", num_classes=4).eval()
    x = torch.randn(2, 3, 32, 32)
    assert not torch.equal(model(x), model(x, "pool", lambda h: h * 0))
    with pytest.raises(ValueError, match="mix_point='layer9'"):
        model(x, "layer9", lambda h: h)


def test_cosine_head_is_scaled_cosine_similarity():
    head = CosineClassifier(4, 3, scale=10.0)
    x = torch.randn(5, 4)
    expected = 10.0 * torch.stack([torch.nn.functional.cosine_similarity(x, w.expand_as(x), dim=1)
                                   for w in head.weight], dim=1)
    torch.testing.assert_close(head(x), expected)
    # Invariant to the norm of the feature and of each class vector.
    torch.testing.assert_close(head(3 * x), expected)


def test_channels_last_and_bf16_autocast_agree_with_fp32():
    torch.manual_seed(0)
    model = MODELS.build("resnet32", num_classes=10).eval()
    x = torch.randn(4, 3, 32, 32)
    reference = model(x)
    fast = model.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(fast, reference, rtol=1e-4, atol=1e-4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(x.contiguous(memory_format=torch.channels_last)).float()
    assert (low - reference).abs().max() < 0.1 * reference.abs().max() + 0.1


def test_torchvision_resnet50_features_and_unknown_model():
    model = MODELS.build("resnet50", num_classes=5).eval()
    x = torch.randn(1, 3, 64, 64)
    assert model.features(x).shape == (1, 2048)
    assert model(x).shape == (1, 5)
    with pytest.raises(KeyError, match="allowed: .*resnet32"):
        MODELS.build("resnet33", num_classes=5)


def test_local_weights_with_wrong_shapes_are_refused(tmp_path):
    small = MODELS.build("resnet50", num_classes=5)
    state = small.backbone.state_dict()
    state["conv1.weight"] = torch.zeros(8, 3, 7, 7)
    torch.save(state, tmp_path / "w.pt")
    with pytest.raises(ValueError, match="conv1.weight"):
        MODELS.build("resnet50", num_classes=5, weights_path=str(tmp_path / "w.pt"))


def test_bbn_resnet32_has_a_128d_feature_and_four_blocks_in_stage3():
    model = MODELS.build("resnet32_bbn", num_classes=100).eval()
    x = torch.randn(2, 3, 32, 32)
    assert model.features(x).shape == (2, 128) and model(x).shape == (2, 100)
    assert len(model.stage3) == 4
    # Parameters by hand: ResNet-32 minus one 64-channel block, plus two 64-channel blocks
    # (cb_block, rb_block), and a 128 -> 100 classifier instead of 64 -> 100.
    block64 = 2 * 64 * 64 * 9 + 4 * 64
    resnet32 = sum(p.numel() for p in MODELS.build("resnet32", num_classes=100).parameters())
    expected = resnet32 + block64 + 64 * 100
    assert sum(p.numel() for p in model.parameters()) == expected
    seen = []
    model(x, "pool", lambda h: (seen.append(h.shape), h)[1])
    assert seen == [(2, 128)]
