"""Per-class vectors from class counts, checked against published values and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from imbalance_baselines.losses import (
    class_balanced_weights,
    cost_sensitive_weights,
    ldam_margins,
    log_prior,
    sigmoid_bias_init,
)

# CIFAR-10-LT, imbalance factor 100 (exponential profile), and its CB weights at beta = 0.999
# as published in SPEC section 3 (Cui et al. 2019).
CIFAR10_LT_100 = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
CB_0999 = [0.1812, 0.1894, 0.2157, 0.2729, 0.3785, 0.5606, 0.8688, 1.3862, 2.2584, 3.6883]


def test_class_balanced_weights_match_published_values():
    w = class_balanced_weights(CIFAR10_LT_100, 0.999)
    assert w.dtype == torch.float32
    np.testing.assert_allclose(w.numpy(), CB_0999, atol=1e-4)


def test_class_balanced_weights_beta_zero_are_ones():
    assert torch.equal(class_balanced_weights(CIFAR10_LT_100, 0.0), torch.ones(10))


def test_class_balanced_weights_approach_inverse_frequency_as_beta_goes_to_one():
    inverse = 1.0 / np.array(CIFAR10_LT_100, dtype=np.float64)
    expected = 10 * inverse / inverse.sum()
    np.testing.assert_allclose(class_balanced_weights(CIFAR10_LT_100, 1 - 1e-9).numpy(), expected,
                               rtol=1e-4)


@pytest.mark.parametrize("beta", [0.0, 0.9, 0.99, 0.999, 0.9999, 1 - 1e-9])
def test_class_balanced_weights_sum_to_num_classes(beta):
    assert class_balanced_weights(CIFAR10_LT_100, beta).sum().item() == pytest.approx(10, rel=1e-6)


def test_class_balanced_weights_closed_form_two_classes():
    # w_c proportional to (1 - beta) / (1 - beta^n_c), scaled to sum 2.
    raw = np.array([(1 - 0.99) / (1 - 0.99**n) for n in (100, 10)])
    np.testing.assert_allclose(class_balanced_weights([100, 10], 0.99).numpy(), 2 * raw / raw.sum(),
                               rtol=1e-6)


def test_cost_sensitive_weights():
    np.testing.assert_allclose(cost_sensitive_weights([5000, 500, 50]).numpy(), [0.01, 0.1, 1.0],
                               rtol=1e-7)


def test_ldam_margins():
    np.testing.assert_allclose(ldam_margins([5000, 50]).numpy(), [0.5 * (50 / 5000) ** 0.25, 0.5],
                               rtol=1e-6)
    np.testing.assert_allclose(ldam_margins([16, 1], max_margin=1.0).numpy(), [0.5, 1.0], rtol=1e-7)


def test_log_prior():
    np.testing.assert_allclose(log_prior([5000, 50]).numpy(),
                               [math.log(5000 / 5050), math.log(50 / 5050)], rtol=1e-6)


def test_sigmoid_bias_init():
    assert sigmoid_bias_init(10) == pytest.approx(-2.1972, abs=1e-4)  # -log 9, SPEC section 3
    assert sigmoid_bias_init(100) == pytest.approx(-4.5951, abs=1e-4)  # -log 99
    assert sigmoid_bias_init(10, pi=0.5) == 0.0


def test_counts_accepted_as_tensor_or_array():
    expected = class_balanced_weights([5000, 50], 0.99)
    assert torch.equal(class_balanced_weights(torch.tensor([5000, 50]), 0.99), expected)
    assert torch.equal(class_balanced_weights(np.array([5000, 50]), 0.99), expected)


@pytest.mark.parametrize("call, param", [
    (lambda: class_balanced_weights([5, 3], 1.0), "beta"),
    (lambda: class_balanced_weights([5, 3], -0.1), "beta"),
    (lambda: class_balanced_weights([5, 3], float("nan")), "beta"),
    (lambda: class_balanced_weights([5, 0], 0.9), "class_counts[1]"),
    (lambda: class_balanced_weights([5, 2.5], 0.9), "class_counts[1]"),
    (lambda: class_balanced_weights([5], 0.9), "class_counts"),
    (lambda: class_balanced_weights("55", 0.9), "class_counts"),
    (lambda: cost_sensitive_weights([5, -3]), "class_counts[1]"),
    (lambda: ldam_margins([5, 3], max_margin=0.0), "max_margin"),
    (lambda: log_prior([True, 3]), "class_counts[0]"),
    (lambda: sigmoid_bias_init(1), "num_classes"),
    (lambda: sigmoid_bias_init(10, pi=1.0), "pi"),
])
def test_bad_arguments_raise_one_line_naming_the_parameter(call, param):
    with pytest.raises(ValueError) as error:
        call()
    message = str(error.value)
    assert f"{param}=" in message and "allowed:" in message and "\n" not in message


def test_error_message_format():
    with pytest.raises(ValueError, match=r"^class_balanced_weights: beta=1\.2 is out of range; "
                                         r"allowed: 0 <= beta < 1$"):
        class_balanced_weights([5, 3], 1.2)
