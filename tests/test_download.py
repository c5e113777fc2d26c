"""CIFAR download (``make data``) against a local HTTP server serving a small archive in the real format.

The archive is a ``cifar-10-python.tar.gz``-shaped tarball of a synthetic ``cifar-10-batches-py/``; its
md5 is passed in as the expected checksum. No test needs the internet.
"""

from __future__ import annotations

import hashlib
import http.server
import socket
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from imbalance_baselines.cli import data as data_cli
from imbalance_baselines.data import DatasetError, read_cifar
from imbalance_baselines.data.download import MIRROR_ENV, ensure_cifar
from imbalance_baselines.data.synthetic import write_cifar_pickle

from conftest import CLASS_NAMES

ARCHIVE = "cifar-10-python.tar.gz"


@pytest.fixture
def archive(tmp_path: Path, splits) -> tuple[bytes, str]:
    """(bytes, md5) of a small official-format CIFAR-10 archive."""
    folder = write_cifar_pickle(tmp_path / "source", "cifar10", *splits, CLASS_NAMES)
    path = tmp_path / ARCHIVE
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    content = path.read_bytes()
    return content, hashlib.md5(content).hexdigest()


@pytest.fixture
def server(archive) -> Iterator[str]:
    """``http://127.0.0.1:<port>``: ``/good/<archive>`` whole, ``/truncated/<archive>`` half of it under
    the full Content-Length (then the connection closes), anything else 404."""
    content = archive[0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in (f"/good/{ARCHIVE}", f"/truncated/{ARCHIVE}"):
                self.send_error(404, "File not found")
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            try:
                self.wfile.write(content if self.path.startswith("/good") else content[:len(content) // 2])
            except (BrokenPipeError, ConnectionResetError):
                pass  # torchvision's redirect probe closes without reading the body
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def refused() -> str:
    """A loopback base URL whose port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/cifar"


def assert_nothing_left(root: Path) -> None:
    assert sorted(p.name for p in root.iterdir()) == [], "a partial or corrupt file was left behind"


def test_good_md5_downloads_extracts_and_loads(tmp_path, server, archive, splits):
    root = tmp_path / "data"
    fetched = ensure_cifar(root, ["cifar10"], mirror=f"{server}/good", md5s={"cifar10": archive[1]})
    assert fetched == [root / "cifar-10-batches-py"]
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py", ARCHIVE]  # no temporaries
    full = read_cifar(root, "cifar10", cache=False)
    assert full.train.images.equal(splits[0].images) and full.test.labels.equal(splits[1].labels)
    assert ensure_cifar(root, ["cifar10"], mirror="http://127.0.0.1:9/never-asked") == []  # present


def test_bad_md5_is_refused_and_nothing_left(tmp_path, server):
    root = tmp_path / "data"
    with pytest.raises(DatasetError) as error:
        ensure_cifar(root, ["cifar10"], mirror=f"{server}/good", md5s={"cifar10": "0" * 32})
    message = str(error.value)
    assert "\n" not in message and f"{server}/good/{ARCHIVE}" in message and "expected " + "0" * 32 in message
    assert_nothing_left(root)


def test_truncated_download_is_refused_cleanly(tmp_path, server, archive):
    root = tmp_path / "data"
    with pytest.raises(DatasetError, match="truncated or altered"):
        ensure_cifar(root, ["cifar10"], mirror=f"{server}/truncated", md5s={"cifar10": archive[1]})
    assert_nothing_left(root)


@pytest.mark.parametrize("where", ["404", "refused"])
def test_unreachable_archive_gives_one_message(tmp_path, server, refused, where):
    root, base = tmp_path / "data", f"{server}/missing" if where == "404" else refused
    with pytest.raises(DatasetError) as error:
        ensure_cifar(root, ["cifar10", "cifar100"], mirror=base)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"CIFAR-10 and CIFAR-100 missing from DATA_DIR={root}")
    for part in (f"{base}/{ARCHIVE}", f"{base}/cifar-100-python.tar.gz", "404" if where == "404" else "refused",
                 f"{root / 'cifar-10-batches-py'}/", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz as "
                 f"{root / ARCHIVE}", f"{root}/{{train,test}}/<class>/*.png"):
        assert part in message
    assert_nothing_left(root)


def test_placed_archive_is_checked_and_extracted(tmp_path, archive, refused):
    root = tmp_path / "data"
    root.mkdir()
    (root / ARCHIVE).write_bytes(archive[0])
    assert ensure_cifar(root, ["cifar10"], mirror=refused, md5s={"cifar10": archive[1]}) == [
        root / "cifar-10-batches-py"]
    assert read_cifar(root, "cifar10", cache=False).class_names == CLASS_NAMES


def test_corrupt_placed_archive_is_named(tmp_path, archive, refused):
    root = tmp_path / "data"
    root.mkdir()
    (root / ARCHIVE).write_bytes(archive[0][:100])
    with pytest.raises(DatasetError, match=f"{root / ARCHIVE} has md5 [0-9a-f]{{32}}, expected {archive[1]}"):
        ensure_cifar(root, ["cifar10"], mirror=refused, md5s={"cifar10": archive[1]})
    assert not (root / "cifar-10-batches-py").exists()


def test_image_folder_counts_as_present(folder_root, refused):
    assert ensure_cifar(folder_root, ["cifar10", "cifar100"], mirror=refused) == []


def test_command_line_exits_2_with_one_line(tmp_path, refused, monkeypatch, capsys):
    monkeypatch.setenv(MIRROR_ENV, refused)
    assert data_cli.main(["--data-dir", str(tmp_path), "--profile", "quick"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{refused}/{ARCHIVE}" in err and "cifar-100" not in err
    assert data_cli.main(["--data-dir", str(tmp_path), "--profile", "smoke"]) == 0  # synthetic: nothing


def test_silent_server_times_out(tmp_path):
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        base = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(DatasetError, match="timed out"):
            ensure_cifar(tmp_path / "data", ["cifar10"], mirror=base, timeout_s=0.2)
    assert_nothing_left(tmp_path / "data")
