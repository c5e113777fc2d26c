"""The run queue: de-duplicated requests, shared-prefix units, priority order, and three executors
(this process, 2 local workers, a local Ray head) that store bit-identical records on the CPU."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from imbalance_baselines.study.execute import DataCache, units_to_train
from imbalance_baselines.study.params import parse_study
from imbalance_baselines.study import queue
from imbalance_baselines.study.queue import defer_slow_bf16, plan_profile, run_queue, tier
from imbalance_baselines.study.store import Store

DATA = {"name": "synthetic_lt", "num_classes": 3, "n_max": 30, "imbalance_factor": 3, "val_per_class": 2,
        "test_per_class": 5, "seed": 2}
TRAIN = {"epochs": 3, "batch_size": 16, "warmup_epochs": 1, "milestones": [2], "factors": [0.1], "precision": "fp32"}


def study(notebook, **values):
    defaults = {"dataset": DATA, "train": TRAIN, "model": "resnet8", "seeds": [0, 1], "methods": [],
                "hyperparameters": {}, "base_method": None, "stage2": {}}
    return parse_study(notebook, notebook, values, defaults, from_file=False)


def studies():
    """Two notebooks asking for CE twice (one run), the CE family sharing a prefix, and a stage 2."""
    return {"01_reweighting": study("01_reweighting", methods=["CE", "CE-DRW", "Focal"]),
            "02_resampling": study("02_resampling", methods=["CE", "CE-DRS"]),
            "04_decoupling": study("04_decoupling", base_method="CE", stage2={"tau-norm": {}})}


def plan(root, folder=None):
    folder = folder or root / "params"
    folder.mkdir(parents=True, exist_ok=True)
    return plan_profile(studies(), folder, root, Store(root / "store"))


def test_requests_are_deduplicated_and_shared_prefixes_form_one_unit(tmp_path):
    pending = plan(tmp_path)
    units = units_to_train(pending.all_requests(), pending.store, pending.data)
    described = sorted(sorted(u.names) for u in units)
    assert described == [["CE [seed 0]", "CE-DRS [seed 0]", "CE-DRW [seed 0]"],
                         ["CE [seed 1]", "CE-DRS [seed 1]", "CE-DRW [seed 1]"],
                         ["Focal [seed 0]"], ["Focal [seed 1]"]]
    ce = next(r for u in units for r in u.runs if r.spec.name == "CE [seed 0]")
    assert ce.keep_weights  # 04 needs its network for stage 2; 01 and 02 ask for the same run
    # Units that draw the same batches (same seed, same sampler) train in one pass.
    assert sorted(sorted(u.names) for u in pending.units) == [
        ["CE [seed 0]", "CE-DRS [seed 0]", "CE-DRW [seed 0]", "Focal [seed 0]"],
        ["CE [seed 1]", "CE-DRS [seed 1]", "CE-DRW [seed 1]", "Focal [seed 1]"]]


def test_a_stored_run_without_weights_is_trained_again_when_a_stage_2_needs_them(tmp_path):
    """01 asks for CE without weights and 04 for its network: a record alone satisfies only 01."""
    run_queue(plan(tmp_path), "1", str(tmp_path), "cpu", threads=1)
    assert plan(tmp_path).units == []
    weights = sorted((tmp_path / "store").glob("*/CE_seed_*/model.pt"))
    assert len(weights) == 2
    weights[0].unlink()  # e.g. trained for 01 alone, before 04 was added to the profile
    units = plan(tmp_path).units
    assert [u.names for u in units] == [[f"CE [seed {weights[0].parent.name.split('_')[2].split('-')[0]}]"]]
    assert units[0].runs[0].keep_weights


def test_the_priority_file_orders_units_by_their_first_matching_tier(tmp_path):
    folder = tmp_path / "params"
    folder.mkdir()
    (folder / "queue.yaml").write_text("priority:\n  - {methods: [Focal], seeds: [1]}\n  - {seeds: [1]}\n")
    units = plan(tmp_path, folder).units
    assert [u.names for u in units] == [["Focal [seed 1]"], ["CE [seed 1]", "CE-DRW [seed 1]", "CE-DRS [seed 1]"],
                                        ["CE [seed 0]", "CE-DRW [seed 0]", "CE-DRS [seed 0]", "Focal [seed 0]"]]
    assert [u.priority for u in units] == [0, 1, 2]  # a pass never joins units of two tiers
    request = units[0].runs[0]
    assert tier([{"dataset": "cifar10_lt"}], "01_reweighting", request) == 1  # no tier: after the last
    assert tier([{"notebook": ["02_resampling", "01_reweighting"]}], "01_reweighting.cifar10-if100", request) == 0
    assert tier([{"notebook": "02_resampling"}], "01_reweighting", request) == 1


def test_bf16_units_wait_for_a_machine_with_native_bf16(tmp_path, monkeypatch):
    """On a CPU without native bf16 (13x slower there), the bf16 units leave the plan; fp32 stay."""
    def with_precisions():
        bf16 = {**TRAIN, "precision": "bf16"}
        return {"90_precision": study("90_precision", methods=["CE"], seeds=[0], train=bf16),
                "01_reweighting": study("01_reweighting", methods=["Focal"], seeds=[0])}
    for native, expected_left, expected_deferred in ((True, 2, 0), (False, 1, 1)):
        monkeypatch.setattr(queue, "native_bf16", lambda device: native)
        pending = plan_profile(with_precisions(), tmp_path, tmp_path, Store(tmp_path / "store"))
        assert sorted(u.config.precision for u in pending.units) == ["bf16", "fp32"]  # two passes
        deferred = defer_slow_bf16(pending, "cpu")
        assert (len(pending.units), len(deferred)) == (expected_left, expected_deferred)
        assert [u.config.precision for u in deferred] == ["bf16"] * expected_deferred


def test_units_learning_from_a_deferred_unit_wait_with_it(monkeypatch):
    """Teachers through two generations: 0 (bf16) teaches 1, which teaches 2; 3 (fp32) stands alone."""
    from types import SimpleNamespace

    units = [SimpleNamespace(config=SimpleNamespace(precision=p)) for p in ("bf16", "fp32", "fp32", "fp32")]
    pending = SimpleNamespace(units=list(units))
    monkeypatch.setattr(queue, "native_bf16", lambda device: False)
    monkeypatch.setattr(queue, "_dependencies", lambda units, plan: {0: set(), 1: {0}, 2: {1}, 3: set()})
    assert defer_slow_bf16(pending, "cpu") == units[:3]
    assert pending.units == [units[3]]


def records(store_root):
    """Every record's content that training determines (not timings, machines or dates)."""
    out = {}
    for path in sorted(Path(store_root).glob("*/*/*.json")):
        record = json.loads(path.read_text())
        for volatile in ("stretches", "finished_at", "environment", "code"):
            record.pop(volatile, None)
        for epoch in record["history"]:
            epoch.pop("seconds", None)
        if record.get("stage2"):
            record["stage2"].pop("seconds", None)
        out[f"{path.parent.name}/{path.name}"] = record
    return out


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    root = tmp_path_factory.mktemp("in-process")
    run_queue(plan(root), "1", str(root), "cpu", threads=1)
    return records(root / "store")


