"""Numeric precision of the packed decoder: which one to use, and the weight formats.

- `fp32`: fp32 weights, activations and KV cache (the parity reference: transformers' numbers).
- `bf16`: bf16 weights and matrix products (fp32 LM heads); bf16 KV cache on CUDA.
- `int8`: weight-only int8 (symmetric, one scale per output channel, rounded with GPTQ by
  model/quantize.py for the decoder layers) through
  `torch.ops.aten._weight_int8pack_mm`, with bf16 activations (weight-only kernels with fp32
  activations are slower than fp32: DESIGN §6) and bf16 LM heads; bf16 KV cache on CUDA.
- `auto` (the CLI's and the service's default): the fastest precision that passes the parity checks
  where it runs. On x86 CPUs with AVX2 or AVX-512 (with or without bf16 instructions) that is
  int8, as long as the loaded weights pass int8's check (below); otherwise, and on other CPUs
  (arm64: not measured), `fallback_precision`: bf16 on CUDA and on CPUs with bf16 instructions
  (avx512_bf16, AMX, arm64 bf16), fp32 elsewhere.

The residual stream, layer norms and embeddings are fp32 at every precision. On CPUs attention (the
KV cache, the text's and the adapter's keys/values) is fp32 too: one query over a bf16 cache is
4-10x slower than over fp32 there (measured on this machine's AVX-512 EPYC, 1 thread, 16 heads x
64, 260 keys: 1.03 ms vs 0.10 ms per layer), and the cache is small next to the weights (at 250
positions 2 x 16 x 250 x 64 x 4 B = 2 MB per layer).

The parity checks (model/parity.py): teacher-forced argmax agreement with fp32 on fixed-seed random
codes and text, floors 0.99 (bf16) and 0.97 (int8). The tests assert them on musicgen-small's shape
with random weights: bf16 0.991; int8 0.976 with its weights rounded by GPTQ (rounding to nearest
gives 0.954, as its per-channel error of ~1 % of each output flips the argmax wherever the random
model's top two logits lie closer). Every int8 pack also measures its agreement on the weights it
was made from (a real checkpoint, an adapter's merged LoRA); under `auto` a pack below the floor is
replaced by the fallback with a warning, and the job's metadata says which. Its rounding costs
time once per set of weights (musicgen-small on 2 cores: 20.4 s on the AVX-512 bf16 CPU before the
check was added, 55-63 s with it on an AVX2 one; `bench generate`'s `pack_s`); the rounded weights
are then kept in the cache directory (model/int8_cache.py), so later loads read them (2.0 s).

Speed per decode step, musicgen-small shape, CFG batch 2, 2 threads: on the AVX-512 bf16 EPYC
int8 runs 1.6-1.9x faster than bf16 (end to end 1.10 vs 2.24 s per audio-second, fp32 7.90). On an
AVX2 EPYC without bf16 instructions (bf16 arithmetic emulated) fp32 252.7 ms, bf16 114.8 ms, int8
60.1 ms (median of 25 steps at position 100-125): weight-only kernels win by reading fewer bytes,
emulated or not. bf16's agreement there is 0.9896 (below its 0.99 floor: another accumulation
order), int8's 0.9745, so int8 is `auto`'s choice there too and bf16 is not its fallback.

Measured alternatives with rounding to nearest (same model and inputs, 2 threads, CFG batch 2,
median step): int8 with fp32 heads 0.957; int8 on the feed-forward weights only (attention
projections bf16) 0.965-0.973 at 39.6 ms per step against bf16's 49.8 and all-int8's 29.4;
MSE-optimal clipping of the int8 scales +0.005. On CUDA `auto` stays bf16: int8's kernel and
speed there are not measured.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from torch.nn import functional as F

from ..config import PRECISIONS
from ..errors import ConfigError

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "int8": torch.bfloat16}
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
    return cpu_has_bf16()


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
    """`auto` without int8: bf16 on CUDA and on CPUs with bf16 instructions, fp32 elsewhere."""
    return "bf16" if _has_bf16(device) else "fp32"


def _cpu_vectors() -> str:
    return torch.backends.cpu.get_cpu_capability()


def compute_dtype(precision: str) -> torch.dtype:
    """Activations dtype of a concrete precision."""
    return _DTYPES[precision]


def attention_dtype(precision: str, device: str) -> torch.dtype:
    """Dtype of attention and its caches: the compute dtype on CUDA, fp32 on CPUs (see above)."""
    return compute_dtype(precision) if device.startswith("cuda") else torch.float32


class FloatLinear:
    """y = x W^T in the weight's dtype (fp32 or bf16)."""

    __slots__ = ("weight",)

    def __init__(self, weight: torch.Tensor) -> None:
        self.weight = weight

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)


class Int8Linear:
    """y = (x W_q^T) * scale with W_q int8 [N, K] and per-output-channel scales [N] (bf16 x)."""

    __slots__ = ("weight", "scales")

    def __init__(self, weight: torch.Tensor) -> None:
        w = weight.detach().float()
        scales = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0
        self.weight = torch.round(w / scales[:, None]).clamp(-128, 127).to(torch.int8).contiguous()
        self.scales = scales.to(torch.bfloat16)

    @classmethod
    def from_int8(cls, weight: torch.Tensor, scales: torch.Tensor) -> Int8Linear:
        """Already rounded weights (int8 [N, K], e.g. model/quantize.py's) with their scales [N]."""
        linear = cls.__new__(cls)
        linear.weight, linear.scales = weight.to(torch.int8).contiguous(), scales.to(torch.bfloat16).contiguous()
        return linear

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.ops.aten._weight_int8pack_mm(x.reshape(-1, x.shape[-1]), self.weight, self.scales)
        return out.view(*x.shape[:-1], -1)


Linear = FloatLinear | Int8Linear


def pack_linear(weight: torch.Tensor, precision: str) -> Linear:
    """A weight [out, in] in the format of `precision` (a copy unless fp32 already)."""
    weight = weight.detach()
    if precision == "int8":
        return Int8Linear(weight)
    return FloatLinear(weight.to(compute_dtype(precision)).contiguous())


@functools.cache
def int8_supported(device: str) -> bool:
    """Whether this torch build has the weight-only int8 kernel on `device`."""
    try:
        check_supported("int8", device)
    except ConfigError:
        return False
    return True


def check_supported(precision: str, device: str) -> None:
    """Fail early, with a hint, when `precision` has no kernel on `device`."""
    if precision != "int8":
        return
    probe = Int8Linear(torch.ones(8, 32))
    probe.weight, probe.scales = probe.weight.to(device), probe.scales.to(device)
    try:
        probe(torch.ones(1, 32, dtype=torch.bfloat16, device=device))
    except (RuntimeError, NotImplementedError) as exc:
        raise ConfigError(
            f"precision: int8 has no weight-only kernel on {device} in this torch build ({exc})",
            hint="Use --precision bf16 (or auto).",
        ) from exc
