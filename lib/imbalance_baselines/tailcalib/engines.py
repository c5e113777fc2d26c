"""Array back-ends of TailCalib: the few primitives whose spelling differs between numpy and torch.

Everything else (the statistics, the calibration of Vigneswaran et al. 2021, and the index
bookkeeping) is written once in ``calibration.py`` / ``plan.py`` with operators both libraries share
(``@``, indexing, ``**``, ``.sum``, ``.mean``, ``.swapaxes``). All arithmetic runs in float64; only
the returned features are cast back to the caller's floating dtype.

Engines are stateless; a torch engine takes the device from the ``like`` array it is given, so the
``pytorch`` engine runs on whatever device the caller's features live on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..registry import Registry

ENGINES = Registry("tailcalib base_engine")

Array = Any  # np.ndarray or torch.Tensor, depending on the engine


@ENGINES.register("numpy")
class NumpyEngine:
    """numpy arrays on the CPU; random numbers from a ``numpy.random.Generator``."""

    name = "numpy"

    def features(self, X: Any) -> tuple[np.ndarray, np.dtype]:
        """(X as float64, the dtype to return features in)."""
        X = np.asarray(X)
        out = X.dtype if np.issubdtype(X.dtype, np.floating) else np.dtype(np.float64)
        return X.astype(np.float64, copy=False), out

    def to_numpy(self, a: Any) -> np.ndarray:
        return np.asarray(a)

    def index(self, idx: np.ndarray, like: np.ndarray) -> np.ndarray:
        return idx

    def output(self, a: np.ndarray, dtype: np.dtype) -> np.ndarray:
        return a.astype(dtype, copy=False)

    def labels(self, values: np.ndarray, y: Any, like: np.ndarray) -> np.ndarray:
        """Output labels in the dtype of the caller's ``y``."""
        return values.astype(np.asarray(y).dtype, copy=False)

    def generator(self, seed: np.random.SeedSequence, like: np.ndarray) -> np.random.Generator:
        return np.random.default_rng(seed)

    def normal(self, gen: np.random.Generator, shape: tuple[int, ...], like: np.ndarray) -> np.ndarray:
        return gen.standard_normal(shape)

    def permutation(self, gen: np.random.Generator, n: int, like: np.ndarray) -> np.ndarray:
        return gen.permutation(n)

    def zeros(self, shape: tuple[int, ...], like: np.ndarray) -> np.ndarray:
        return np.zeros(shape, dtype=like.dtype)

    def eye(self, d: int, like: np.ndarray) -> np.ndarray:
        return np.eye(d, dtype=like.dtype)

    def stack(self, arrays: list[np.ndarray]) -> np.ndarray:
        return np.stack(arrays)

    def cat(self, arrays: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(arrays)

    def log(self, a: np.ndarray) -> np.ndarray:
        return np.log(a)

    def sqrt(self, a: np.ndarray) -> np.ndarray:
        return np.sqrt(a)

    def maximum(self, a: np.ndarray, floor: float) -> np.ndarray:
        return np.maximum(a, floor)

    def all_finite(self, a: np.ndarray) -> bool:
        return bool(np.isfinite(a).all())

    def cholesky(self, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Batched lower Cholesky factors and a boolean mask of the matrices that are not PD (the
        factors are meaningless when any is)."""
        try:
            return np.linalg.cholesky(S), np.zeros(len(S), dtype=bool)
        except np.linalg.LinAlgError:  # numpy does not say which matrix failed: find them
            bad = np.array([not _is_pd(s) for s in S])
            return S, bad


def _is_pd(s: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(s)
    except np.linalg.LinAlgError:
        return False
    return True


@ENGINES.register("pytorch")
class TorchEngine:
    """torch tensors on the device of the caller's features; random numbers from a torch.Generator."""

    name = "pytorch"

    def features(self, X: Any) -> tuple[torch.Tensor, torch.dtype]:
        X = torch.as_tensor(X)
        out = X.dtype if X.is_floating_point() else torch.float64
        return X.detach().to(torch.float64), out

    def to_numpy(self, a: Any) -> np.ndarray:
        return a.detach().cpu().numpy() if torch.is_tensor(a) else np.asarray(a)

    def index(self, idx: np.ndarray, like: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(idx, dtype=torch.long, device=like.device)

    def output(self, a: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return a.to(dtype)

    def labels(self, values: np.ndarray, y: Any, like: torch.Tensor) -> torch.Tensor:
        """Output labels in the dtype of the caller's ``y``, on the device of the features."""
        return torch.as_tensor(values, device=like.device).to(torch.as_tensor(y).dtype)

    def generator(self, seed: np.random.SeedSequence, like: torch.Tensor) -> torch.Generator:
        gen = torch.Generator(device=like.device)
        gen.manual_seed(int(seed.generate_state(1, dtype=np.uint64)[0]))
        return gen

    def normal(self, gen: torch.Generator, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        return torch.randn(shape, generator=gen, dtype=like.dtype, device=like.device)

    def permutation(self, gen: torch.Generator, n: int, like: torch.Tensor) -> torch.Tensor:
        return torch.randperm(n, generator=gen, device=like.device)

    def zeros(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        return torch.zeros(shape, dtype=like.dtype, device=like.device)

    def eye(self, d: int, like: torch.Tensor) -> torch.Tensor:
        return torch.eye(d, dtype=like.dtype, device=like.device)

    def stack(self, arrays: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(arrays)

    def cat(self, arrays: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(arrays)

    def log(self, a: torch.Tensor) -> torch.Tensor:
        return torch.log(a)

    def sqrt(self, a: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(a)

    def maximum(self, a: torch.Tensor, floor: float) -> torch.Tensor:
        return torch.clamp(a, min=floor)

    def all_finite(self, a: torch.Tensor) -> bool:
        return bool(torch.isfinite(a).all())

    def cholesky(self, S: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
        """Batched lower Cholesky factors and a boolean mask of the matrices that are not PD."""
        L, info = torch.linalg.cholesky_ex(S)
        return L, (info > 0).cpu().numpy()


def engine_for(a: Any) -> NumpyEngine | TorchEngine:
    """The engine that owns an array: torch for tensors, numpy for everything else."""
    return TorchEngine() if torch.is_tensor(a) else NumpyEngine()