@pytest.mark.slow
def test_two_local_workers_store_what_this_process_stores(in_process, tmp_path):
    run_queue(plan(tmp_path), "2", str(tmp_path), "cpu", threads=1)
    assert len(in_process) == 10  # 8 runs (CE, CE-DRW, CE-DRS, Focal x 2 seeds) + tau-norm on each CE
    assert records(tmp_path / "store") == in_process
    assert plan(tmp_path).units == []  # nothing left to train


@pytest.mark.slow
def test_a_local_ray_head_stores_what_this_process_stores(in_process, tmp_path):
    pytest.importorskip("ray")
    ray_bin = Path(sys.executable).with_name("ray")
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # Ray's socket paths must stay under 108 bytes
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_DISABLE_DOCKER_CPUS_WARNING": "1"}
    head = subprocess.run([str(ray_bin), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", "0",
                           "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats",
                           "--temp-dir", str(temp)], capture_output=True, text=True, env=env, timeout=180)
    assert head.returncode == 0, head.stdout[-3000:] + head.stderr[-3000:]
    try:
        address = next(line.split("'")[1] for line in head.stdout.splitlines() if "ray start --address=" in line)
        run_queue(plan(tmp_path), f"ray:{address}", str(tmp_path), "cpu", threads=1)
        import ray

        ray.shutdown()
    finally:
        subprocess.run([str(ray_bin), "stop", "--force"], capture_output=True, env=env, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)
    assert records(tmp_path / "store") == in_process


def test_a_unit_the_store_satisfies_by_now_is_not_trained_again(in_process, tmp_path, monkeypatch):
    from imbalance_baselines.study import execute

    pending = plan(tmp_path)
    run_queue(pending, "1", str(tmp_path), "cpu", threads=1)
    monkeypatch.setattr(execute, "train", lambda *a, **k: pytest.fail("trained a satisfied unit"))
    for unit in pending.units:  # the plan made before training still lists them
        assert execute.train_unit(unit, pending.store, DataCache(tmp_path)(unit.dataset), "cpu") == []
