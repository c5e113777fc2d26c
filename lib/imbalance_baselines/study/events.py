"""Every run's curves where people look for them: TensorBoard event files next to its record.

``write_events(record)`` writes ``<run folder>/tensorboard/`` (per-epoch training loss, training
accuracy, learning rate, and test top-1 where evaluated) with ``torch.utils.tensorboard``, once; the
store calls it for every run it saves, ``make tensorboard`` for records saved before. The files are
derived from the record, so they are not committed: ``tensorboard --logdir results/store`` then shows
every run of every study, one folder per run. ``IMBALANCE_TENSORBOARD=0`` switches writing off (tests).
"""

from __future__ import annotations

import os
from pathlib import Path

from .record import RunRecord

FOLDER = "tensorboard"


def enabled() -> bool:
    return os.environ.get("IMBALANCE_TENSORBOARD", "1") != "0"


def write_events(record: RunRecord) -> Path | None:
    """The record's curves as event files under its folder (None when written already or switched off)."""
    folder = record.folder / FOLDER
    if not enabled() or folder.exists() or not record.history:
        return None
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(log_dir=str(folder), comment=record.name) as writer:
        for epoch in record.history:
            step = epoch["epoch"]
            writer.add_scalar("train/loss", epoch["loss"], step)
            writer.add_scalar("train/accuracy", epoch["train_acc"], step)
            writer.add_scalar("train/learning_rate", epoch["lr"], step)
            if epoch.get("test_acc") is not None:
                writer.add_scalar("test/top1", epoch["test_acc"], step)
        if record.finished:
            writer.add_text("run", f"{record.name}: final test top-1 {100 * record.test['top1']:.2f}% "
                                   f"({record.precision_text}, key {record.key})")
    return folder
