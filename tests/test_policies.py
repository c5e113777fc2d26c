"""Stronger augmentation policies on uint8 batches: AutoAugment (CIFAR-10), RandAugment, Cutout."""

from __future__ import annotations

import pytest
import torch
import torchvision.transforms.v2.functional as TF

from imbalance_baselines.data.policies import AUGMENTATIONS, AutoAugmentCifar10, Cutout, RandAugment

NAMES = ["autoaugment_cifar10", "randaugment", "cutout"]


def images(n: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 32, 32), generator=torch.Generator().manual_seed(seed),
                         dtype=torch.uint8)


# -- every policy ------------------------------------------------------------------------------------
def test_the_registry_holds_the_three_policies():
    assert sorted(AUGMENTATIONS.names()) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_uint8_in_same_shape_out_and_input_untouched(name):
    x = images()
    before = x.clone()
    out = AUGMENTATIONS.build(name)(x, torch.Generator().manual_seed(1))
    assert out.dtype == torch.uint8 and out.shape == x.shape
    assert torch.equal(x, before)
    assert not torch.equal(out, x)


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_given_the_generator(name):
    policy, x = AUGMENTATIONS.build(name), images(32)
    first = policy(x, torch.Generator().manual_seed(5))
    assert torch.equal(first, policy(x, torch.Generator().manual_seed(5)))
    assert not torch.equal(first, policy(x, torch.Generator().manual_seed(6)))


@pytest.mark.parametrize("name", NAMES)
def test_a_samples_augmentation_depends_on_its_position_not_on_the_batch(name):
    """Parameters are drawn per position of the epoch; applying them in batches of 5 or all at
    once gives the same images (as BatchAugment's crops)."""
    policy, x = AUGMENTATIONS.build(name), images(23)
    params = policy.draw(23, torch.Generator().manual_seed(2), (32, 32))
    whole = policy.apply(x, params)
    pieces = torch.cat([policy.apply(xb, pb) for xb, pb in zip(x.split(5), params.split(5))])
    assert torch.equal(whole, pieces)


@pytest.mark.parametrize("name", NAMES)
def test_non_uint8_or_wrong_shape_is_refused(name):
    policy = AUGMENTATIONS.build(name)
    with pytest.raises(ValueError, match="allowed: uint8 images of shape"):
        policy(images().float(), torch.Generator())
    with pytest.raises(ValueError, match="allowed: uint8 images of shape"):
        policy(images()[:, :1], torch.Generator())


# -- AutoAugment and RandAugment: torchvision's operations, batched by operation ---------------------
def _apply_sequence(policy, image: torch.Tensor, indices: list[int]) -> torch.Tensor:
    from torchvision.transforms.autoaugment import _apply_op
    import torchvision.transforms as T

    steps = policy.operations((32, 32))
    for step, index in enumerate(indices):
        if index >= 0:
            op_name, magnitude = steps[step][index]
            image = _apply_op(image, op_name, magnitude, T.InterpolationMode.NEAREST, None)
    return image


@pytest.mark.parametrize("policy", [AutoAugmentCifar10(), RandAugment(2, 14), RandAugment(3, 5)])
def test_batched_equals_each_image_through_its_own_operations(policy):
    x = images(40, seed=3)
    params = policy.draw(40, torch.Generator().manual_seed(4), (32, 32))
    out = policy.apply(x, params)
    for i in range(40):
        assert torch.equal(out[i], _apply_sequence(policy, x[i], params[i].tolist())), i


def test_autoaugment_first_sub_policy_by_hand():
    """Cubuk et al. 2019's first CIFAR-10 sub-policy: (Invert, 0.1, -), (Contrast, 0.2, bin 6 of 10:
    magnitude 0.6, factor 1 +- 0.6). Index 2 * sub-policy + sign; -1: the step is skipped."""
    policy, x = AutoAugmentCifar10(), images(1, seed=5)
    assert policy.policies[0] == (("Invert", 0.1, None), ("Contrast", 0.2, 6))
    assert torch.equal(policy.apply(x, torch.tensor([[-1, -1]])), x)
    assert torch.equal(policy.apply(x, torch.tensor([[0, -1]])), 255 - x)
    assert torch.equal(policy.apply(x, torch.tensor([[1, -1]])), 255 - x)  # unsigned: sign ignored
    assert torch.equal(policy.apply(x, torch.tensor([[-1, 0]])), TF.adjust_contrast(x, 1.6))
    assert torch.equal(policy.apply(x, torch.tensor([[-1, 1]])), TF.adjust_contrast(x, 0.4))


def test_autoaugment_applies_each_step_with_its_probability():
    policy = AutoAugmentCifar10()
    params = policy.draw(200_000, torch.Generator().manual_seed(6), (32, 32))
    for step in range(2):
        expected = sum(sub[step][1] for sub in policy.policies) / len(policy.policies)
        assert (params[:, step] >= 0).double().mean().item() == pytest.approx(expected, abs=0.005)
    sub_policy = params[params[:, 0] >= 0, 0] // 2
    assert set(sub_policy.tolist()) == set(range(25))


def test_randaugment_magnitude_zero_is_the_identity_on_flat_images():
    """At M = 0 every one of the 14 operations leaves a flat (per-channel constant) image below 255
    unchanged: zero shear, translation and rotation; blends with factor 1; 8-bit posterize; solarize
    at 255; autocontrast and equalize of a flat channel."""
    values = torch.randint(0, 255, (64, 3, 1, 1), generator=torch.Generator().manual_seed(7))
    flat = values.to(torch.uint8).expand(64, 3, 32, 32).contiguous()
    policy = RandAugment(num_ops=3, magnitude=0)
    assert torch.equal(policy(flat, torch.Generator().manual_seed(8)), flat)


