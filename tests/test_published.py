"""The published reference numbers (``resources/published.yaml``): protocol fields and issue-18 entries."""

from __future__ import annotations

from collections import Counter
from importlib import resources

import pytest
import yaml

PROTOCOL_MATCH = {"same", "close", "different"}
REPORTED_EPOCH = {"final", "best", "unknown"}
DATASETS = {"cifar10_lt", "cifar100_lt"}
FACTORS = {100, 50, 10}
FIELDS = ("method", "dataset", "imbalance_factor", "top1", "paper", "table", "url", "protocol",
          "reported_epoch", "setting", "note", "epochs", "protocol_match", "protocol_difference", "primary")
# The issue-18 recipes: the paper (as its entries name it) and the suite's method names for its numbers.
NEW_METHODS = {
    "Rangwani et al. 2022": {"CE-DRW + SAM", "LDAM-DRW + SAM"},
    "Zhong et al. 2021": {"MiSLAS"},
    "Alshammari et al. 2022": {"MaxNorm"},
    "Wang et al. 2021": {"RIDE"},
}
BAG_OF_TRICKS_BEST = "Bag of Tricks best"


@pytest.fixture(scope="module")
def entries() -> list[dict]:
    text = resources.files("imbalance_baselines").joinpath("resources/published.yaml").read_text()
    return yaml.safe_load(text)["entries"]


def _name(entry: dict) -> str:
    return f"{entry['method']} / {entry['dataset']} IF{entry['imbalance_factor']} / {entry['paper'][:40]}"


def test_every_entry_has_all_fields_with_allowed_values(entries):
    assert entries
    for entry in entries:
        assert tuple(entry) == FIELDS, _name(entry)  # the new fields follow the old ones, in this order
        assert entry["dataset"] in DATASETS and entry["imbalance_factor"] in FACTORS, _name(entry)
        assert entry["reported_epoch"] in REPORTED_EPOCH, _name(entry)
        assert entry["protocol_match"] in PROTOCOL_MATCH, _name(entry)
        assert entry["epochs"] is None or (type(entry["epochs"]) is int and entry["epochs"] > 0), _name(entry)
        assert isinstance(entry["protocol_difference"], str), _name(entry)
        assert type(entry["primary"]) is bool, _name(entry)
        for key in ("method", "paper", "table", "url", "protocol", "setting", "note"):
            assert isinstance(entry[key], str) and entry[key].strip(), (_name(entry), key)


def test_top1_is_a_percentage(entries):
    for entry in entries:
        assert isinstance(entry["top1"], (int, float)) and not isinstance(entry["top1"], bool), _name(entry)
        assert 0 <= entry["top1"] <= 100, _name(entry)


def test_same_protocol_means_200_epochs_and_no_difference(entries):
    for entry in entries:
        if entry["protocol_match"] == "same":
            assert entry["epochs"] == 200, _name(entry)
            assert entry["protocol_difference"] == "", _name(entry)
        else:
            assert entry["protocol_difference"].strip(), _name(entry)


def test_null_epochs_are_explained(entries):
    for entry in entries:
        if entry["epochs"] is None:
            assert entry["protocol_match"] != "same", _name(entry)
            words = entry["protocol_difference"].lower()
            assert "iterations" in words or "unknown" in words, _name(entry)


def test_at_most_one_primary_per_cell_and_it_is_same(entries):
    primaries = Counter((e["method"], e["dataset"], e["imbalance_factor"]) for e in entries if e["primary"])
    assert primaries and max(primaries.values()) == 1, [cell for cell, n in primaries.items() if n > 1]
    for entry in entries:
        if entry["primary"]:
            assert entry["protocol_match"] == "same", _name(entry)


def test_known_protocols_are_classified(entries):
    """The cases the comparison must never count as reproductions, and the ones it must."""
    for entry in entries:
        paper, protocol = entry["paper"], entry["protocol"]
        if paper.startswith("Ren et al. 2020"):  # batch 512, 13K iterations, cosine
            assert entry["protocol_match"] == "different" and entry["epochs"] is None, _name(entry)
        if "400 EPOCHS" in protocol:  # Bag of Tricks' mix-up runs
            assert entry["protocol_match"] == "different" and entry["epochs"] == 400, _name(entry)
        if paper.startswith("Menon et al. 2021"):  # x0.1 decays and weight decay 1e-4, or its own code
            if "quoted from Cao et al." not in entry["note"]:
                assert entry["protocol_match"] != "same", _name(entry)
        if paper.startswith(("Cui et al. 2019", "Cao et al. 2019")):
            assert entry["protocol_match"] == "same", _name(entry)


def test_new_entries_use_the_suites_method_names(entries):
    seen: dict[str, set[str]] = {paper: set() for paper in NEW_METHODS}
    for entry in entries:
        for paper, names in NEW_METHODS.items():
            if entry["paper"].startswith(paper):
                assert entry["method"] in names, _name(entry)
                seen[paper].add(entry["method"])
    assert seen == NEW_METHODS
    best = [e for e in entries if e["method"] == BAG_OF_TRICKS_BEST]
    assert best and all(e["paper"].startswith("Zhang et al. 2021, Bag of Tricks") for e in best)
    # every name is one a study's table can show (the summary matches method names exactly)
    from imbalance_baselines.stage2 import TWO_STAGE
    from imbalance_baselines.study.methods import METHODS

    rows = set(METHODS) | set(TWO_STAGE) | {f"CBD + {m}" for m in TWO_STAGE} | {"CE + post-hoc LA"}
    assert {e["method"] for e in entries} - rows == {BAG_OF_TRICKS_BEST}  # a combination, listed for reference


@pytest.mark.parametrize("method, dataset, factor, top1, match", [
    ("CE-DRW + SAM", "cifar10_lt", 100, 80.6, "same"),
    ("CE-DRW + SAM", "cifar100_lt", 100, 44.6, "same"),
    ("LDAM-DRW + SAM", "cifar10_lt", 100, 81.9, "same"),
    ("LDAM-DRW + SAM", "cifar100_lt", 100, 45.4, "same"),
    ("MiSLAS", "cifar10_lt", 100, 82.5, "close"),
    ("MiSLAS", "cifar100_lt", 10, 63.2, "close"),
    ("MaxNorm", "cifar100_lt", 100, 53.35, "different"),
    ("RIDE", "cifar100_lt", 100, 48.6, "different"),
    ("Bag of Tricks best", "cifar10_lt", 100, 79.76, "different"),
    ("Bag of Tricks best", "cifar100_lt", 100, 47.83, "different"),
])
def test_new_entries_as_read_in_their_sources(entries, method, dataset, factor, top1, match):
    [entry] = [e for e in entries if (e["method"], e["dataset"], e["imbalance_factor"]) == (method, dataset, factor)]
    assert entry["top1"] == pytest.approx(top1) and entry["protocol_match"] == match
    assert entry["primary"] == (match == "same")
