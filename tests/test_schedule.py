"""Learning-rate schedule (SPEC 7) and precision choice."""

import math
import warnings

import pytest
import torch

from imbalance_baselines.train import precision
from imbalance_baselines.train.schedule import learning_rate


def test_ldam_drw_schedule_values():
    lr = [learning_rate(e, 200, 0.1) for e in range(200)]
    assert lr[:5] == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.1])
    assert lr[5] == lr[159] == 0.1
    assert lr[160] == pytest.approx(0.001) and lr[179] == pytest.approx(0.001)
    assert lr[180] == pytest.approx(0.00001) and lr[199] == pytest.approx(0.00001)


def test_step_by_tenths_and_cosine():
    assert learning_rate(170, 200, 0.1, factors=(0.1, 0.01)) == pytest.approx(0.01)
    assert learning_rate(190, 200, 0.1, factors=(0.1, 0.01)) == pytest.approx(0.001)
    assert learning_rate(5, 105, 0.2, schedule="cosine") == pytest.approx(0.2)
    assert learning_rate(55, 105, 0.2, schedule="cosine") == pytest.approx(0.1)
    assert learning_rate(104, 105, 0.2, schedule="cosine") == pytest.approx(0.1 * (1 + math.cos(math.pi * 99 / 100)))


def test_precision_auto_follows_native_bf16(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    assert precision.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    assert precision.resolve_precision("auto", cpu) == "fp32"
    with pytest.warns(UserWarning, match="slower"):
        assert precision.resolve_precision("bf16", cpu) == "bf16"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert precision.resolve_precision("fp32", cpu) == "fp32"
    with pytest.raises(ValueError, match="precision='fp16'"):
        precision.resolve_precision("fp16", cpu)


def test_native_bf16_reads_the_cpu_flags(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert not precision.native_bf16(torch.device("cpu"))
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert precision.native_bf16(torch.device("cpu"))
