"""environment.yml: conda's python and pip, then the project from pyproject.toml (parsed; no conda here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")  # Python 3.11+


def test_environment_installs_the_project_with_its_dev_extras():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    conda = [d for d in environment["dependencies"] if isinstance(d, str)]
    pip = [p for d in environment["dependencies"] if isinstance(d, dict) for p in d.get("pip", [])]

    pythons = [m.group(1) for d in conda if (m := re.fullmatch(r"python\s*=?=?\s*([\d.]+)", d))]
    assert len(pythons) == 1, f"environment.yml: dependencies={conda}: expected one python=X.Y"
    assert Version(pythons[0]) in SpecifierSet(project["requires-python"]), (pythons[0], project["requires-python"])
    assert "pip" in conda

    installs = [m for p in pip if (m := re.fullmatch(r"-e\s+\.(?:\[([\w,\s-]*)\])?", p.strip()))]
    assert len(installs) == 1 and len(pip) == 1, f"environment.yml: pip={pip}: expected only `-e .[dev]`"
    extras = {e.strip() for e in (installs[0].group(1) or "").split(",") if e.strip()}
    assert extras == {"dev"} and "dev" in project["optional-dependencies"], extras
    setup = re.search(r"pip install .*-e '\.\[([\w,]+)\]'", (ROOT / "Makefile").read_text())
    assert setup and set(setup.group(1).split(",")) == extras, "make setup installs other extras"
