"""``make site``: static HTML pages of rendered notebooks, built from two small synthetic notebooks."""

from __future__ import annotations

import base64
import io
import os
import re
from pathlib import Path
from urllib.parse import unquote

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from PIL import Image

from imbalance_baselines.cli import site

# An error output or a traceback on stderr, as nbconvert's lab template renders both.
ERROR_CELL = re.compile(r'data-mime-type="application/vnd\.jupyter\.stderr"[^>]*>(?:(?!</div>).)*Traceback', re.S)


def png(colour: tuple[int, int, int]) -> str:
    """A 40x30 PNG of one colour, base64 (as a notebook's image/png output holds it)."""
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def write_results(results: Path) -> Path:
    """``results/p1/01_plot.ipynb`` (a PNG output, papermill metadata, "3 of 4 runs finished"),
    ``results/p2/99_table.ipynb`` (an HTML table, a markdown image, links: to 01_plot, to a file
    beside it, to nothing), a failed render and a hidden temporary that the site must skip."""
    plot = new_notebook(cells=[
        new_markdown_cell("# Plot"),
        new_code_cell("show()", execution_count=1, outputs=[
            new_output("stream", name="stdout", text="3 of 4 runs finished\n"),
            new_output("display_data", data={"image/png": png((200, 30, 30)), "text/plain": "<Figure>"})])])
    plot.metadata["papermill"] = {"end_time": "2026-11-30T08:15:00.5+00:00"}
    (results / "p2" / "figures").mkdir(parents=True)
    Image.new("RGB", (8, 8), (0, 0, 255)).save(results / "p2" / "figures" / "dot.png")
    (results / "p2" / "results.json").write_text("{}")
    table = new_notebook(cells=[
        new_markdown_cell("# Table\n![dot](figures/dot.png) see [the plot](../p1/01_plot.ipynb#Plot), "
                          "[the data](results.json) and [gone](missing.json)"),
        new_code_cell("table", execution_count=1, outputs=[new_output(
            "execute_result", execution_count=1, data={"text/html": "<table><tr><td>42</td></tr></table>",
                                                       "text/plain": "42"})])])
    for path, nb in ((results / "p1" / "01_plot.ipynb", plot), (results / "p2" / "99_table.ipynb", table),
                     (results / "p1" / "02_broken.failed.ipynb", plot), (results / "p1" / ".01_plot.x.ipynb", plot)):
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
    return results


def links(page: Path) -> list[str]:
    return re.findall(r'\b(?:href|src)="([^"]*)"', page.read_text(encoding="utf-8"))


def test_site_pages_index_and_links(tmp_path, capsys):
    results, out = write_results(tmp_path / "results"), tmp_path / "results" / "site"
    (out / "p1").mkdir(parents=True)
    (out / "p1" / "old.html").write_text("stale")
    pages = site.build_site(results, out)
    assert sorted(p.relative_to(out).as_posix() for p in pages) == ["p1/01_plot.html", "p2/99_table.html"]
    assert not (out / "p1" / "old.html").exists() and not list(out.rglob(".*"))  # no stale page, no temporary

    index = (out / "index.html").read_text(encoding="utf-8")
    assert "<td>p1</td>" in index and "2026-11-30 08:15 UTC" in index and "<td>3 of 4</td>" in index
    assert "broken" not in index and ".01_plot" not in index
    for page in [out / "index.html", *pages]:
        text = page.read_text(encoding="utf-8")
        assert not ERROR_CELL.search(text) and "<script src=" not in text  # no error cell, self-contained
        for link in links(page):
            if link.startswith(("data:image/png;base64,", "#")):
                continue
            assert "://" not in link, f"{page}: external link {link}"
            assert (page.parent / unquote(link.split("#")[0])).exists(), f"{page}: broken link {link}"

    table = links(out / "p2" / "99_table.html")
    assert "../p1/01_plot.html#Plot" in table and "../../p2/results.json" in table
    assert not any("missing.json" in link for link in table) and "missing.json" in capsys.readouterr().err
    images = [link for page in pages for link in links(page) if link.startswith("data:image/png")]
    assert len(images) == 2  # the output and the markdown image, both embedded
    for image in images:
        assert Image.open(io.BytesIO(base64.b64decode(image.split(",", 1)[1]))).size in {(40, 30), (8, 8)}


def test_date_falls_back_to_mtime_and_runs_to_blank(tmp_path):
    path = tmp_path / "p" / "n.ipynb"
    path.parent.mkdir()
    nbformat.write(new_notebook(cells=[new_markdown_cell("no runs")]), path)
    os.utime(path, (1_700_000_000, 1_700_000_000))
    nb = nbformat.read(path, as_version=4)
    assert site.rendered_at(path, nb) == "2023-11-14 22:13 UTC" and site.runs_finished(nb) == ""
