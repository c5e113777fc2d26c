"""``make data``: the CIFAR datasets a profile needs, present in ``DATA_DIR`` before any notebook runs.

    python -m imbalance_baselines.cli.data --data-dir data --dataset cifar10 --dataset cifar100
    python -m imbalance_baselines.cli.data --data-dir data --profile quick

``--profile`` adds the CIFAR datasets that the profile's parameter files name (``params/<profile>/``
or ``params/<profile>.yaml``); large-scale and synthetic profiles need none. Missing ones are fetched
by :func:`imbalance_baselines.data.download.ensure_cifar`; what cannot be had ends the command with
exit code 2 and one message saying how to provide it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..data.cifar import RELEASES
from ..data.download import ensure_cifar
from ..data.errors import DatasetError
from ..paths import params_dir
from ..study.yaml12 import ConfigError, read_params


def _dataset_names(value: Any) -> Iterator[str]:
    """Every ``dataset: {name: ...}`` in a parameter file, at any depth (campaign files nest studies)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "dataset" and isinstance(item, dict) and isinstance(item.get("name"), str):
                yield item["name"]
            yield from _dataset_names(item)
    elif isinstance(value, list):
        for item in value:
            yield from _dataset_names(item)


def profile_datasets(profile: str, params: Path | None = None) -> list[str]:
    """The CIFAR releases ("cifar10", "cifar100") that the parameter files of ``profile`` use
    (``params``: default ``<project>/params``)."""
    params = params or params_dir()
    files = sorted((params / profile).glob("*.yaml")) or [p for p in [params / f"{profile}.yaml"] if p.is_file()]
    if not files:
        raise DatasetError(f"PROFILE={profile!r} has no parameter files: expected {params / profile}/*.yaml "
                           f"or {params / profile}.yaml")
    names = (n.removesuffix("_lt") for f in files for n in _dataset_names(read_params(f)))
    return sorted({n for n in names if n in RELEASES})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True, type=Path, help="DATA_DIR: where the datasets live")
    parser.add_argument("--dataset", action="append", default=[], choices=sorted(RELEASES),
                        help="a CIFAR release to have (repeatable)")
    parser.add_argument("--profile", help="also every CIFAR release this profile's parameter files use")
    parser.add_argument("--params", type=Path, help="the parameter folder (default: <project>/params)")
    parser.add_argument("--mirror", help="base URL of the archives (default: $IMBALANCE_CIFAR_MIRROR, "
                                         "else the official site)")
    args = parser.parse_args(argv)
    try:
        names = [*args.dataset, *(profile_datasets(args.profile, args.params) if args.profile else [])]
        for folder in ensure_cifar(args.data_dir, names, mirror=args.mirror) if names else []:
            print(f"[data] {folder}: downloaded, md5-checked and extracted")
    except (DatasetError, ConfigError) as error:
        print(f"[data] {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
