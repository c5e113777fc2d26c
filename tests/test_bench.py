"""make bench: the Makefile's command line is accepted, and one tiny engine benchmark prints every
figure it promises (never timed against a threshold)."""

import re
import shlex
from pathlib import Path

from imbalance_baselines.cli import bench

ROOT = Path(__file__).resolve().parents[1]


def test_the_makefile_command_line_parses():
    recipe = re.search(r"-m imbalance_baselines\.cli\.bench(.*)", (ROOT / "Makefile").read_text()).group(1)
    arguments = shlex.split(recipe.replace("$(BENCH_ARGS)", ""))
    bench.build_parser().parse_args(arguments)
    bench.build_parser().parse_args(shlex.split("--threads 1 --part engine --steps 3"))


def test_a_tiny_engine_benchmark_prints_its_figures(capsys):
    assert bench.main(["--part", "engine", "--steps", "2", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    for figure in ("img/s", "ratio", "GFLOP/s"):
        assert figure in printed, figure


def test_a_tiny_recipe_benchmark_times_every_recipe_against_ce(capsys):
    assert bench.main(["--part", "recipes", "--steps", "1", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    for name in bench.RECIPES:
        assert f"  {name} " in printed, name
    rows = dict((name.strip(), (float(rate), float(ratio))) for name, rate, ratio in
                re.findall(r"^  (.+?)\s+([\d.]+) img/s\s+([\d.]+) x CE's time per epoch$", printed, re.M))
    first, last = map(float, re.search(r"CE first / last: ([\d.]+) / ([\d.]+)", printed).groups())
    assert abs(rows["CE"][0] - (first + last) / 2) <= 0.1  # CE's row is its mean, the reference
    for name, (rate, ratio) in rows.items():  # each ratio is CE's mean rate over the recipe's
        assert abs(ratio - rows["CE"][0] / rate) <= 0.01 + 0.005 * ratio, name
