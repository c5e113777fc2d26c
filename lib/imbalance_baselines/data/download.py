"""CIFAR that arrives by itself: the official archives fetched into ``DATA_DIR`` when no copy is there.

:func:`ensure_cifar` leaves a dataset alone when its python release folder (every file) or an
image-folder tree ``root/{train,test}/`` is present; else it uses the official archive placed in
``root`` (md5-checked), else it downloads it with torchvision's utilities from the official site or
a mirror (``IMBALANCE_CIFAR_MIRROR`` or ``mirror=``: the base URL the archive name is appended to),
with a socket timeout so that a machine without network fails in seconds. A download goes to a
hidden ``.<archive>.part`` name and is moved to the archive name only once its md5 matches; a
mismatch or an interrupted download is deleted. Extraction goes to a hidden folder first, so a
release folder is never left half-written. Whatever cannot be had is reported in one
:class:`DatasetError`: what is missing, where it looked, what it tried, and the two ways to provide it.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from torchvision.datasets import utils as tv_utils

from .cifar import CifarRelease, cifar_release
from .errors import DatasetError
from .image_folder import find_image_folder

MIRROR_ENV = "IMBALANCE_CIFAR_MIRROR"
TIMEOUT_S = 10.0
# What a download can raise: URLError / HTTPError / timeouts / resets (OSError), a malformed
# response (HTTPException), a redirect loop (RecursionError), a malformed mirror URL (ValueError).
DOWNLOAD_ERRORS = (OSError, http.client.HTTPException, RecursionError, ValueError)


def cifar_present(root: str | os.PathLike[str], name: str) -> bool:
    """Whether ``root`` holds every file of ``name``'s python release, or an image-folder tree."""
    release = cifar_release(name)
    folder = Path(root) / release.folder
    return all((folder / f).is_file() for f in release.files) or find_image_folder(root)


@contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """torchvision's urlopen calls take no timeout; the process-wide default applies to them."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _download(url: str, archive: Path, md5: str, timeout_s: float) -> None:
    """``url`` to ``archive`` via a hidden ``.part`` file, moved into place only with the right md5."""
    part = archive.with_name(f".{archive.name}.part")
    part.unlink(missing_ok=True)  # a stale part would pass torchvision's "already there" check
    try:
        with _socket_timeout(timeout_s):
            tv_utils.download_url(url, str(archive.parent), filename=part.name)
        if not tv_utils.check_integrity(str(part), md5):
            raise DatasetError(f"downloaded {part.stat().st_size:,} bytes with md5 "
                               f"{tv_utils.calculate_md5(str(part))}, expected {md5} (truncated or altered)")
        os.replace(part, archive)
    finally:
        part.unlink(missing_ok=True)


def _extract(archive: Path, release: CifarRelease) -> Path:
    """The release folder of ``archive`` extracted into a hidden folder, then moved into place."""
    root = archive.parent
    scratch = Path(tempfile.mkdtemp(prefix=".extract-", dir=root))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(scratch, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        missing = [f for f in release.files if not (scratch / release.folder / f).is_file()]
        if missing:
            raise DatasetError(f"archive {archive} lacks {release.folder}/{missing[0]}; expected the "
                               f"official {release.archive}")
        shutil.rmtree(root / release.folder, ignore_errors=True)  # an incomplete earlier copy
        os.replace(scratch / release.folder, root / release.folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return root / release.folder


def _fetch(root: Path, release: CifarRelease, mirror: str, md5: str, timeout_s: float) -> list[str]:
    """Put ``release`` under ``root``; returns what was tried and failed (empty on success)."""
    archive, failures = root / release.archive, []
    if archive.is_file():
        if tv_utils.check_integrity(str(archive), md5):
            _extract(archive, release)
            return []
        failures.append(f"{archive} has md5 {tv_utils.calculate_md5(str(archive))}, expected {md5}")
    url = f"{mirror.rstrip('/')}/{release.archive}"
    try:
        _download(url, archive, md5, timeout_s)
    except (DatasetError, *DOWNLOAD_ERRORS) as error:
        detail = str(error) if isinstance(error, DatasetError) else f"{type(error).__name__}: {error}"
        return [*failures, f"{url} ({detail})"]
    _extract(archive, release)
    return []


def _title(name: str) -> str:
    return name.upper().replace("CIFAR", "CIFAR-")


def ensure_cifar(root: str | os.PathLike[str], names: Sequence[str], mirror: str | None = None,
                 md5s: Mapping[str, str] | None = None, timeout_s: float = TIMEOUT_S) -> list[Path]:
    """CIFAR ``names`` ("cifar10", "cifar100") present under ``root``, fetched when missing.

    ``mirror`` (else ``$IMBALANCE_CIFAR_MIRROR``, else the official site) is the base URL;
    ``md5s`` overrides the official checksums by name (tests serve small archives). Returns the
    release folders fetched; raises one DatasetError for everything that could not be had.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    fetched, failed = [], []
    for name in [n for n in dict.fromkeys(names) if not cifar_present(root, n)]:
        release = cifar_release(name)
        base = mirror or os.environ.get(MIRROR_ENV) or release.url.rsplit("/", 1)[0]
        tried = _fetch(root, release, base, (md5s or {}).get(name, release.md5), timeout_s)
        if tried:
            failed.append((name, tried))
        else:
            fetched.append(root / release.folder)
    if failed:
        raise DatasetError(_missing_message(root, failed))
    return fetched


def _missing_message(root: Path, failed: list[tuple[str, list[str]]]) -> str:
    """One line: what is missing, where it looked, what it tried, the two ways to provide it."""
    releases = [cifar_release(name) for name, _ in failed]
    return (f"{' and '.join(_title(name) for name, _ in failed)} missing from DATA_DIR={root}: looked for "
            + ", ".join(f"{root / r.folder}/" for r in releases) + " (python release), "
            + ", ".join(str(root / r.archive) for r in releases) + " (official archive) and "
            f"{root}/{{train,test}}/<class>/ (image folder); tried "
            + "; ".join(t for _, tried in failed for t in tried)
            + ". Provide it either way, then rerun `make data`: put the official archive at DATA_DIR ("
            + ", ".join(f"{r.url} as {root / r.archive}" for r in releases)
            + f"), or an image-folder tree {root}/{{train,test}}/<class>/*.png")
