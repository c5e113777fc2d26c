"""``make site``: the rendered notebooks in ``results/`` as static HTML pages, readable without Jupyter.

    python -m imbalance_baselines.cli.site --results results --out results/site

One page ``<out>/<profile>/<notebook>.html`` per ``results/<profile>/*.ipynb`` (failed renders
``*.failed.ipynb`` and hidden temporaries skipped), by nbconvert's HTMLExporter (lab template), images
embedded: outputs carry theirs as base64, and markdown images are inlined. Pages are self-contained:
the template's scripts (require.js, widgets, MathJax; rendered notebooks hold no widget state, script
output or math) are left out, and a relative link points at the page of the notebook it names or at
the file beside the notebook, or is dropped with a warning when no such file exists. ``index.html``
lists profile, notebook, date rendered (papermill's ``end_time``, else the file's mtime; UTC) and the
runs finished as the notebook prints them (blank when it does not). Files are written atomically and
pages of notebooks that are gone are removed.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, unquote

import nbformat

from ..paths import results_dir

TEMPLATE = """{%- extends 'index.html.j2' -%}
{% block html_head_js %}{% endblock html_head_js %}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{% block html_head_js_mathjax %}{% endblock html_head_js_mathjax %}
"""
NAV = '<main><nav class="jp-RenderedHTMLCommon"><a href="../index.html">all results</a></nav>'
# A relative link: no scheme (so no ':'), not an in-page anchor, not absolute.
LINK = re.compile(r'\b(href|src)="([^"#:/][^"#:]*)(#[^"]*)?"')
FINISHED = re.compile(r"\b(\d[\d,]* of \d[\d,]*) (?:runs? )?finished|\b(\d[\d,]*) finished (?:\w+ )?runs?\b")


def rendered_notebooks(results: Path) -> list[Path]:
    """``results/<profile>/*.ipynb`` without ``*.failed.ipynb`` and hidden files, sorted."""
    return sorted(p for p in results.glob("*/*.ipynb") if not p.name.startswith(".")
                  and not p.name.endswith(".failed.ipynb") and not p.parent.name.startswith("."))


def rendered_at(notebook: Path, nb: nbformat.NotebookNode) -> str:
    """papermill's ``end_time`` (reproducible), else the file's mtime, as ``YYYY-MM-DD HH:MM UTC``."""
    end = nb.metadata.get("papermill", {}).get("end_time")
    when = (datetime.fromisoformat(end) if end
            else datetime.fromtimestamp(notebook.stat().st_mtime, timezone.utc))
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def runs_finished(nb: nbformat.NotebookNode) -> str:
    """The first "k of n finished" or "k finished runs" the notebook's outputs print; "" if none."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            text = "".join([*output.get("text", ""), *data.get("text/markdown", ""), *data.get("text/plain", "")])
            if match := FINISHED.search(text):
                return match.group(1) or match.group(2)
    return ""


def write_atomic(path: Path, text: str) -> None:
    """``text`` to a temporary file beside ``path``, then moved over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def relink(body: str, notebook: Path, page: Path, pages: dict[Path, Path]) -> str:
    """Relative links of ``notebook`` made to work from ``page``: to a site page, else to the file."""
    def fix(match: re.Match[str]) -> str:
        attribute, target, anchor = match.group(1), html.unescape(match.group(2)), match.group(3) or ""
        source = (notebook.parent / unquote(target)).resolve()
        destination = pages.get(source) or (source if source.exists() else None)
        if destination is None:
            print(f"[site] {notebook}: link {target!r} names no file; dropped", file=sys.stderr)
            return ""
        return f'{attribute}="{quote(os.path.relpath(destination, page.parent))}{anchor}"'

    return LINK.sub(fix, body)


def index_page(rows: list[tuple[str, str, str, str, str]]) -> str:
    """The table of every page: (profile, notebook, page href, date rendered, runs finished)."""
    lines = [f"<tr><td>{html.escape(profile)}</td><td><a href=\"{quote(href)}\">{html.escape(name)}</a></td>"
             f"<td>{when}</td><td>{html.escape(finished)}</td></tr>" for profile, name, href, when, finished in rows]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>imbalance-baselines results"
            "</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:.3em .8em;text-align:left}</style></head><body>\n"
            "<h1>imbalance-baselines: rendered notebooks</h1>\n<p>Made by <code>make site</code> from "
            "<code>results/&lt;profile&gt;/*.ipynb</code>.</p>\n<table>\n<tr><th>profile</th><th>notebook</th>"
            "<th>rendered</th><th>runs finished</th></tr>\n" + "\n".join(lines) + "\n</table>\n</body></html>\n")


def build_site(results: Path, out: Path) -> list[Path]:
    """Write every page and ``out/index.html``; returns the pages."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(embed_images=True, extra_loaders=[DictLoader({"site.html.j2": TEMPLATE})],
                            template_file="site.html.j2")
    notebooks = [p for p in rendered_notebooks(results) if not p.resolve().is_relative_to(out.resolve())]
    pages = {nb.resolve(): out / nb.parent.name / f"{nb.stem}.html" for nb in notebooks}
    rows = []
    for notebook in notebooks:
        page, nb = pages[notebook.resolve()], nbformat.read(notebook, as_version=4)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": notebook.stem,
                                                                          "path": str(notebook.parent)}})
        write_atomic(page, relink(body, notebook, page, pages).replace("<main>", NAV, 1))
        rows.append((notebook.parent.name, notebook.stem, str(page.relative_to(out)),
                     rendered_at(notebook, nb), runs_finished(nb)))
    for stale in set(out.glob("*/*.html")) - set(pages.values()):
        stale.unlink()
    write_atomic(out / "index.html", index_page(rows))
    return list(pages.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, help="the results folder (default: <project>/results)")
    parser.add_argument("--out", type=Path, help="where the site goes (default: <results>/site)")
    args = parser.parse_args(argv)
    args.results = args.results or results_dir()
    args.out = args.out or args.results / "site"
    if not args.results.is_dir():
        parser.error(f"--results {args.results} is not a folder; expected results/<profile>/*.ipynb")
    pages = build_site(args.results, args.out)
    print(f"[site] {len(pages)} pages and {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
