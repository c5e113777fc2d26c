"""The notebooks: stored without outputs, references current, and the references re-executed by nbval.

The references in tests/notebooks/ are the notebooks executed with the smoke profile
(``make refresh-references``). nbval re-executes them and compares every output, except cells tagged
``nbval-ignore-output``: those show trained numbers, which move with the CPU's kernels (a 4-epoch
smoke run on 200 images flips whole classes between thread counts). Those numbers are checked here
with a tolerance instead: every method must learn (top-1 at least twice chance).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("*.ipynb"))
REFERENCES = ROOT / "tests" / "notebooks"
SMOKE = sorted(p.stem for p in (ROOT / "params" / "smoke").glob("*.yaml"))


def code_cells(path):
    book = nbformat.read(path, as_version=4)
    return [c.source for c in book.cells
            if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_notebook_sources_are_stored_without_outputs(path):
    book = nbformat.read(path, as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name} has outputs"
    tagged = [c for c in book.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"


@pytest.mark.parametrize("name", SMOKE)
def test_reference_is_current(name):
    reference = REFERENCES / f"{name}.ipynb"
    assert reference.exists(), f"no reference for {name}: run make refresh-references"
    assert code_cells(reference) == code_cells(ROOT / "notebooks" / f"{name}.ipynb"), (
        f"tests/notebooks/{name}.ipynb is stale: its code differs from notebooks/{name}.ipynb; "
        "run make refresh-references")


@pytest.fixture(scope="module")
def nbval_run(tmp_path_factory):
    """Re-execute the references with nbval in a scratch copy (results go to its ../results)."""
    scratch = tmp_path_factory.mktemp("nbval")
    shutil.copytree(REFERENCES, scratch / "notebooks")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
               "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg"),
               "--nbval-kernel-name", "imbalance-baselines", "--nbval-cell-timeout", "600",
               *[str(scratch / "notebooks" / f"{name}.ipynb") for name in SMOKE]]
    completed = subprocess.run(command, cwd=scratch, env=env, capture_output=True, text=True)
    return scratch, completed


def test_references_pass_nbval(nbval_run):
    _, completed = nbval_run
    assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr[-2000:]


def test_every_smoke_method_learns(nbval_run):
    scratch, _ = nbval_run
    studies = sorted((scratch / "results" / "smoke").glob("[0-9]*.json"))
    method_notebooks = [n for n in SMOKE if n[:2].isdigit() and n[:2] not in ("00", "99")]
    assert len(studies) == len(method_notebooks), studies
    for path in studies:
        document = json.loads(path.read_text())
        classes = len(document["runs"][0]["data"]["train_counts"])
        for run in document["runs"]:
            assert run["status"] == "finished", (path.name, run["method"], run.get("error"))
            assert run["test"]["top1"] >= 2 / classes, (path.name, run["method"], run["test"]["top1"])
