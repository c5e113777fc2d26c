"""Training what requests need: units of runs trained together, then what follows on their networks.

Requests not yet satisfied by the store are grouped into *units*: runs on the same data with the same
schedule whose computation is identical at epoch 0 (same model, seed, loss, sampler and mix-up at
the start: CE, CE-DRW and CE-DRS until epoch 160; LDAM and LDAM-DRW). The engine trains a unit in one
pass, the shared prefix once, checkpointing to the store so an interrupted unit resumes on any
machine (``store.checkpoint``). A distilled run's teachers form earlier units. Stage 2 and post-hoc
adjustment run once their base run is finished. The same code trains for the queue's executors (this
process, local workers, Ray) and for a notebook run interactively.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path


from ..data.bundle import LongTailedData
from ..train.engine import study_key, train
from ..train.groups import RunState
from ..train.sources import FileListData
from ..train.spec import RunSpec, TrainConfig, canonical_json
from .params import DatasetParams
from .plan import PosthocRequest, Request, RunRequest, Stage2Request, stage1_of
from .record import RunRecord
from .store import Store, resolve_device

log = logging.getLogger("imbalance_baselines.study")
Data = LongTailedData | FileListData


def load_data(dataset: DatasetParams, data_dir: str | Path) -> Data:
    """A dataset from its validated parameters (``data.DATASETS``)."""
    from ..data import DATASETS

    return DATASETS.build(dataset.name, root=data_dir, **dataset.options)


class DataCache:
    """Each dataset loaded once per process (keyed by its parameters)."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = data_dir
        self._loaded: dict[str, Data] = {}

    def __call__(self, dataset: DatasetParams) -> Data:
        key = canonical_json(dataset.as_dict())
        if key not in self._loaded:
            self._loaded[key] = load_data(dataset, self.data_dir)
        return self._loaded[key]


@dataclass
class Unit:
    """Runs trained in one engine pass (module docstring); ``priority`` orders the queue (low first)."""

    dataset: DatasetParams
    config: TrainConfig
    runs: list[RunRequest] = field(default_factory=list)
    priority: int = 0

    @property
    def names(self) -> list[str]:
        return [r.spec.name for r in self.runs]

    def key(self, data: Data) -> str:
        return study_key([r.spec for r in self.runs], data, self.config)

    def describe(self) -> str:
        return f"{self.dataset.name}: {', '.join(self.names)} ({self.config.epochs} epochs, {self.config.precision})"


def find(store: Store, request: RunRequest, data: Data) -> RunRecord | None:
    """The record satisfying a stage-1 request, or None."""
    return store.find(data.name, request.spec, data.key(), request.config, request.keep_weights)


def units_to_train(requests: Iterable[Request], store: Store, data_for: Callable[[DatasetParams], Data],
                   priority: Callable[[RunRequest], int] = lambda request: 0) -> list[Unit]:
    """The units that train every stage-1 run the requests need and the store lacks, teachers in
    earlier units than their students, each unit as early as its most urgent run."""
    units: dict[str, Unit] = {}
    unit_of: dict[str, Unit | None] = {}  # run key -> its unit (None: the store satisfies it)

    def add(request: RunRequest, rank: int) -> None:
        for teacher in request.teachers:
            add(teacher, rank)
        data = data_for(request.dataset)
        key = request.key(data.key())
        if key in unit_of:  # a run asked for again keeps its unit, which may move up
            unit = unit_of[key]
            if unit is not None:
                unit.priority = min(unit.priority, rank)
                unit.runs = [replace(r, keep_weights=r.keep_weights or request.keep_weights)
                             if r.key(data.key()) == key else r for r in unit.runs]
                return
            if not request.keep_weights:
                return
            # Satisfied by a record alone so far; this request needs the weights too: check again.
        if find(store, request, data) is not None:
            unit_of[key] = None
            return
        state = RunState.build(replace(request.spec, distill=None), data.train.labels, data.class_counts)
        group = canonical_json([request.dataset.as_dict(), data.key(), request.config.training_dict(),
                                state.phase_key(0), bool(request.teachers), request.spec.distill])
        unit = units.setdefault(group, Unit(request.dataset, request.config, priority=rank))
        unit.priority = min(unit.priority, rank)
        unit.runs.append(request)
        unit_of[key] = unit

    for request in requests:
        base = stage1_of(request)
        add(base, priority(base))
    ordered = list(units.values())
    depth = {id(u): _depth(u) for u in ordered}  # students after their teachers at equal priority
    return sorted(ordered, key=lambda u: (u.priority, depth[id(u)]))


