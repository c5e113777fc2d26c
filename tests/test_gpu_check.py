"""make gpu-check: the Makefile's command line parses, and every phase runs on the CPU at the tiny size
and reports finite, positive figures in text and JSON (never timed against a threshold)."""

import json
import math
import re
import shlex
from pathlib import Path

from imbalance_baselines.cli import gpu_check

ROOT = Path(__file__).resolve().parents[1]


def test_the_makefile_command_line_parses():
    recipe = re.search(r"-m imbalance_baselines\.cli\.gpu_check(.*)", (ROOT / "Makefile").read_text()).group(1)
    gpu_check.build_parser().parse_args(shlex.split(recipe.replace("$(GPU_CHECK_ARGS)", "")))


def positive_numbers(value):
    if isinstance(value, dict):
        return [n for item in value.values() for n in positive_numbers(item)]
    if isinstance(value, list):
        return [n for item in value for n in positive_numbers(item)]
    return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def test_every_phase_runs_tiny_on_the_cpu(tmp_path, capsys):
    out = tmp_path / "figures" / "gpu_check.json"
    assert gpu_check.main(["--device", "cpu", "--tiny", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    figures = json.loads(out.read_text())

    assert figures["skipped"] == [], figures["skipped"]
    assert set(figures["probe"]) == {"eager", "compiled"}
    assert figures["full_run"]["epochs"] == 3 and not figures["full_run"]["real"]
    for way in ("one_pass", "processes"):
        assert set(figures["concurrency"][way]) == {"1", "2"}, way
    assert figures["faster"]["way"] in ("one_pass", "processes")
    assert [t["name"] for t in figures["targets"]] == list(gpu_check.TARGETS)
    assert figures["estimate"]["training_images"] > 0 and len(figures["estimate"]["studies"]) == 6
    numbers = positive_numbers({k: v for k, v in figures.items() if k != "targets"})
    assert numbers and all(math.isfinite(n) and n > 0 for n in numbers)

    for line in ("probe eager", "probe compiled", "full run, CE, 3 epochs", "one_pass  K =  2",
                 "processes K =  2", "full profile:", "assumes", "target full_run_seconds <= 30.0",
                 "target cost_of_8_at_once <= 0.3: -  not measured", f"figures written to {out}"):
        assert line in printed, line


def test_a_budget_too_small_skips_and_says_so(tmp_path, capsys):
    assert gpu_check.main(["--device", "cpu", "--tiny", "--budget-seconds", "0"]) == 0
    printed = capsys.readouterr().out
    assert "skipped probe (eager): ran out of the time budget" in printed
    assert "target full_run_seconds <= 30.0: -  not measured" in printed
