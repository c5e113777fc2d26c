"""``make reproduce``: validate a profile, train its run queue, render its notebooks into results/<profile>/.

    python -m imbalance_baselines.cli.reproduce --profile quick --data-dir data [--jobs 1] [--notebook 01_reweighting]

1. Every parameter file of ``params/<profile>/`` is parsed by the study schema (``study.params``) and
   its data files checked; the first problem stops everything with one line naming file, field and
   value, before any training or kernel start.
2. The profile's run queue (``study.queue``) trains what the store lacks: ``--jobs 1`` in this
   process, ``N`` local workers, ``ray[:address]`` a Ray cluster, ``0`` nothing (the default of
   profiles whose ``queue.yaml`` says so, e.g. the full one: weeks on a CPU).
3. Each notebook is executed with papermill, reading results only (``train_missing=False``). A
   notebook whose inputs - its source, its parameter file, the package source and every result file
   it reads - did not change since its last rendering is not executed again (the stamp holds no
   machine-specific path, so a fresh clone with the committed results renders nothing). The summary
   is rendered last, whenever a study file it reads changed, and never when a notebook failed. A
   failed notebook is kept as ``<name>.failed.ipynb`` and its failing cell's ``ename: evalue``
   printed.
4. A closing summary: notebooks rendered / up to date / failed, runs reused / trained / missing.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data import DatasetError
from ..data.checks import check_present
from ..paths import PACKAGE, notebooks_dir, params_dir, results_dir
from ..study.execute import find
from ..study.methods import initial_weights
from ..study.params import StudyParams, notebook_parameters, parse_study
from ..study.yaml12 import ConfigError, read_params
from ..study.plan import Request, RunRequest, Stage2Request, stage1_of
from ..study.queue import QUEUE_FILE, ProfilePlan, default_jobs, plan_profile, run_queue
from ..study.store import Store
from ..train.checkpoint import save_json_atomic

SUMMARY = "99_summary"


def ordered(names: list[str]) -> list[str]:
    """Parameter-file stems sorted, the summary last. ``<notebook>.<variant>`` renders ``<notebook>``
    once more with other parameters (e.g. ``01_reweighting.cifar100-if50``)."""
    names = sorted(names)
    return [n for n in names if not n.startswith(SUMMARY)] + [n for n in names if n.startswith(SUMMARY)]


def profile_files(profile: str) -> dict[str, Path]:
    """The parameter files of ``profile`` by stem (``queue.yaml`` is the queue's, not a notebook's)."""
    folder = params_dir() / profile
    if not folder.is_dir():
        choices = sorted(p.name for p in params_dir().iterdir() if p.is_dir())
        raise ConfigError(f"PROFILE={profile!r} has no folder params/{profile}/; allowed: {', '.join(choices)}")
    return {p.stem: p for p in sorted(folder.glob("*.yaml")) if p.name != QUEUE_FILE}


def _where(path: Path) -> str:
    root = params_dir().parent
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def check_inputs(study: StudyParams, data_dir: str) -> None:
    """The files the study reads from ``data_dir`` exist (data, initial weights); else ConfigError."""
    try:
        if study.dataset is not None:
            check_present(study.dataset.name, data_dir, study.dataset.options)
        initial_weights(study.values.get("init_weights", ""), data_dir)
    except (DatasetError, FileNotFoundError) as error:
        raise ConfigError(f"{study.where}: {error}") from None


def validate_profile(profile: str, data_dir: str, only: str | None = None) -> dict[str, StudyParams]:
    """Every file of the profile parsed and its inputs checked, before anything runs."""
    files = profile_files(profile)
    if only is not None and only not in files:
        raise ConfigError(f"notebook {only!r} is not in profile {profile!r}; allowed: {', '.join(ordered(list(files)))}")
    studies = {}
    for name in ordered(list(files)):
        notebook = notebooks_dir() / f"{name.split('.')[0]}.ipynb"
        if not notebook.exists():
            raise ConfigError(f"{_where(files[name])}: no notebook notebooks/{notebook.name} for it")
        values = read_params(files[name])
        defaults = notebook_parameters(notebook)
        study = parse_study(name.split(".")[0], _where(files[name]), values,
                            {**defaults, **({"profile": profile} if "profile" in defaults else {})})
        check_inputs(study, data_dir)
        studies[name] = study
    return {only: studies[only]} if only is not None else studies


def model_params_for(data_dir: str):
    def model_params(study: StudyParams) -> dict[str, Any]:
        return initial_weights(study.values.get("init_weights", ""), data_dir)
    return model_params


# -- rendering ------------------------------------------------------------------------------------
def package_digest() -> str:
    """The package source (every module and resource), path and bytes."""
    digest = hashlib.sha256()
    for path in sorted([*PACKAGE.rglob("*.py"), *PACKAGE.rglob("resources/*")]):
        digest.update(str(path.relative_to(PACKAGE)).encode() + path.read_bytes())
    return digest.hexdigest()


def _read_paths(plan: ProfilePlan, requests: list[Request]) -> list[Path]:
    """The record files a study's notebook reads (present or not): stage 1, stage 2, post-hoc."""
    paths = []
    for request in requests:
        data = plan.data(stage1_of(request).dataset)
        base = find(plan.store, stage1_of(request), data)
        if base is None:
            paths.append(Path(f"missing:{stage1_of(request).key(data.key())}"))
        elif isinstance(request, RunRequest):
            paths.append(base.folder / "result.json")
        elif isinstance(request, Stage2Request):
            paths.append(plan.store.stage2_path(base, request.stage2, dict(request.params), request.seed))
        else:
            paths.append(base.folder / f"posthoc-tau{request.tau:g}.json")
    return paths


