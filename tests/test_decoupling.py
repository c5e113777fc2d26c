"""Two-stage methods (Kang et al. 2020): frozen backbone, cRT, tau-normalisation, LWS."""

import pytest
import torch
from torch import nn

from imbalance_baselines.stage2 import decoupling
from conftest import stored_runs
from imbalance_baselines.study.store import Store
from imbalance_baselines.data.synthetic import make_synthetic_lt
from imbalance_baselines.train.spec import RunSpec, TrainConfig


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data = make_synthetic_lt(num_classes=4, n_max=40, imbalance_factor=8, val_per_class=4,
                             test_per_class=10, seed=3)
    config = TrainConfig(epochs=2, batch_size=16, warmup_epochs=1, milestones=(), factors=(),
                         precision="fp32")
    result = stored_runs([RunSpec("CE", model="resnet8")], data, config, tmp_path_factory.mktemp("store"))[0]
    return data, result


def test_tau_normalisation_by_hand():
    layer = nn.Linear(2, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[3.0, 4.0], [0.0, 2.0]]))  # norms 5 and 2
        layer.bias.copy_(torch.tensor([0.5, -0.5]))
    assert torch.equal(decoupling.tau_normalized(layer, 0.0).weight, layer.weight)
    unit = decoupling.tau_normalized(layer, 1.0)
    torch.testing.assert_close(unit.weight, torch.tensor([[0.6, 0.8], [0.0, 1.0]]))
    half = decoupling.tau_normalized(layer, 0.5)
    torch.testing.assert_close(half.weight[0], torch.tensor([3.0, 4.0]) / 5 ** 0.5)
    assert torch.equal(unit.bias, layer.bias)
    with pytest.raises(ValueError, match="tau=-1"):
        decoupling.tau_normalized(layer, -1)


def test_choose_tau_maximises_validation_balanced_accuracy():
    # Class 0 has a large weight norm and wins every sample at tau = 0; at tau = 1 both norms are 1.
    layer = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[10.0, 1.0], [0.0, 1.0]]))
    features = torch.tensor([[1.0, 0.0], [0.05, 1.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    tau, scores = decoupling.choose_tau(layer, features, labels, grid=(0.0, 1.0))
    assert scores[0.0] == pytest.approx(0.5) and scores[1.0] == pytest.approx(1.0) and tau == 1.0


def test_frozen_backbone_is_never_updated(trained):
    data, result = trained
    model = Store.load_model(result)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    backbone = decoupling.FrozenBackbone(model, data)
    head = decoupling.classifier_retraining(backbone, epochs=2, lr=0.05, seed=0)
    lws = decoupling.learnable_weight_scaling(backbone, epochs=2, lr=0.05, seed=0)
    after = model.state_dict()
    for key, value in before.items():  # weights and BatchNorm running statistics alike
        assert torch.equal(value, after[key]), key
    assert isinstance(head, nn.Linear) and head.out_features == data.num_classes
    assert torch.equal(lws.classifier.weight, model.classifier.weight)
    assert not torch.equal(lws.scales.detach(), torch.ones(data.num_classes))


def test_training_features_are_augmented_and_test_features_are_not(trained):
    data, result = trained
    backbone = decoupling.FrozenBackbone(Store.load_model(result), data)
    plain = backbone.features("train")
    from imbalance_baselines.data.augment import BatchAugment
    expected = backbone.model.features(BatchAugment(data.mean, data.std).normalize(data.train.images))
    torch.testing.assert_close(plain, expected)
    assert not torch.equal(backbone.train_features(0, seed=0), plain)
    assert torch.equal(backbone.train_features(1, seed=0), backbone.train_features(1, seed=0))


def test_two_stage_results_are_cached(trained, monkeypatch):
    data, result = trained
    first = Store(result.folder.parent.parent).run_stage2(result, data, "tau-norm", {}, "cpu", 0)
    assert 0 <= first.stage2.info["tau"] <= 2 and first.val is not None
    monkeypatch.setitem(decoupling.TWO_STAGE._entries, "tau-norm",
                        lambda *a, **k: pytest.fail("recomputed a cached two-stage result"))
    again = Store(result.folder.parent.parent).run_stage2(result, data, "tau-norm", {}, "cpu", 0)
    assert again.test == first.test


def test_tau_norm_needs_a_validation_split(trained):
    data, result = trained
    without_val = make_synthetic_lt(num_classes=4, n_max=40, imbalance_factor=8, val_per_class=0, seed=3)
    backbone = decoupling.FrozenBackbone(Store.load_model(result), without_val)
    with pytest.raises(ValueError, match="never on the test set"):
        decoupling.TWO_STAGE.get("tau-norm")(backbone, 0)


@pytest.mark.parametrize("method", ["TailCalib", "TailCalibX"])
def test_feature_generation_methods_run_and_balance(trained, method):
    from imbalance_baselines.stage2.feature_generation import generated_features_view

    data, result = trained
    outcome = Store(result.folder.parent.parent).run_stage2(result, data, method, {"epochs": 2, "topk": 1}, "cpu", 0)
    assert outcome.stage2.info["regenerate_every_epoch"] == (method == "TailCalibX")
    assert 0 <= outcome.test["top1"] <= 1
    backbone = decoupling.FrozenBackbone(Store.load_model(result), data)
    features, labels, generated = generated_features_view(backbone, topk=1)
    n_max = max(data.class_counts)
    assert torch.bincount(labels).tolist() == [n_max] * data.num_classes
    assert int((~generated).sum()) == len(data.train)
    # Real rows are the normalised training features (lambda = 1: Tukey is the identity).
    assert torch.allclose(features[:3].norm(dim=1), torch.ones(3), atol=1e-5)


def test_rank_correlation_by_hand():
    from imbalance_baselines.stage2.decoupling import rank_correlation
    assert rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert rank_correlation([4, 3, 2, 1], [10, 20, 30, 40]) == pytest.approx(-1.0)
    # ranks [0, 1, 2] vs [1, 0, 2]: centred [-1, 0, 1] . [0, -1, 1] = 1 over (sqrt 2)^2 -> 0.5
    assert rank_correlation([1.0, 2.0, 3.0], [5.0, 1.0, 9.0]) == pytest.approx(0.5)
    # a tie takes the mean rank: [0.5, 0.5, 2] vs [0, 1, 2] -> centred [-.5,-.5,1].[-1,0,1] = 1.5 / sqrt(1.5*2)
    assert rank_correlation([7, 7, 9], [1, 2, 3]) == pytest.approx(1.5 / (1.5 * 2) ** 0.5)


def test_explain_tau_states_the_choice_and_the_premise():
    from imbalance_baselines.stage2.decoupling import explain_tau
    text = explain_tau(0.0, [3.0, 2.0, 1.0], [100, 50, 10])
    assert "tau = 0" in text and "unchanged" in text and "grow with class size" in text and "+1.00" in text
    assert "do not clearly grow" in explain_tau(1.0, [1.0, 2.0, 3.0], [100, 50, 10])
