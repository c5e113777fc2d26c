"""Long paper-protocol runs, one study after another, resumable on any machine (issue 8).

    python -m imbalance_baselines.reference params/cpu-reference.yaml --data-dir data --threads 1

reads a campaign file (a list of studies: dataset, methods, seeds) and trains each study with the
results cache of ``study.run_methods``: finished runs are loaded, an interrupted study resumes from
its checkpoint in ``<results_dir>/checkpoints/`` (commit that folder to continue on another
machine). A study's ``stage2`` (e.g. cRT, tau-norm, LWS of Kang et al. 2020) then runs on the
frozen network of each seed's ``stage2_base`` run, which must be in ``keep_weights``. One log line
per epoch goes to ``<results_dir>/log.txt``. ``make reproduce PROFILE=cpu-reference`` starts this
detached with ``nohup``; ``--study NAME`` runs only the named studies (e.g. a stage 2 added to a
finished study while the campaign trains a later one).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path
from typing import Any

import torch

from .config import ConfigError, check_keys, read_params, train_config
from .methods import DEFAULT_HYPERPARAMETERS, METHODS
from .report import write_study_results
from .study import load_data, run_methods, run_two_stage

CAMPAIGN_KEYS = {"results_dir": "results/cpu-reference", "train": {}, "hyperparameters": {},
                 "device": "auto", "studies": []}
STUDY_KEYS = {"name": "", "dataset": {}, "methods": [], "seeds": [0], "keep_weights": [],
              "hyperparameters": {}, "stage2_base": "", "stage2": {}}


def validate_campaign(path: Path, campaign: dict[str, Any]) -> None:
    """Every key of the campaign and of each study, before anything is trained."""
    check_keys(str(path), campaign, CAMPAIGN_KEYS)
    train_config(str(path), campaign.get("train", {}))
    check_keys(f"{path}: hyperparameters", campaign.get("hyperparameters", {}), DEFAULT_HYPERPARAMETERS)
    if not campaign.get("studies"):
        raise ConfigError(f"{path}: studies is empty; allowed: a list of studies")
    for index, study in enumerate(campaign["studies"]):
        where = f"{path}: studies[{index}]"
        check_keys(where, study, STUDY_KEYS)
        if "name" not in study.get("dataset", {}):
            raise ConfigError(f"{where}: dataset needs a name (e.g. cifar10_lt)")
        for entry in study["methods"]:
            name = entry if isinstance(entry, str) else entry.get("method")
            if name not in METHODS:
                raise ConfigError(f"{where}: unknown method {name!r}; allowed: {', '.join(METHODS)}")
            if isinstance(entry, dict):
                check_keys(f"{where}: {name}", entry, {"method": "", "name": "", "hyperparameters": {}})
                check_keys(f"{where}: {name}: hyperparameters", entry.get("hyperparameters", {}),
                           DEFAULT_HYPERPARAMETERS)
        _validate_stage2(where, study)


def _validate_stage2(where: str, study: dict[str, Any]) -> None:
    from . import feature_generation  # noqa: F401 - registers TailCalib and TailCalibX
    from .decoupling import TWO_STAGE

    if not study.get("stage2"):
        return
    base = study.get("stage2_base", "")
    if base not in study.get("keep_weights", []):
        raise ConfigError(f"{where}: stage2_base={base!r} is not kept; allowed: a method of keep_weights "
                          f"({', '.join(study.get('keep_weights', [])) or 'empty'})")
    for method in study["stage2"]:
        if method not in TWO_STAGE:
            raise ConfigError(f"{where}: stage2: unknown method {method!r}; allowed: {', '.join(TWO_STAGE)}")


def run_campaign(path: str | Path, data_dir: str | Path, progress: bool = False,
                 only: list[str] | None = None) -> None:
    """Train every study of the campaign file (or those named in ``only``) in order (finished ones
    are cache hits).

    The file is read again before each study, so studies appended while a campaign runs are
    picked up (do not edit a study that is in progress: its runs would get new keys).
    """
    path = Path(path)
    index = 0
    while True:
        campaign = read_params(path)
        validate_campaign(path, campaign)
        if only:
            names = [study.get("name") for study in campaign["studies"]]
            unknown = sorted(set(only) - set(names))
            if unknown:
                raise ConfigError(f"{path}: --study {unknown[0]!r} is not a study; allowed: {', '.join(names)}")
        if index >= len(campaign["studies"]):
            return
        study = campaign["studies"][index]
        index += 1
        if only and study.get("name") not in only:
            continue
        data = load_data(study["dataset"], data_dir)
        config = train_config(str(path), campaign.get("train", {}), len(data.train))
        logging.getLogger("imbalance_baselines").info("study %s: %s", study.get("name", ""),
                                                       [m if isinstance(m, str) else m["method"]
                                                        for m in study["methods"]])
        results_dir = Path(campaign.get("results_dir", CAMPAIGN_KEYS["results_dir"]))
        results = run_methods(study["methods"], data, config, results_dir / study["dataset"]["name"],
                              study.get("seeds", [0]),
                              {**campaign.get("hyperparameters", {}), **study.get("hyperparameters", {})},
                              campaign.get("device", "auto"), study.get("keep_weights", []), progress)
        for seed in study.get("seeds", [0]):
            for method, params in study.get("stage2", {}).items():
                results[(method, seed)] = run_two_stage(results[(study["stage2_base"], seed)], data, method,
                                                        params, campaign.get("device", "auto"), seed)
        slug = re.sub(r"[^A-Za-z0-9]+", "-", study.get("name", f"study-{index}")).strip("-").lower()
        write_study_results(results_dir / f"{slug}.json", study.get("name", slug), "cpu-reference",
                            {"campaign": str(path), **study, "train": campaign.get("train", {})}, results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("campaign", type=Path)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 leaves the other core of a 2-core machine free)")
    parser.add_argument("--log", type=Path, default=None, help="log file (default: stderr)")
    parser.add_argument("--study", action="append", default=None, help="run only this study (repeatable)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    handler = logging.FileHandler(args.log) if args.log else logging.StreamHandler(sys.stderr)
    logging.basicConfig(level=logging.INFO, handlers=[handler],
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        run_campaign(args.campaign, args.data_dir, only=args.study)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