def inputs_digest(notebook: Path, params_path: Path, read: list[Path], root: Path, package: str) -> str:
    """What a rendering depends on, with no machine-specific path (module docstring, step 3)."""
    digest = hashlib.sha256(notebook.read_bytes() + params_path.read_bytes() + package.encode())
    for path in read:
        digest.update(str(path.relative_to(root) if path.is_absolute() and path.is_relative_to(root) else path).encode())
        digest.update(path.read_bytes() if path.is_file() else b"absent")
    return digest.hexdigest()[:16]


def failure_line(error: BaseException) -> str:
    """``ename: evalue`` of a failed cell (papermill's error), else the exception itself."""
    ename, evalue = getattr(error, "ename", None), getattr(error, "evalue", None)
    return f"{ename}: {evalue}" if ename else f"{error.__class__.__name__}: {error}"


def execute(notebook: Path, output: Path, parameters: dict[str, Any], kernel: str, cwd: Path) -> None:
    """papermill into a temporary file next to ``output``; moved into place only on success."""
    import papermill

    output.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{output.stem}.", suffix=".ipynb", dir=output.parent)
    os.close(handle)
    try:
        papermill.execute_notebook(str(notebook), temporary, parameters=parameters, kernel_name=kernel,
                                   cwd=str(cwd), progress_bar=False, log_output=False)
    except BaseException:
        os.replace(temporary, output.with_suffix(".failed.ipynb"))
        raise
    output.with_suffix(".failed.ipynb").unlink(missing_ok=True)
    os.replace(temporary, output)


def remove_stale_study_files(folder: Path, files: dict[str, Path]) -> None:
    """Study files (``[0-9]*.json``, which the summary reads) that no parameter file of the profile
    writes: from a renamed or removed parameter file, or an interactive run without ``study_name``.
    Left in place they would count in the summary; each removal is printed."""
    for path in sorted(folder.glob("[0-9]*.json")):
        if path.stem not in files:
            path.unlink()
            print(f"[reproduce] {folder.name}: removed {path.name} (no parameter file of the profile writes it)")


@dataclass
class Rendered:
    executed: list[str]
    up_to_date: list[str]
    failed: list[str]


def render(profile: str, studies: dict[str, StudyParams], plan: ProfilePlan, data_dir: str, kernel: str,
           results_root: Path) -> Rendered:
    """Execute every notebook whose inputs changed (module docstring, step 3)."""
    outcome = Rendered([], [], [])
    package = package_digest()
    files = profile_files(profile)
    remove_stale_study_files(results_root / profile, files)
    for name, study in studies.items():
        notebook = notebooks_dir() / f"{name.split('.')[0]}.ipynb"
        output = results_root / profile / f"{name}.ipynb"
        stamp = results_root / profile / ".stamps" / f"{name}.json"
        if name.startswith(SUMMARY):
            if outcome.failed:
                print(f"[reproduce] {profile}/{name}: not rendered: {', '.join(outcome.failed)} failed", file=sys.stderr)
                outcome.failed.append(name)
                continue
            read = sorted((results_root / profile).glob("[0-9]*.json"))
        else:
            read = _read_paths(plan, plan.requests.get(name, []))
        digest = inputs_digest(notebook, files[name], read, results_root, package)
        if output.exists() and stamp.exists() and read_params(stamp).get("inputs") == digest:
            outcome.up_to_date.append(name)
            print(f"[reproduce] {profile}/{name}: up to date")
            continue
        defaults = notebook_parameters(notebook)
        injected = {"profile": profile, "data_dir": str(Path(data_dir).resolve()),
                    "results_root": str(results_root.resolve()), "study_name": name, "progress": False,
                    "interactive": False, "train_missing": False}
        values = read_params(files[name])
        parameters = {**values, **{k: v for k, v in injected.items() if k in defaults}}
        print(f"[reproduce] {profile}/{name}: executing", flush=True)
        try:
            execute(notebook, output, parameters, kernel, notebooks_dir())
        except Exception as error:  # noqa: BLE001 - report the notebook and go on with the others
            outcome.failed.append(name)
            print(f"[reproduce] {profile}/{name}: FAILED: {failure_line(error)}; see "
                  f"{output.with_suffix('.failed.ipynb')}", file=sys.stderr)
            continue
        if name.startswith(SUMMARY):  # the study files it read may have been rewritten meanwhile
            read = sorted((results_root / profile).glob("[0-9]*.json"))
        digest = inputs_digest(notebook, files[name], read if name.startswith(SUMMARY) else
                               _read_paths(plan, plan.requests.get(name, [])), results_root, package)
        save_json_atomic({"inputs": digest}, stamp)
        outcome.executed.append(name)
    return outcome


