"""`auto`'s choice: the concrete precision ("fp32", "bf16", "int8") a request resolves to on a device.

`resolve_precision("auto", device)` is int8 on x86 CPUs with AVX2 or AVX-512 (with or without
bf16 instructions) whose torch build has the int8 kernel, else `fallback_precision`: bf16 on CUDA,
on mps where it computes bf16, and on CPUs with bf16 instructions (avx512_bf16, AMX, arm64 bf16),
fp32 elsewhere. int8 chosen by `auto` is checked when packed (model/precision/packing.py): weights that fail its check generate
at the fallback instead. The measurements behind the choice: model/precision/__init__.py.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ...config import PRECISIONS
from ...errors import ConfigError
from ..linear import int8_supported

#: x86 vector units on which int8 with (emulated) bf16 activations was measured faster than fp32.
VECTOR_INT8_CPUS = ("AVX2", "AVX512")


def cpu_has_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU computes bf16 natively (x86 flags avx512_bf16 / amx_bf16; arm64 bf16)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags = set(line.split(":", 1)[-1].split())
            return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})
    return torch.backends.cpu.get_cpu_capability() in ("AMX", "AVX512_BF16")


def _has_bf16(device: str) -> bool:
    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.startswith("mps"):
        return _mps_runs_bf16(device)
    return cpu_has_bf16()


def _mps_runs_bf16(device: str) -> bool:
    """Whether Apple's mps backend computes a bf16 matmul here (macOS 14+ with a recent torch); probed."""
    if not torch.backends.mps.is_available():
        return False
    try:
        x = torch.ones(2, 2, dtype=torch.bfloat16, device=device)
        return bool((x @ x).float().sum().item() == 8.0)
    except (RuntimeError, TypeError):
        return False


def resolve_precision(requested: str, device: str) -> str:
    """`requested` ("auto", "fp32", "bf16", "int8") -> a concrete precision on `device`."""
    if requested not in PRECISIONS:
        raise ConfigError(f"precision: {requested!r} is not one of {', '.join(PRECISIONS)}")
    if requested == "auto":
        if device == "cpu" and _cpu_vectors() in VECTOR_INT8_CPUS and int8_supported(device):
            return "int8"  # checked when packed: `fallback_precision` if the weights fail int8's check
        return fallback_precision(device)
    return requested


def fallback_precision(device: str) -> str:
    """`auto` without int8: bf16 on CUDA, on mps where it runs, and on CPUs with bf16 instructions, fp32 elsewhere."""
    return "bf16" if _has_bf16(device) else "fp32"


def _cpu_vectors() -> str:
    return torch.backends.cpu.get_cpu_capability()
