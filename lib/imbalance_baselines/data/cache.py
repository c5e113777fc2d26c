"""A decode cache: decoded arrays stored once, uncompressed, in one file keyed by the source files.

The cache lives next to the data, in the hidden subfolder ``<data folder>/.imbalance_baselines_cache/``;
where that folder cannot be written, under the user cache dir ``$XDG_CACHE_HOME/imbalance_baselines``
(default ``~/.cache/imbalance_baselines``), with the data folder's absolute path in the key. The key
hashes each source file's relative path, size and modification time (ns), so changing, adding or
removing a source file rebuilds the cache; the previous file of the same name is then removed.
Files are written to a temporary file and moved into place with ``os.replace`` (atomic), so a reader
never sees a half-written cache. The file (``.npys``) is a sequence of ``.npy`` records, the array
names first, then each array, without pickles: reading it is a plain file read (no zip CRC).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

CACHE_DIRNAME = ".imbalance_baselines_cache"
_FORMAT_VERSION = 1
SUFFIX = ".npys"


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/imbalance_baselines``, default ``~/.cache/imbalance_baselines``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "imbalance_baselines"


def source_key(data_dir: Path, sources: Sequence[Path]) -> str:
    """Hash of the sources' paths (relative to ``data_dir``), sizes and mtimes, and the cache format."""
    entries = []
    for path in sorted(sources):
        stat = path.stat()
        entries.append([os.path.relpath(path, data_dir), stat.st_size, stat.st_mtime_ns])
    return hashlib.sha256(json.dumps([_FORMAT_VERSION, entries]).encode()).hexdigest()[:20]


def _writable_dir(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            return True
    except OSError:
        return False


def _read(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None if the file is absent or unreadable (then it is rebuilt)."""
    try:
        with open(path, "rb") as f:
            names = np.load(f, allow_pickle=False)
            return {str(name): np.load(f, allow_pickle=False) for name in names}
    except (OSError, ValueError, EOFError):
        return None


def _write(folder: Path, stem: str, key: str, arrays: dict[str, np.ndarray]) -> None:
    """Write ``<stem>-<key>.npys`` atomically and remove the stale ``<stem>-*.npys`` files."""
    path = folder / f"{stem}-{key}{SUFFIX}"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, np.array(list(arrays)), allow_pickle=False)
            for array in arrays.values():
                np.save(f, np.ascontiguousarray(array), allow_pickle=False)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    for old in folder.glob(f"{stem}-*{SUFFIX}"):
        if old != path:
            old.unlink(missing_ok=True)


def cached_arrays(data_dir: str | os.PathLike[str], name: str, sources: Sequence[Path],
                  decode: Callable[[], dict[str, np.ndarray]], enabled: bool = True) -> dict[str, np.ndarray]:
    """``decode()``'s arrays, from the cache when its key (``sources``) is unchanged.

    ``name`` identifies the decoded content (e.g. ``"cifar10-pickle"``); ``sources`` are all files the
    content is decoded from. The cache is read from, and written to, the first of
    ``<data_dir>/.imbalance_baselines_cache`` and the user cache dir that holds it / can be written;
    in the user cache dir the file name carries a hash of ``data_dir``'s absolute path.
    ``enabled=False`` decodes without reading or writing a cache.
    """
    if not enabled:
        return decode()
    data_dir = Path(data_dir)
    key = source_key(data_dir, sources)
    path_tag = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:8]
    places = [(data_dir / CACHE_DIRNAME, name), (user_cache_dir(), f"{name}-{path_tag}")]
    for folder, stem in places:
        arrays = _read(folder / f"{stem}-{key}{SUFFIX}")
        if arrays is not None:
            return arrays
    arrays = decode()
    for folder, stem in places:
        if _writable_dir(folder):
            _write(folder, stem, key, arrays)
            break
    return arrays