def _run_counts(plan: ProfilePlan) -> tuple[int, int]:
    """(finished, total) distinct stage-1 runs of the profile."""
    runs = {}
    for request in plan.all_requests():
        base = stage1_of(request)
        for run in (base, *base.teachers):
            runs[run.key(plan.data(run.dataset).key())] = run
    finished = sum(find(plan.store, r, plan.data(r.dataset)) is not None for r in runs.values())
    return finished, len(runs)


def run_profile(profile: str, data_dir: str, kernel: str, jobs: str | None = None, only: str | None = None,
                threads: int | None = None, device: str = "auto", results_root: Path | None = None) -> int:
    """Validate, train the queue, render (module docstring). Returns an exit code."""
    studies = validate_profile(profile, data_dir, only)
    results_root = results_root or results_dir()
    store = Store(results_root / "store")
    plan = plan_profile(studies, params_dir() / profile, data_dir, store, model_params_for(data_dir))
    before, total = _run_counts(plan)
    jobs = jobs or default_jobs(params_dir() / profile)
    started = time.time()
    if jobs != "0" and (plan.units or plan.follow_ups):
        if plan.units:
            print(f"[reproduce] {profile}: training {len(plan.units)} units of runs (JOBS={jobs})", flush=True)
        run_queue(plan, jobs, data_dir, device, threads)
    after, _ = _run_counts(plan)
    outcome = render(profile, studies, plan, data_dir, kernel, results_root)
    print(f"[reproduce] {profile}: notebooks {len(outcome.executed)} rendered, {len(outcome.up_to_date)} up to "
          f"date, {len(outcome.failed)} failed; runs {before} reused, {after - before} trained, {total - after} "
          f"missing{' (JOBS=0: nothing trained)' if jobs == '0' and after < total else ''} "
          f"[{time.time() - started:.0f} s]")
    print(f"[reproduce] read them: results/{profile}/*.ipynb, results/site/index.html (make site), "
          f"or make lab (notebooks/explore.ipynb); progress: make status PROFILE={profile}")
    return 1 if outcome.failed else 0


def refresh_references(kernel: str, only: str | None = None) -> int:
    """Re-execute every smoke notebook (or ``only`` that one) into tests/notebooks/ (the nbval
    references), training in a scratch results folder as a user in JupyterLab would."""
    target = params_dir().parent / "tests" / "notebooks"
    target.mkdir(parents=True, exist_ok=True)
    studies = validate_profile("smoke", "data", only)
    files = profile_files("smoke")
    with tempfile.TemporaryDirectory() as scratch:
        copies = Path(scratch) / "notebooks"
        copies.mkdir()
        for name in studies:
            shutil.copy(notebooks_dir() / f"{name}.ipynb", copies / f"{name}.ipynb")
            defaults = notebook_parameters(copies / f"{name}.ipynb")
            portable = {"profile": "smoke", "results_root": "../results", "progress": False, "interactive": False}
            parameters = {**read_params(files[name]), **{k: v for k, v in portable.items() if k in defaults}}
            print(f"[reproduce] reference {name}", flush=True)
            execute(copies / f"{name}.ipynb", target / f"{name}.ipynb", parameters, kernel, copies)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--kernel", default="imbalance-baselines")
    parser.add_argument("--jobs", default=None, help="0, 1, N or ray[:address] (default: the profile's queue.yaml, else 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per training process")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--notebook", default=None,
                        help="run (or with --refresh-references, refresh) one notebook of the profile")
    parser.add_argument("--refresh-references", action="store_true",
                        help="rebuild tests/notebooks/ (the nbval references) with the smoke profile")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)
    logging.getLogger("papermill").setLevel(logging.WARNING)
    try:
        if args.refresh_references:
            return refresh_references(args.kernel, args.notebook)
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        return run_profile(args.profile, args.data_dir, args.kernel, args.jobs, args.notebook, args.threads, args.device)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
