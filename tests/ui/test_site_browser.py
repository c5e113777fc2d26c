"""``make site`` in a real browser: the index and every page it links, opened in headless Chromium.

The site is built from the two synthetic notebooks of ``tests/test_site.py`` (a PNG output, an HTML
table, a markdown image); every ``<img>`` must have decoded (``naturalWidth > 0``), no page may show
an error cell, and nothing may be requested from the network (the pages are self-contained).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imbalance_baselines.cli import site
from test_site import write_results

PAGE_STATE = """
return {
  images: Array.from(document.images, i => ({src: i.src.slice(0, 40), complete: i.complete,
                                             width: i.naturalWidth})),
  errors: Array.from(document.querySelectorAll(
      '.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]'), e => e.innerText)
    .filter(t => t.includes('Traceback')),
  links: Array.from(document.querySelectorAll('a[href]'), a => a.href),
  external: performance.getEntriesByType('resource').map(r => r.name).filter(n => !n.startsWith('file:')
                                                                             && !n.startsWith('data:')),
};
"""


@pytest.fixture(scope="module")
def site_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    results = write_results(tmp_path_factory.mktemp("site") / "results")
    site.build_site(results, results / "site")
    return results / "site" / "index.html"


def opened(browser, url: str, output_dir: Path, name: str) -> dict:
    browser.get(url)
    state = browser.execute_script(PAGE_STATE)
    browser.save_screenshot(str(output_dir / f"site-{name}.png"))
    assert state["errors"] == [], state["errors"][0][:2000]
    assert all(i["complete"] and i["width"] > 0 for i in state["images"]), state["images"]
    assert state["external"] == [], state["external"]
    return state


def test_index_and_pages_render_with_images_and_no_errors(browser, site_index, output_dir):
    index = opened(browser, site_index.as_uri(), output_dir, "index")
    pages = [link for link in index["links"] if link.endswith(".html")]
    assert len(pages) == 2, index["links"]
    images = 0
    for number, page in enumerate(pages):
        state = opened(browser, page, output_dir, f"page-{number}")
        images += len(state["images"])
        assert site_index.as_uri() in state["links"]  # the way back
    assert images == 2
