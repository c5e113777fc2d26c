"""Train a profile's run queue without rendering anything: the detached, resumable long run.

    OMP_WAIT_POLICY=PASSIVE nice -n 19 python -m imbalance_baselines.cli.queue --profile full --threads 2 \\
        --log results/full/queue.log > /dev/null 2>&1 &

Every parameter file is validated first (a bad file stops it at once, on the terminal, before it
detaches into training); then units train in queue order (``study.queue``) and each finished run's
record lands in the results store, checkpoints every few epochs, one log line per epoch. Stop it at
any moment; the same command resumes from the last checkpoint, on this machine or another.
``make status PROFILE=full`` shows how far it got. On a machine without native bf16 (an AVX2-only
CPU), units pinned to bf16 wait for one that has it (``--slow-bf16 train`` trains them anyway).
"""

from __future__ import annotations

import argparse
import logging
import sys

import torch

from ..paths import params_dir, results_dir
from ..study.yaml12 import ConfigError
from ..study.queue import defer_slow_bf16, plan_profile, run_queue
from ..study.store import Store
from .reproduce import model_params_for, validate_profile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="full")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--jobs", default="1", help="1 (this process), N (local workers) or ray[:address]")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per training process")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--slow-bf16", choices=("defer", "train"), default="defer",
                        help="units pinned to bf16 on a device without native bf16: leave them for "
                             "another machine (default) or train them here, many times slower")
    parser.add_argument("--log", default=None, help="log file, one line per epoch (default: stderr)")
    args = parser.parse_args(argv)
    try:
        studies = validate_profile(args.profile, args.data_dir)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    handler = logging.FileHandler(args.log) if args.log else logging.StreamHandler(sys.stderr)
    logging.basicConfig(level=logging.INFO, handlers=[handler], format="%(asctime)s %(name)s %(levelname)s %(message)s")
    torch.set_num_threads(args.threads)
    plan = plan_profile(studies, params_dir() / args.profile, args.data_dir, Store(results_dir() / "store"),
                        model_params_for(args.data_dir))
    log = logging.getLogger("imbalance_baselines.queue")
    deferred = defer_slow_bf16(plan, args.device) if args.slow_bf16 == "defer" else []
    for unit in deferred:
        log.info("deferred to a machine with native bf16 (this one: %s): %s",
                 torch.backends.cpu.get_cpu_capability(), unit.describe())
    log.info("profile %s: %d units to train", args.profile, len(plan.units))
    run_queue(plan, args.jobs, args.data_dir, args.device, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
