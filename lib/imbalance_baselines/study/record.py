"""The run record: what one finished (or stopped) run, or one stage-2 result, is on disk.

Every reader and writer of ``result.json`` (and of a stage-2 result next to it) goes through
``RunRecord``: the store, the queue, reports, the summary, the explorer and the notebooks. A record
holds its status (``finished``, or ``stopped`` when the loss became non-finite), the run's
specification and schedule, the data identity, the per-epoch history, test and validation metrics,
the machine *stretches* (epochs trained on one machine with one precision: a run resumed elsewhere
has several, and a run whose precision changed between them says so), the code that trained it (git
commit, package version, training-code version) and the record schema. A file that does not parse
as a complete record of this schema is not a record (``read`` returns None): nothing half-written
or foreign ever counts as done.
"""

from __future__ import annotations

import functools
import json
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..train.checkpoint import save_json_atomic
from ..train.spec import TRAINING_CODE_VERSION

RECORD_SCHEMA = 2
STATUSES = ("finished", "stopped")


@functools.lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """The code that is running: ``git describe --always --dirty`` of the checkout that holds this
    package (a frozen worktree that a background queue imports, not necessarily the project checkout
    that ``IMBALANCE_PROJECT`` names; None outside one), the package version and the training-code
    version."""
    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=10"], cwd=Path(__file__).parent,
                                capture_output=True, text=True, timeout=10, check=True).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"commit": commit, "package": __version__, "training_code": TRAINING_CODE_VERSION}


@dataclass
class Stretch:
    """Epochs ``from_epoch`` to ``to_epoch`` trained on one machine with one precision."""

    from_epoch: int
    to_epoch: int
    seconds: float
    precision: str
    device: str = "cpu"
    threads: int | None = None
    cpu_capability: str | None = None
    torch: str | None = None
    gpu: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Stretch:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in d.items() if k in known}
        values.setdefault("to_epoch", values["from_epoch"])  # a resumed pass with no epoch left
        return cls(**values)

    @property
    def machine(self) -> str:
        """``"AVX512 x2"`` (CPU capability and threads) or the GPU name."""
        if self.gpu:
            return self.gpu
        threads = f" x{self.threads}" if self.threads else ""
        return f"{self.cpu_capability or self.device}{threads}"


@dataclass
class Stage2Info:
    """A stage-2 result: the method, its parameters and seed, what it chose, the base run's key."""

    method: str
    params: dict[str, Any]
    seed: int
    info: dict[str, Any]
    base: str
    seconds: float | None = None


@dataclass
class RunRecord:
    """One run's result (module docstring). ``key`` names the run in the store."""

    status: str
    name: str
    key: str
    run: dict[str, Any]
    config: dict[str, Any]
    data: dict[str, Any]
    history: list[dict[str, Any]]
    stretches: list[Stretch]
    test: dict[str, Any] | None = None
    val: dict[str, Any] | None = None
    error: str | None = None
    stage2: Stage2Info | None = None
    posthoc: dict[str, Any] | None = None
    code: dict[str, Any] = field(default_factory=code_version)
    environment: dict[str, Any] = field(default_factory=dict)
    finished_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    schema: int = RECORD_SCHEMA
    folder: Path | None = field(default=None, repr=False, compare=False)  # where it was read; not stored

    # -- what a reader asks -------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def precision(self) -> str:
        """``"fp32"``, ``"bf16"``, or ``"mixed"`` when the stretches used both."""
        used = {s.precision for s in self.stretches}
        return used.pop() if len(used) == 1 else "mixed"

    @property
    def precision_text(self) -> str:
        """The precision in words, every stretch named when it changed (e.g. "fp32 epochs 0-134,
        bf16 epochs 134-200")."""
        if self.precision != "mixed":
            return self.precision
        return ", ".join(f"{s.precision} epochs {s.from_epoch}-{s.to_epoch}" for s in self.stretches)

    @property
    def machines(self) -> list[str]:
        return sorted({s.machine for s in self.stretches})

    @property
    def train_seconds(self) -> float:
        return float(sum(s.seconds for s in self.stretches))

    @property
    def epochs(self) -> int:
        return int(self.config["epochs"])

    @property
    def seed(self) -> int:
        return int(self.stage2.seed if self.stage2 is not None else self.run["seed"])

    def metric(self, name: str, split: str = "test") -> float | None:
        """A metric of ``split`` as a fraction (None when absent or the run stopped)."""
        metrics = self.test if split == "test" else self.val
        return None if not self.finished or not metrics else metrics.get(name)

    # -- on disk ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        described = asdict(self)
        described.pop("folder")
        return {k: v for k, v in described.items() if v is not None or k in ("test", "val")}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunRecord:
        """A record from its JSON form; ``ValueError`` when it is not a complete record of this schema."""
        if d.get("schema") != RECORD_SCHEMA:
            raise ValueError(f"record schema {d.get('schema')!r}; allowed: {RECORD_SCHEMA}")
        if d.get("status") not in STATUSES:
            raise ValueError(f"status {d.get('status')!r}; allowed: {', '.join(STATUSES)}")
        missing = [k for k in ("name", "key", "run", "config", "data", "history", "stretches") if k not in d]
        if missing:
            raise ValueError(f"missing fields {missing}")
        if d["status"] == "finished" and not d.get("test"):
            raise ValueError("a finished record without test metrics")
        known = set(cls.__dataclass_fields__) - {"folder"}
        values = {k: v for k, v in d.items() if k in known}
        values["stretches"] = [Stretch.from_dict(s) for s in d["stretches"]]
        if d.get("stage2") is not None:
            values["stage2"] = Stage2Info(**d["stage2"])
        return cls(**values)

    def write(self, path: str | Path) -> None:
        """Atomically (a crash leaves the old file or the new one, never half of one)."""
        save_json_atomic(self.to_dict(), path)

    @classmethod
    def read(cls, path: str | Path) -> RunRecord | None:
        """The record at ``path``, or None when missing, unreadable or not a complete record."""
        try:
            record = cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError, KeyError):
            return None
        record.folder = Path(path).parent
        return record
