"""The queue's progress (``make status``): images a unit draws, counted by hand; runs finished and
waiting per study; the rate taken from a finished run of this machine's CPU kind, or said to be
another machine's."""

import pytest
import torch

from imbalance_baselines.study.progress import progress, unit_images
from imbalance_baselines.study.queue import plan_profile, run_queue
from imbalance_baselines.study.store import Store
from test_queue import study


def plan(root, seeds, methods=("Focal",)):
    (root / "params").mkdir(parents=True, exist_ok=True)
    return plan_profile({"01_reweighting": study("01_reweighting", methods=list(methods), seeds=list(seeds))},
                        root / "params", root, Store(root / "store"))


def test_a_unit_draws_one_batch_stream_per_distinct_history(tmp_path):
    """CE / CE-DRW / CE-DRS over 3 epochs, the re-weighting and re-sampling switched on at epoch 2
    (the last milestone's default): one group on epochs 0-1, three on epoch 2, each drawing the
    training set's n images once (the class-balanced sampler draws n too): 2n + 3n."""
    pending = plan(tmp_path, [0], methods=("CE", "CE-DRW", "CE-DRS"))
    unit, = pending.units
    data = pending.data(unit.dataset)
    n = sum(data.class_counts)
    assert unit_images(unit, data) == 5 * n
    assert unit_images(unit, data, from_epoch=2) == 3 * n
    focal, = plan(tmp_path / "focal", [0]).units
    assert unit_images(focal, data) == 3 * n


@pytest.fixture(scope="module")
def half_done(tmp_path_factory):
    root = tmp_path_factory.mktemp("progress")
    run_queue(plan(root, [0]), "1", str(root), "cpu", threads=1)
    return root


def test_counts_and_the_rate_of_a_run_of_this_machines_kind(half_done):
    table, lines = progress(plan(half_done, [0, 1]), capability=torch.backends.cpu.get_cpu_capability())
    assert table.to_dict("records") == [{"study": "01_reweighting", "finished": 1, "in progress": 0,
                                         "waiting": 1, "runs": 2}]
    rate_line = next(line for line in lines if line.startswith("rate from the latest finished run"))
    assert "Focal [seed 0]" in rate_line and "this machine's kind" in rate_line
    assert any(line.startswith("estimated time to finish on this machine") for line in lines)


def test_a_rate_measured_on_another_cpu_kind_says_so(half_done):
    _, lines = progress(plan(half_done, [0, 1]), capability="SOME_OTHER_CPU")
    assert any("another machine's (none finished on a SOME_OTHER_CPU CPU)" in line for line in lines)
