"""``make reproduce``: execute every notebook of a profile with papermill into ``results/<profile>/``.

    python -m imbalance_baselines.reproduce --profile quick --data-dir data [--notebook 01_reweighting]

A profile is a folder ``params/<profile>/`` with one parameter file per notebook. Every file is
validated (unknown key, wrong type, out-of-range value: one error naming file and key) before any
notebook runs. A notebook whose inputs (notebook, parameter file, data folder, package source) did
not change since its last successful run is not executed again; a failed notebook is saved as
``<name>.failed.ipynb``, reported by name, and never counts as done. Training inside a notebook
resumes from its checkpoints, so an interrupted ``make reproduce`` continues where it stopped.
The campaign profile ``cpu-reference`` (``params/cpu-reference.yaml``) is started detached instead.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from collections.abc import Iterable
from typing import Any

from .config import ConfigError, check_keys, read_params, train_config
from .train.checkpoint import save_json_atomic

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
PARAMS = ROOT / "params"
# Parameters the runner sets itself (paths are made absolute; rendered copies show no progress bars).
RUNNER_PARAMETERS = ("profile", "data_dir", "results_root", "progress", "interactive")
SUMMARY = "99_summary"


def ordered(names: Iterable[str]) -> list[str]:
    """Parameter-file stems sorted, the summary last. ``<notebook>.<variant>`` runs ``<notebook>``
    once more with other parameters (e.g. ``01_reweighting.cifar100-if50``)."""
    names = sorted(names)
    return [n for n in names if not n.startswith(SUMMARY)] + [n for n in names if n.startswith(SUMMARY)]


def notebook_defaults(notebook: Path) -> dict[str, Any]:
    """The notebook's parameters cell as {name: default value}."""
    import papermill

    inspected = papermill.inspect_notebook(str(notebook))
    return {name: ast.literal_eval(entry["default"]) for name, entry in inspected.items()}


def validate(notebook: Path, params_path: Path, params: dict[str, Any]) -> None:
    """Names and types against the notebook's parameters cell, then the values the library checks."""
    from .data import DATASETS
    from .methods import DEFAULT_HYPERPARAMETERS, METHODS
    from .models import MODELS

    where = str(params_path.relative_to(ROOT) if params_path.is_relative_to(ROOT) else params_path)
    defaults = notebook_defaults(notebook)
    check_keys(where, params, defaults)
    for key in RUNNER_PARAMETERS:
        if key in params:
            raise ConfigError(f"{where}: {key} is set by make reproduce; remove it from the file")
    if "train" in params:
        train_config(where, params["train"])
    for method in params.get("methods", []):
        if method not in METHODS:
            raise ConfigError(f"{where}: methods: unknown method {method!r}; allowed: {', '.join(METHODS)}")
    check_keys(f"{where}: hyperparameters", params.get("hyperparameters", {}), DEFAULT_HYPERPARAMETERS)
    if "model" in params and params["model"] not in MODELS:
        raise ConfigError(f"{where}: model={params['model']!r} is unknown; allowed: {', '.join(MODELS)}")
    dataset = params.get("dataset", {})
    if dataset and dataset.get("name") not in DATASETS:
        raise ConfigError(f"{where}: dataset name={dataset.get('name')!r} is unknown; "
                          f"allowed: {', '.join(DATASETS)}")
    from . import feature_generation  # noqa: F401 - registers TailCalib and TailCalibX
    from .decoupling import TWO_STAGE

    check_keys(f"{where}: cbd", params.get("cbd", {}), defaults.get("cbd", {}))
    if params.get("cbd", {}).get("train"):
        train_config(f"{where}: cbd", {**params.get("train", {}), **params["cbd"]["train"]})
    for method in {**params.get("stage2", {}), **params.get("cbd", {}).get("stage2", {})}:
        if method not in TWO_STAGE:
            raise ConfigError(f"{where}: stage2: unknown method {method!r}; allowed: {', '.join(TWO_STAGE)}")
    seeds = params.get("seeds", [0])
    if not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ConfigError(f"{where}: seeds={seeds!r}; allowed: a non-empty list of integers >= 0")


def check_inputs(params_path: Path, params: dict[str, Any], data_dir: str) -> None:
    """The files a profile reads from ``data_dir`` exist (split files or annotation json of a
    large-scale dataset, ``init_weights``): else one ``ConfigError`` naming the missing path and how
    to obtain it, before any notebook runs."""
    from .data import DatasetError
    from .data.file_lists import check_present
    from .study import initial_weights

    dataset = dict(params.get("dataset", {}))
    try:
        if dataset:
            check_present(dataset.pop("name"), data_dir, **dataset)
        initial_weights(params.get("init_weights", ""), data_dir)
    except (DatasetError, FileNotFoundError) as error:
        where = params_path.relative_to(ROOT) if params_path.is_relative_to(ROOT) else params_path
        raise ConfigError(f"{where}: DATA_DIR={data_dir}: {error}") from None


def inputs_hash(notebook: Path, params_path: Path, data_dir: str) -> str:
    """What a rendered notebook depends on: its source, its parameters, the data path, the package."""
    digest = hashlib.sha256()
    for path in [notebook, params_path, *sorted(Path(__file__).parent.rglob("*.py")),
                 *sorted(Path(__file__).parent.rglob("resources/*"))]:
        digest.update(path.read_bytes())
    digest.update(str(Path(data_dir).resolve()).encode())
    return digest.hexdigest()[:16]


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


