"""The results store: a finished run is found, never retrained; records are complete or absent; the
precision rule for sibling records; a stopped run; a full disk."""

import json
from dataclasses import replace

import pytest
import torch

from conftest import stored_runs
from imbalance_baselines.data.synthetic import make_synthetic_lt
from imbalance_baselines.study.record import RunRecord
from imbalance_baselines.study.store import Store, run_key
from imbalance_baselines.train import checkpoint
from imbalance_baselines.train.spec import RunSpec, TrainConfig

TINY = {"model": "resnet8"}
CONFIG = TrainConfig(epochs=2, batch_size=16, warmup_epochs=1, milestones=(1,), factors=(0.1,),
                     eval_every=1, precision="fp32")


@pytest.fixture(scope="module")
def data():
    return make_synthetic_lt(num_classes=3, n_max=30, imbalance_factor=3, test_per_class=5,
                             val_per_class=3, seed=2)


@pytest.fixture(scope="module")
def stored(data, tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    runs = [RunSpec("ce", **TINY), RunSpec("bs", loss="balanced_softmax", **TINY)]
    records = stored_runs(runs, data, CONFIG, root, keep_weights=True)
    return root, runs, records


def test_a_stored_run_is_found_by_what_it_computes(data, stored):
    root, runs, records = stored
    store = Store(root)
    ce = store.find(data.name, runs[0], data.key(), CONFIG)
    assert ce is not None and ce.finished and ce.val is not None and ce.folder == records[0].folder
    assert store.find(data.name, RunSpec("baseline", **TINY), data.key(), CONFIG).key == ce.key  # another name
    assert store.find(data.name, replace(runs[0], seed=1), data.key(), CONFIG) is None
    assert store.find(data.name, runs[0], data.key(), replace(CONFIG, lr=0.05)) is None
    assert store.find(data.name, runs[0], data.key(), replace(CONFIG, eval_every=2)) is not None  # cadence only
    assert Store.load_model(ce).classifier.out_features == 3
    assert ce.code["training_code"] == 1 and "commit" in ce.code


def test_precision_siblings_satisfy_auto_and_matching_explicit_requests(data, stored):
    root, runs, records = stored
    store = Store(root)
    assert store.find(data.name, runs[0], data.key(), replace(CONFIG, precision="auto")).key == records[0].key
    assert store.find(data.name, runs[0], data.key(), replace(CONFIG, precision="bf16")) is None  # it was fp32
    auto = replace(CONFIG, precision="auto")
    key = run_key(runs[0], data.key(), auto)
    folder = root / data.name / f"ce-{key}"
    folder.mkdir()
    record = replace(records[0], key=key, folder=None)
    record.write(folder / "result.json")
    assert store.find(data.name, runs[0], data.key(), auto).key == key  # its own key first
    assert store.find(data.name, runs[0], data.key(), replace(CONFIG, precision="fp32")).key == records[0].key
    (folder / "result.json").unlink()
    folder.rmdir()


def test_kept_weights_are_required_when_asked(data, stored):
    root, runs, records = stored
    store = Store(root)
    weights = records[1].folder / "model.pt"
    moved = weights.with_name("elsewhere.pt")
    weights.rename(moved)
    try:
        assert store.find(data.name, runs[1], data.key(), CONFIG) is not None
        assert store.find(data.name, runs[1], data.key(), CONFIG, keep_weights=True) is None
    finally:
        moved.rename(weights)


def test_half_written_or_foreign_records_are_not_trusted(tmp_path, stored):
    _, _, records = stored
    path = tmp_path / "result.json"
    path.write_text('{"schema": 2, "status": "finis')
    assert RunRecord.read(path) is None
    good = records[0].to_dict()
    for broken in ({**good, "schema": 1}, {**good, "status": "running"}, {k: v for k, v in good.items() if k != "history"},
                   {**good, "test": None}):
        path.write_text(json.dumps(broken))
        assert RunRecord.read(path) is None, broken
    path.write_text(json.dumps(good))
    assert RunRecord.read(path).test == records[0].test


def test_a_non_finite_loss_is_stored_as_stopped_and_stage2_on_it_says_so(data, tmp_path):
    # lr 1e12 makes the loss non-finite within the first epoch.
    config = replace(CONFIG, lr=1e12)
    record = stored_runs([RunSpec("ce", **TINY)], data, config, tmp_path)[0]
    assert record.status == "stopped" and "loss is not finite" in record.error
    assert record.test is None and record.metric("top1") is None
    after = Store(tmp_path).run_stage2(record, data, "tau-norm", {}, "cpu", 0)
    assert after.status == "stopped" and "its base 'ce' stopped" in after.error
    with pytest.raises(FileNotFoundError, match="has no kept weights"):
        Store.load_model(record)


def test_a_full_disk_names_the_path_and_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "state.pt"
    checkpoint.save_torch_atomic({"epoch": 1}, path)

    def failing_save(obj, stream):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file")

    monkeypatch.setattr(torch, "save", failing_save)
    monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda folder: type("u", (), {"free": 1024})())
    with pytest.raises(checkpoint.DiskFullError, match=r"state\.pt: the disk is full \(1,024 bytes free\).*the "
                                                       r"previous state\.pt is kept"):
        checkpoint.save_torch_atomic({"epoch": 2}, path)
    monkeypatch.undo()
    assert torch.load(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]  # no temporary left behind


def test_a_saved_run_writes_its_curves_as_tensorboard_events(data, tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.setenv("IMBALANCE_TENSORBOARD", "1")
    record = stored_runs([RunSpec("ce", **TINY)], data, CONFIG, tmp_path, keep_weights=False)[0]
    events = EventAccumulator(str(record.folder / "tensorboard"))
    events.Reload()
    assert set(events.Tags()["scalars"]) == {"train/loss", "train/accuracy", "train/learning_rate", "test/top1"}
    losses = [(e.step, e.value) for e in events.Scalars("train/loss")]
    assert losses == [(h["epoch"], pytest.approx(h["loss"], rel=1e-6)) for h in record.history]
    assert [e.value for e in events.Scalars("train/learning_rate")] == pytest.approx([h["lr"] for h in record.history])


def test_a_record_names_the_commit_of_the_code_that_ran_not_the_project_checkout(tmp_path):
    """A background queue imports a frozen copy of the package (another checkout) while
    IMBALANCE_PROJECT names the project: the record's commit is the copy's."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    project = Path(__file__).resolve().parents[1]
    frozen = tmp_path / "frozen"
    shutil.copytree(project / "lib", frozen / "lib", ignore=shutil.ignore_patterns("__pycache__"))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=frozen, check=True)
    subprocess.run([*git, "add", "-A"], cwd=frozen, check=True)
    subprocess.run([*git, "commit", "-qm", "frozen"], cwd=frozen, check=True)
    head = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=frozen, capture_output=True, text=True,
                          check=True).stdout.strip()
    script = ("import sys; sys.path.insert(0, sys.argv[1]); from imbalance_baselines.study.record import "
              "code_version; print(code_version()['commit'])")
    shown = subprocess.run([sys.executable, "-c", script, str(frozen / "lib")], capture_output=True, text=True,
                           check=True, env={**os.environ, "IMBALANCE_PROJECT": str(project)})
    assert shown.stdout.strip() == head
