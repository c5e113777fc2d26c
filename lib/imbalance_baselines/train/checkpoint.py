"""Atomic writes: a file is either its old complete version or its new complete version.

Everything the suite persists (checkpoints, results.json) goes through a temporary file in the same
folder, fsync, then ``os.replace``, so a process killed at any moment never leaves a half-written
file that a later run would trust.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch


class DiskFullError(OSError):
    """Writing a file failed because its disk is full; the message names the path."""


# Below this much free space a failed write is reported as a full disk (torch.save's own error,
# "[enforce fail at inline_container.cc] ... file write failed", names neither).
FULL_BELOW_BYTES = 16 * 2**20


def _disk_full(folder: Path, error: BaseException) -> bool:
    if getattr(error, "errno", None) == errno.ENOSPC:
        return True
    return isinstance(error, (OSError, RuntimeError)) and shutil.disk_usage(folder).free < FULL_BELOW_BYTES


def _atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if _disk_full(path.parent, error):
            free = shutil.disk_usage(path.parent).free
            kept = f"the previous {path.name} is kept" if path.exists() else "nothing was written"
            raise DiskFullError(errno.ENOSPC, f"{path}: the disk is full ({free:,} bytes free) while "
                                f"writing it; {kept}; free some space and run the same command again") from error
        raise


def save_torch_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path`` atomically."""
    _atomic_write(Path(path), lambda stream: torch.save(obj, stream))


def json_safe(obj: Any) -> Any:
    """``obj`` with NaN and infinities replaced by None, so that the JSON is standard (no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: json_safe(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(value) for value in obj]
    return obj


def save_json_atomic(obj: Any, path: str | Path) -> None:
    """Write ``obj`` as indented, standard JSON (NaN -> null) to ``path`` atomically."""
    text = json.dumps(json_safe(obj), indent=1, sort_keys=True, default=str, allow_nan=False) + "\n"
    _atomic_write(Path(path), lambda stream: stream.write(text.encode()))


def load_torch(path: str | Path) -> Any:
    """Load a checkpoint written by ``save_torch_atomic`` (tensors on the CPU)."""
    return torch.load(Path(path), map_location="cpu", weights_only=False)
