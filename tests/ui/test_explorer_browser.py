"""The explorer notebook in a real browser: JupyterLab + headless Chromium, checked in the DOM.

The notebook is opened, every cell run; then the tests check that no cell shows an error, that the
controls rendered (found by their descriptions), that the half-written result file is named in a
visible warning, that changing the methods or the dataset changes the table, and that "try a method"
trains with a progress bar and joins the comparison. Screenshots go to ``output_dir``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

CONTROLS = ["dataset", "imbalance factor", "profile", "metric", "methods", "loss", "sampler"]
PANEL = """
const app = window.jupyterapp;  // exposed by --LabApp.expose_app_in_browser
const panel = app && Array.from(app.shell.widgets('main')).find(w => w.title.label === 'explore.ipynb');
"""
NOTEBOOK_OPEN = PANEL + "return !!panel;"
RUN_ALL = PANEL + """
const done = arguments[arguments.length - 1];
app.shell.activateById(panel.id);
panel.sessionContext.ready
  .then(() => app.commands.execute('notebook:run-all-cells'))
  .then(() => done('ok'), error => done(String(error)));
"""
KERNEL_STATUS = PANEL + """
const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
return kernel ? kernel.status : null;
"""
ERROR_OUTPUTS = """
return Array.from(document.querySelectorAll(
  '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'), e => e.innerText);
"""


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``condition`` until it returns something true; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def text(driver, selector: str) -> str:
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", selector)


def control(driver, description: str) -> Select:
    """The <select> of the dropdown or multi-select whose label is ``description``."""
    path = (f"//div[contains(@class, 'widget-inline-hbox')][label[normalize-space()='{description}']]"
            "//select")
    return Select(driver.find_element(By.XPATH, path))


def settled(driver) -> None:
    """Wait until the kernel is idle (the redraw finished), then check that no output is an error."""
    wait_for(lambda: driver.execute_script(KERNEL_STATUS) == "idle", 120, "the kernel to be idle")
    errors = driver.execute_script(ERROR_OUTPUTS)
    assert errors == [], errors[0][:2500] + " ... " + errors[0][-800:]
    shown = text(driver, ".jp-Notebook")
    for sign in ("Traceback", "Error displaying widget", "Loading widget"):
        assert sign not in shown


def screenshot(driver, output_dir: Path, name: str, selector: str = ".explore") -> Path:
    """Scroll ``selector`` into view once the page settled; save ``<output_dir>/<name>.png``."""
    settled(driver)
    driver.execute_script("document.querySelector(arguments[0]).scrollIntoView()", selector)
    time.sleep(1)  # images decoded and laid out
    path = output_dir / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


@pytest.fixture(scope="module")
def page(browser, lab_url, output_dir):
    """The explorer notebook, opened and run top to bottom."""
    started = time.monotonic()
    browser.get(lab_url)
    wait_for(lambda: browser.execute_script(NOTEBOOK_OPEN)
             and browser.find_elements(By.CSS_SELECTOR, ".jp-CodeCell"), 120, "JupyterLab to open the notebook")
    assert browser.execute_async_script(RUN_ALL) == "ok"
    try:
        settled(browser)
        wait_for(lambda: text(browser, ".explore-table"), 30, "the comparison table")
    except BaseException:
        browser.save_screenshot(str(output_dir / "failed-run-all.png"))
        raise
    print(f"notebook opened and run in {time.monotonic() - started:.1f} s")
    return browser


def test_every_cell_ran_without_error_output(page, output_dir):
    prompts = page.execute_script(
        "return Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt'), e => e.innerText)")
    assert prompts and all(p.strip("[]: ").isdigit() for p in prompts), prompts
    settled(page)
    screenshot(page, output_dir, "explorer")


def test_controls_rendered_by_description(page):
    labels = page.execute_script(
        "return Array.from(document.querySelectorAll('.widget-label'), e => e.innerText.trim())")
    assert set(CONTROLS) <= set(labels), labels
    assert page.find_element(By.XPATH, "//button[normalize-space()='train and compare']")
    assert len(control(page, "methods").all_selected_options) == 3


def test_half_written_file_is_named_in_a_warning(page):
    notes = text(page, ".explore-notes")
    assert "02_half-written.json" in notes and "⚠" in notes


def test_methods_control_changes_the_table(page):
    before = text(page, ".explore-table")
    assert "Focal" in before and "6 runs" in before
    control(page, "methods").deselect_by_visible_text("Focal")
    after = wait_for(lambda: (t := text(page, ".explore-table")) != before and t, 30, "the table to change")
    assert "Focal" not in after and "4 runs" in after
    settled(page)
    control(page, "methods").select_by_visible_text("Focal")
    wait_for(lambda: "6 runs" in text(page, ".explore-table"), 30, "Focal back in the table")
    settled(page)


def test_factor_and_dataset_controls_change_the_table(page, output_dir):
    before = text(page, ".explore-table")
    control(page, "imbalance factor").select_by_visible_text("20")
    after = wait_for(lambda: "IF 20" in (t := text(page, ".explore-table")) and t, 30, "the IF 20 table")
    assert after != before and "Balanced Softmax" in after
    settled(page)
    control(page, "dataset").select_by_visible_text("cifar10_lt")
    missing = wait_for(lambda: "No results" in (t := text(page, ".explore-table")) and t, 30,
                       "the no-results message")
    assert "no profile includes it" in missing  # cifar10_lt IF 20 is in no params file
    control(page, "imbalance factor").select_by_visible_text("100")
    missing = wait_for(lambda: "IF 100" in (t := text(page, ".explore-table")) and t, 30,
                       "the message for cifar10_lt IF 100")
    assert "make reproduce PROFILE=quick" in missing  # the profile that makes it
    screenshot(page, output_dir, "no-results")
    control(page, "dataset").select_by_visible_text("synthetic_lt")
    control(page, "imbalance factor").select_by_visible_text("10")
    wait_for(lambda: "IF 10" in text(page, ".explore-table"), 30, "the IF 10 table")
    settled(page)


def test_try_a_method_trains_live_and_joins_the_comparison(page, output_dir):
    control(page, "loss").select_by_visible_text("focal")
    control(page, "sampler").select_by_visible_text("class_balanced")
    page.find_element(By.XPATH, "//button[normalize-space()='train and compare']").click()
    wait_for(lambda: "done:" in text(page, ".explore-progress"), 300, "the tried run to finish")
    progress = text(page, ".explore-progress")
    assert "100%" in progress, progress  # the tqdm widget bar, full
    table = wait_for(lambda: "explore-smoke" in (t := text(page, ".explore-table")) and t, 30,
                     "the comparison with the tried run")
    assert "try: focal + class_balanced" in table and "\nCE\t" in table
    screenshot(page, output_dir, "try-a-method")
