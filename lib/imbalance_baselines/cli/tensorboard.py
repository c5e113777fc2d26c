"""``make tensorboard``: event files for every stored run that has none yet (``study.events``), then
the command that shows them.

    python -m imbalance_baselines.cli.tensorboard --store results/store
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..study.events import write_events
from ..study.record import RunRecord


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Path("results/store"))
    args = parser.parse_args(argv)
    written = [folder for path in sorted(args.store.glob("*/*/result.json"))
               if (record := RunRecord.read(path)) is not None and (folder := write_events(record)) is not None]
    print(f"[tensorboard] {len(written)} runs got event files; show them with: "
          f".venv/bin/tensorboard --logdir {args.store}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
