"""Images seen in training (issue 17: budgets in the open), counted by hand on a tiny dataset."""

from imbalance_baselines.stage2 import TWO_STAGE, training_passes
from imbalance_baselines.stage2.decoupling import PASS_RULES
from imbalance_baselines.study.execute import DataCache
from imbalance_baselines.study.notebook import images_seen
from imbalance_baselines.study.params import parse_study
from imbalance_baselines.study.plan import Stage2Request, study_requests

DATA = {"name": "synthetic_lt", "num_classes": 3, "n_max": 30, "imbalance_factor": 3, "val_per_class": 2,
        "test_per_class": 5, "seed": 2}
TRAIN = {"epochs": 3, "batch_size": 16, "warmup_epochs": 1, "milestones": [2], "factors": [0.1], "precision": "fp32"}


def test_stage_2_methods_that_pass_the_training_set_every_epoch_count_every_pass(tmp_path):
    stage2 = {"cRT": {"epochs": 4}, "MiSLAS": {"epochs": 5}, "MaxNorm": {"epochs": 6}, "tau-norm": {}}
    values = {"dataset": DATA, "train": TRAIN, "model": "resnet8", "seeds": [0], "methods": [],
              "hyperparameters": {}, "base_method": "CE", "stage2": stage2}
    study = parse_study("04_decoupling", "04_decoupling", values, values, from_file=False)
    data = DataCache(tmp_path)(study.dataset)
    n = len(data.train)
    seen = {r.stage2: images_seen(r, data) for r in study_requests(study, data.key(), data.num_classes)
            if isinstance(r, Stage2Request)}
    stage1 = 3 * n  # CE: instance sampling, every image once per epoch, 3 epochs
    assert seen == {"cRT": stage1 + 4 * n, "MiSLAS": stage1 + 5 * n, "MaxNorm": stage1 + 6 * n,
                    "tau-norm": stage1}  # tau-norm rescales the weights: no image passes


def test_every_stage_2_method_says_how_often_it_passes_the_training_set():
    rules = {m: getattr(TWO_STAGE.get(m), "passes_training_set", None) for m in TWO_STAGE}
    assert {m: r for m, r in rules.items() if r not in PASS_RULES} == {}


def test_a_stage_2_method_without_epochs_in_its_parameters_counts_its_own_default_epochs():
    # TailCalibX re-extracts features every one of its 150 default epochs (Vigneswaran et al. 2021's
    # CIFAR setting); TailCalib extracts them once; tau-norm never passes images.
    assert training_passes("TailCalibX", {}) == 150
    assert training_passes("TailCalibX", {"epochs": 7}) == 7
    assert training_passes("TailCalib", {"epochs": 150}) == 1
    assert training_passes("MaxNorm", {}) == 10
    assert training_passes("tau-norm", {}) == 0