def passes(units: list[Unit], data_for: Callable[[DatasetParams], Data], width: int = 2) -> list[Unit]:
    """Units merged into engine passes of up to ``width`` units that draw the same batches (same
    data, schedule, seed and sampler): a pass augments each step's batch once for all its runs, and
    on a 2-core CPU two ResNet-32 runs in one pass cost 1.37 x one run (``make bench``, K = 2), not
    2 x. A unit is joined only by later units of its own priority tier, so the queue's order holds;
    distilled runs stay alone (they wait for their teachers)."""
    merged: list[Unit] = []
    taken: set[int] = set()
    signatures = [None if any(r.teachers for r in u.runs) else _stream(u, data_for) for u in units]
    for index, unit in enumerate(units):
        if index in taken:
            continue
        members = [unit]
        for later in range(index + 1, len(units)):
            if len(members) == width or signatures[index] is None:
                break
            if later not in taken and units[later].priority == unit.priority and signatures[later] == signatures[index]:
                members.append(units[later])
                taken.add(later)
        merged.append(Unit(unit.dataset, unit.config, [r for m in members for r in m.runs], unit.priority))
    return merged


def _stream(unit: Unit, data_for: Callable[[DatasetParams], Data]) -> str:
    """What fixes a unit's batches at epoch 0 with its data and schedule (``RunState.stream_key``)."""
    data = data_for(unit.dataset)
    lead = unit.runs[0]
    state = RunState.build(replace(lead.spec, distill=None), data.train.labels, data.class_counts)
    return canonical_json([unit.dataset.as_dict(), data.key(), unit.config.training_dict(), state.stream_key(0)])


def _depth(unit: Unit) -> int:
    return max((1 for r in unit.runs if r.teachers), default=0)


def resolved_spec(request: RunRequest, store: Store, data: Data) -> RunSpec:
    """The run's specification with each teacher's weights file filled in (teachers must be finished)."""
    if not request.teachers:
        return request.spec
    described = []
    for teacher, description in zip(request.teachers, request.spec.distill["teachers"]):
        record = find(store, teacher, data)
        if record is None or not record.finished:
            raise RuntimeError(f"{request.spec.name}: teacher {teacher.spec.name!r} is not finished")
        described.append({**description, "weights": str(record.folder / "model.pt")})
    return replace(request.spec, distill={**request.spec.distill, "teachers": described})


def train_unit(unit: Unit, store: Store, data: Data, device: str = "auto", progress: bool = False) -> list[RunRecord]:
    """Train the unit (resuming from its checkpoint) and store every run's record. Runs the store
    satisfies by now (e.g. a bf16 run another unit trained with precision "auto") are not trained."""
    device = resolve_device(device)
    unit = replace(unit, runs=[r for r in unit.runs if find(store, r, data) is None])
    if not unit.runs:
        return []
    specs = [resolved_spec(r, store, data) for r in unit.runs]
    checkpoint = store.checkpoint(data.name, unit.key(data))
    log.info("training %s", unit.describe())
    outcomes = train(specs, data, unit.config, device, checkpoint_path=checkpoint, progress=progress)
    records = [store.save(outcomes[r.spec.name], data, unit.config, device, r.keep_weights) for r in unit.runs]
    checkpoint.unlink(missing_ok=True)
    return records


def follow_up(request: Stage2Request | PosthocRequest, store: Store, data: Data, device: str = "auto") -> RunRecord | None:
    """The stage-2 or post-hoc result of a request whose base is finished (None while it is not)."""
    base = find(store, request.base, data)
    if base is None:
        return None
    device = resolve_device(device)
    if isinstance(request, Stage2Request):
        return store.run_stage2(base, data, request.stage2, dict(request.params), device, request.seed)
    return store.posthoc_adjusted(base, data, request.tau, device)


def result(request: Request, store: Store, data: Data, device: str = "auto", compute: bool = True) -> RunRecord | None:
    """The record of any request: stage-1 runs from the store; stage 2 and post-hoc adjustment
    computed now when ``compute`` and their base is finished (they take seconds to minutes)."""
    if isinstance(request, RunRequest):
        return find(store, request, data)
    if compute:
        return follow_up(request, store, data, device)
    base = find(store, request.base, data)
    if base is None:
        return None
    path = (store.stage2_path(base, request.stage2, dict(request.params), request.seed)
            if isinstance(request, Stage2Request) else base.folder / f"posthoc-tau{request.tau:g}.json")
    return RunRecord.read(path)


def complete(requests: list[Request], store: Store, data_for: Callable[[DatasetParams], Data],
             device: str = "auto", progress: bool = False,
             on_unit: Callable[[Unit], None] | None = None) -> None:
    """Train every missing unit in order in this process, then every follow-up."""
    for unit in units_to_train(requests, store, data_for):
        if on_unit is not None:
            on_unit(unit)
        train_unit(unit, store, data_for(unit.dataset), device, progress)
    for request in requests:
        if not isinstance(request, RunRequest):
            follow_up(request, store, data_for(request.base.dataset), device)


def describe_units(units: list[Unit]) -> str:
    """One line per unit (for logs and ``make status``)."""
    return "\n".join(f"  [{u.priority}] {u.describe()}" for u in units)
