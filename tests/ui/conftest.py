"""Fixtures of the browser test: a results folder, a JupyterLab server, headless Chromium.

Collected only by ``make test-ui`` (``IMBALANCE_UI_TESTS=1``): it needs Debian's ``chromium`` and
``chromium-driver`` and selenium (the ``ui`` extra); nothing here downloads a browser. The server runs
on a free loopback port with a random token, in a temporary root holding a copy of the explorer
notebook, and is always shut down, its kernels with it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-proxy-server", "--window-size=1400,1800"]
# User settings of the temporary JupyterLab: no news or update requests, every cell attached to the DOM.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}

LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy

if not os.environ.get("IMBALANCE_UI_TESTS"):
    collect_ignore_glob = ["test_*.py"]  # `make test` leaves the browser test to `make test-ui`


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Where the screenshots go (``UI_TEST_OUTPUT``, default ``tests/ui/output/``)."""
    folder = Path(os.environ.get("UI_TEST_OUTPUT", ROOT / "tests" / "ui" / "output"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def make_results(results: Path) -> None:
    """Real smoke-sized runs (CE, Focal, Balanced Softmax; seeds 0 and 1; synthetic IF 10 and 20) in a
    results store with their study files, and one half-written study file."""
    from imbalance_baselines.study import explore
    from imbalance_baselines.study.execute import DataCache, complete, result
    from imbalance_baselines.study.params import parse_study
    from imbalance_baselines.study.plan import study_requests
    from imbalance_baselines.study.report import write_study_results
    from imbalance_baselines.study.store import Store

    store, data_for = Store(results / "store"), DataCache(results)
    for factor in (10, 20):
        defaults = {"dataset": {"name": "synthetic_lt", **explore.TRY_DATA, "imbalance_factor": factor},
                    "train": explore.TRY_TRAIN, "model": "resnet8", "seeds": [0, 1],
                    "methods": ["CE", "Focal", "Balanced Softmax"], "hyperparameters": {}}
        study = parse_study("01_reweighting", "ui test", {}, defaults, from_file=False)
        data = data_for(study.dataset)
        requests = study_requests(study, data.key(), data.num_classes)
        complete(requests, store, data_for, "cpu")
        records = {(r.method, r.seed): result(r, store, data, "cpu") for r in requests}
        tag = f"01_reweighting-synthetic_lt-IF{factor}"
        write_study_results(results / "smoke" / f"{tag}.json", tag, "smoke", defaults, records)
    (results / "smoke" / "02_half-written.json").write_text('{"schema": 2, "runs": [{"fini')


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``notebooks/explore.ipynb`` (a copy) and ``results/`` in a temporary folder."""
    root = tmp_path_factory.mktemp("lab")
    (root / "notebooks").mkdir()
    shutil.copy(ROOT / "notebooks" / "explore.ipynb", root / "notebooks" / "explore.ipynb")
    make_results(root / "results")
    for name, values in LAB_SETTINGS.items():
        path = root / "settings" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return root


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def lab_url(lab_root: Path) -> Iterator[str]:
    """A JupyterLab server on the temporary root; yields its base URL with the token query."""
    port, token = free_port(), secrets.token_hex(16)
    scratch = lab_root / "jupyter"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "JUPYTER_CONFIG_DIR": str(scratch / "config"),
           "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"), "IPYTHONDIR": str(scratch / "ipython")}
    env.pop("MPLBACKEND", None)  # the kernel draws inline
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={lab_root}",
               "--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               f"--LabApp.user_settings_dir={lab_root / 'settings'}",
               f"--LabApp.workspaces_dir={scratch / 'workspaces'}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = open(lab_root / "jupyter-lab.log", "wb")
    server = subprocess.Popen(command, cwd=lab_root, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                LOCAL.open(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                assert server.poll() is None, (lab_root / "jupyter-lab.log").read_text()[-3000:]
                time.sleep(0.5)
        yield f"{base}/lab/tree/notebooks/explore.ipynb?token={token}"
    finally:
        shut_down(server, f"{base}/api/shutdown?token={token}")
        log.close()


def shut_down(server: subprocess.Popen, shutdown_url: str) -> None:
    """Ask the server to stop (it stops its kernels), then SIGTERM, then SIGKILL its process group."""
    try:
        LOCAL.open(urllib.request.Request(shutdown_url, method="POST"), timeout=5)
    except OSError:
        pass  # already down, or not answering: the signals below stop it
    for sig, wait in ((None, 15), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if sig is not None and server.poll() is None:
            os.killpg(server.pid, sig)
        try:
            server.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory):
    """Headless Debian Chromium through its chromedriver (no browser download)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and chromedriver, "install Chromium: apt-get install -y chromium chromium-driver"
    options = Options()
    options.binary_location = chromium
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_script_timeout(600)
    try:
        yield driver
    finally:
        driver.quit()