def run_profile(profile: str, data_dir: str, kernel: str, only: str | None = None,
                results_root: Path | None = None) -> int:
    """Validate all, then execute the profile's notebooks (summary last). Returns an exit code."""
    folder = PARAMS / profile
    if not folder.is_dir():
        choices = sorted(p.name for p in PARAMS.iterdir() if p.is_dir()) + ["cpu-reference"]
        raise ConfigError(f"PROFILE={profile!r} has no folder params/{profile}/; allowed: {', '.join(choices)}")
    names = ordered(p.stem for p in folder.glob("*.yaml"))
    if only is not None:
        if only not in names:
            raise ConfigError(f"notebook {only!r} is not in profile {profile!r}; allowed: {', '.join(names)}")
        names = [only]
    plans = []
    for name in names:
        notebook, params_path = NOTEBOOKS / f"{name.split('.')[0]}.ipynb", folder / f"{name}.yaml"
        if not notebook.exists():
            raise ConfigError(f"{params_path}: no notebook {notebook.relative_to(ROOT)} for it")
        params = read_params(params_path)
        validate(notebook, params_path, params)
        check_inputs(params_path, params, data_dir)
        plans.append((name, notebook, params_path, params))

    results_root = results_root or ROOT / "results"
    failed = []
    for name, notebook, params_path, params in plans:
        output = results_root / profile / f"{name}.ipynb"
        stamp = results_root / profile / ".stamps" / f"{name}.json"
        digest = inputs_hash(notebook, params_path, data_dir)
        if output.exists() and stamp.exists() and read_params(stamp).get("inputs") == digest:
            print(f"[reproduce] {profile}/{name}: up to date")
            continue
        defaults = notebook_defaults(notebook)
        injected = {"profile": profile, "data_dir": str(Path(data_dir).resolve()),
                    "results_root": str(results_root.resolve()), "progress": False, "interactive": False}
        parameters = {**params, **{k: v for k, v in injected.items() if k in defaults}}
        print(f"[reproduce] {profile}/{name}: executing", flush=True)
        try:
            execute(notebook, output, parameters, kernel, NOTEBOOKS)
        except Exception as error:  # noqa: BLE001 - report the notebook and go on with the others
            failed.append(name)
            print(f"[reproduce] {profile}/{name}: FAILED ({error.__class__.__name__}); see "
                  f"{output.with_suffix('.failed.ipynb')}", file=sys.stderr)
            continue
        save_json_atomic({"inputs": digest}, stamp)
    if failed:
        print(f"[reproduce] failed notebooks: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def start_campaign(data_dir: str) -> int:
    """Start the reference campaign detached (nohup-like); its log is one line per epoch."""
    log = ROOT / "results" / "cpu-reference" / "log.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "imbalance_baselines.reference", str(PARAMS / "cpu-reference.yaml"),
               "--data-dir", data_dir, "--threads", "1", "--log", str(log)]
    with open(log.with_name("nohup.out"), "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    print(f"[reproduce] cpu-reference started detached (pid {process.pid}); follow it with: tail -f {log}")
    return 0


def refresh_references(kernel: str, only: str | None = None) -> int:
    """Re-execute every notebook (or ``only`` that one) with the smoke profile into tests/notebooks/
    (the nbval references)."""
    target = ROOT / "tests" / "notebooks"
    target.mkdir(parents=True, exist_ok=True)
    names = ordered(p.stem for p in (PARAMS / "smoke").glob("*.yaml"))
    if only is not None:
        if only not in names:
            raise ConfigError(f"notebook {only!r} is not in profile 'smoke'; allowed: {', '.join(names)}")
        names = [only]
    with tempfile.TemporaryDirectory() as scratch:
        copies = Path(scratch) / "notebooks"
        copies.mkdir()
        for name in names:
            shutil.copy(NOTEBOOKS / f"{name}.ipynb", copies / f"{name}.ipynb")
            params = read_params(PARAMS / "smoke" / f"{name}.yaml")
            validate(NOTEBOOKS / f"{name}.ipynb", PARAMS / "smoke" / f"{name}.yaml", params)
            defaults = notebook_defaults(copies / f"{name}.ipynb")
            portable = {"profile": "smoke", "results_root": "../results", "progress": False,
                        "interactive": False}
            parameters = {**params, **{k: v for k, v in portable.items() if k in defaults}}
            print(f"[reproduce] reference {name}", flush=True)
            execute(copies / f"{name}.ipynb", target / f"{name}.ipynb", parameters, kernel, copies)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--kernel", default="imbalance-baselines")
    parser.add_argument("--notebook", default=None,
                        help="run (or with --refresh-references, refresh) one notebook of the profile")
    parser.add_argument("--refresh-references", action="store_true",
                        help="rebuild tests/notebooks/ (the nbval references) with the smoke profile")
    args = parser.parse_args(argv)
    try:
        if args.refresh_references:
            return refresh_references(args.kernel, args.notebook)
        if args.profile == "cpu-reference":
            return start_campaign(args.data_dir)
        return run_profile(args.profile, args.data_dir, args.kernel, args.notebook)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
