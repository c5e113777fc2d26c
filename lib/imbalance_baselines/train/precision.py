"""Numeric precision chosen by what the hardware computes natively.

``"auto"`` picks bf16 autocast only where bf16 matmul/convolution is native: CUDA devices that
support bf16, and CPUs with AVX-512 BF16 or AMX. Elsewhere (e.g. AVX2-only CPUs, where bf16 autocast
was measured 13x slower than fp32) it picks fp32. An explicit ``"bf16"`` on such a CPU warns.
"""

from __future__ import annotations

import warnings

import torch

PRECISIONS = ("auto", "fp32", "bf16")


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    return False


def resolve_precision(requested: str, device: torch.device) -> str:
    """``"fp32"`` or ``"bf16"`` for ``requested`` in PRECISIONS on ``device``."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision={requested!r} is unknown; allowed: {', '.join(PRECISIONS)}")
    native = native_bf16(device)
    if requested == "auto":
        return "bf16" if native else "fp32"
    if requested == "bf16" and not native:
        warnings.warn(f"precision='bf16' on {device} without native bf16 "
                      f"(CPU capability {torch.backends.cpu.get_cpu_capability()}): expect it to be "
                      "much slower than fp32", stacklevel=2)
    return requested


def machine_description(device: torch.device) -> dict[str, object]:
    """What a result should record about the machine that computed it."""
    info: dict[str, object] = {"device": str(device), "torch": torch.__version__,
                               "threads": torch.get_num_threads(),
                               "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
