"""Where the project's folders are: the bottom floor every layer may import.

The project is the folder the user runs from (the current directory or the nearest parent holding
``params/`` and ``notebooks/``), not wherever the package happens to be installed, so results are
written beside the parameter files that made them. ``IMBALANCE_PROJECT`` overrides the search.
Outside any project (a bare ``pip install``) the source checkout that holds the package is used.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def _is_project(folder: Path) -> bool:
    return (folder / "params").is_dir() and (folder / "notebooks").is_dir()


def project_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The project folder: ``IMBALANCE_PROJECT``, else the nearest folder at or above ``start``
    (default: the current directory) with ``params/`` and ``notebooks/``, else the checkout that
    holds this package."""
    if os.environ.get("IMBALANCE_PROJECT"):
        return Path(os.environ["IMBALANCE_PROJECT"]).resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if _is_project(folder):
            return folder
    return PACKAGE.parents[1]


def params_dir() -> Path:
    """``<project>/params``: one folder of parameter files per profile."""
    return project_root() / "params"


def notebooks_dir() -> Path:
    """``<project>/notebooks``: the notebooks, stored without outputs."""
    return project_root() / "notebooks"


def results_dir() -> Path:
    """``<project>/results``: rendered notebooks, study files and the results store, by profile."""
    return project_root() / "results"