def test_randaugment_magnitude_zero_on_any_image_is_one_of_four_maps():
    """One operation at M = 0: the identity for 11 of the 14, else autocontrast, equalize, or
    solarize at threshold 255 (which inverts the 255 pixels)."""
    x = images(64, seed=9)
    out = RandAugment(num_ops=1, magnitude=0)(x, torch.Generator().manual_seed(10))
    for i in range(64):
        candidates = [x[i], TF.autocontrast(x[i]), TF.equalize(x[i]), TF.solarize(x[i], 255)]
        assert any(torch.equal(out[i], c) for c in candidates), i


@pytest.mark.parametrize("params, message", [
    ({"magnitude": 31}, "randaugment: magnitude=31 is out of range; allowed: 0 <= magnitude <= 30"),
    ({"magnitude": -1}, "magnitude=-1 is out of range"),
    ({"magnitude": 2.5}, "magnitude=2.5 is not an integer"),
    ({"num_ops": 0}, "randaugment: num_ops=0 is out of range; allowed: num_ops >= 1"),
    ({"num_magnitude_bins": 1}, "num_magnitude_bins=1 is out of range"),
    ({"num_magnitude_bins": 11, "magnitude": 11}, "allowed: 0 <= magnitude <= 10"),
])
def test_randaugment_bad_parameters_are_refused(params, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        AUGMENTATIONS.build("randaugment", **params)


def test_wrong_parameter_shape_is_refused():
    with pytest.raises(ValueError, match=r"allowed: \[4, 2\]"):
        AutoAugmentCifar10().apply(images(4), torch.zeros(4, 3, dtype=torch.long))


# -- Cutout -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("length, centre, box", [
    (16, (16, 16), (8, 8, 24, 24)),     # 16 x 16 = 256 pixels, fully inside
    (16, (0, 0), (0, 0, 8, 8)),         # clipped at two borders: 8 x 8 = 64
    (16, (31, 20), (23, 12, 32, 28)),   # clipped at the bottom: 9 x 16 = 144
    (8, (2, 30), (0, 26, 6, 32)),       # CIFAR-100's length 8, clipped twice: 6 x 6 = 36
    (5, (10, 10), (8, 8, 12, 12)),      # odd length: half = 2 each way, as the authors' code: 16
])
def test_cutout_hole_has_the_hand_computed_area(length, centre, box):
    policy = Cutout(length)
    black = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)  # the fill (the mean) is never 0
    out = policy.apply(black, torch.tensor([centre]))
    top, left, bottom, right = box
    assert int((out[0, 0] != 0).sum()) == (bottom - top) * (right - left)
    hole = out[0, :, top:bottom, left:right]
    assert torch.equal(hole, torch.tensor([125, 123, 114], dtype=torch.uint8).view(3, 1, 1).expand_as(hole))
    out[0, :, top:bottom, left:right] = 0
    assert torch.equal(out, black)  # nothing outside the box changed


def test_cutout_fill_is_the_mean_so_the_hole_normalises_to_zero():
    """The authors cut after normalisation (a hole of 0 there): the mean pixel here."""
    mean, std = torch.tensor([0.4914, 0.4822, 0.4465]), torch.tensor([0.2023, 0.1994, 0.2010])
    fill = Cutout(16).fill_pixels.float() / 255
    assert ((fill - mean) / std).abs().max() < 0.01
    assert Cutout(8, fill=(0.0, 0.5, 1.0)).fill_pixels.tolist() == [0, 128, 255]


def test_cutout_centres_are_uniform_over_the_pixels():
    centres = Cutout(16).draw(100_000, torch.Generator().manual_seed(11), (32, 24))
    assert centres[:, 0].min() == 0 and centres[:, 0].max() == 31
    assert centres[:, 1].min() == 0 and centres[:, 1].max() == 23
    assert centres[:, 0].double().mean().item() == pytest.approx(15.5, abs=0.1)
    assert centres[:, 1].double().mean().item() == pytest.approx(11.5, abs=0.1)


@pytest.mark.parametrize("params, message", [
    ({"length": 0}, "cutout: length=0 is out of range; allowed: length >= 1"),
    ({"length": 8.0}, "length=8.0 is not an integer"),
    ({"fill": (0.5, 0.5)}, "fill=(0.5, 0.5) has 2 values; allowed: 3"),
    ({"fill": (0.5, 1.5, 0.5)}, "fill=1.5 is out of range; allowed: 0 <= fill <= 1"),
])
def test_cutout_bad_parameters_are_refused(params, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        AUGMENTATIONS.build("cutout", **params)


def test_unknown_policy_is_refused_with_the_allowed_names():
    with pytest.raises(KeyError, match="allowed: autoaugment_cifar10, cutout, randaugment"):
        AUGMENTATIONS.build("randaugmentt")


def test_make_bench_prints_a_line_per_policy(capsys):
    from imbalance_baselines.cli import bench

    assert bench.main(["--part", "augment", "--threads", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in NAMES:
        (line,) = [row for row in lines if row.split()[:1] == [name]]
        assert "batched" in line and "img/s" in line
        assert ("torchvision per image" in line) == (name != "cutout")
