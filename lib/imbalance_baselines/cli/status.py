"""``make status PROFILE=full``: the profile's queue - finished, in progress and waiting runs per
notebook, the current unit's images per second, an estimated time to finish on this machine.

    python -m imbalance_baselines.cli.status --profile full --data-dir data
"""

from __future__ import annotations

import argparse
import sys

from ..paths import params_dir, results_dir
from ..study.execute import describe_units
from ..study.yaml12 import ConfigError
from ..study.progress import progress
from ..study.queue import plan_profile
from ..study.store import Store
from .reproduce import model_params_for, validate_profile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--next", type=int, default=5, help="how many waiting units to list")
    args = parser.parse_args(argv)
    try:
        studies = validate_profile(args.profile, args.data_dir)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    plan = plan_profile(studies, params_dir() / args.profile, args.data_dir, Store(results_dir() / "store"),
                        model_params_for(args.data_dir))
    table, lines = progress(plan)
    print(f"profile {args.profile}: {len(plan.units)} units of runs to train")
    print(table.to_string(index=False))
    for line in lines:
        print(line)
    if plan.units:
        print(f"next {min(args.next, len(plan.units))} units in queue order ([tier]):")
        print(describe_units(plan.units[: args.next]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
