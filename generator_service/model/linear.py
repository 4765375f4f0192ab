"""The packed decoder's matrix formats: fp32/bf16 weights and weight-only int8, each precision's dtypes.

- `FloatLinear`: y = x W^T in the weight's dtype (fp32, bf16).
- `Int8Linear`: symmetric int8 weights with one scale per output channel, run by
  `torch.ops.aten._weight_int8pack_mm` with bf16 activations (weight-only kernels with fp32
  activations are slower than fp32: DESIGN §6). Made from a float weight it rounds each weight to
  the nearest of its 255 levels; already rounded weights (model/precision/quantize.py's GPTQ) come
  in through `from_int8`: the format does not care how its integers were chosen.

The residual stream, layer norms and embeddings are fp32 at every precision. On CPUs attention (the
KV cache, the text's and the adapter's keys/values) is fp32 too: one query over a bf16 cache is
4-10x slower than over fp32 there (measured on this machine's AVX-512 EPYC, 1 thread, 16 heads x
64, 260 keys: 1.03 ms vs 0.10 ms per layer), and the cache is small next to the weights (at 250
positions 2 x 16 x 250 x 64 x 4 B = 2 MB per layer).
"""

from __future__ import annotations

import functools

import torch
from torch.nn import functional as F

from ..errors import ConfigError

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "int8": torch.bfloat16}


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
        """Already rounded weights (int8 [N, K], e.g. model/precision/quantize.py's) with their scales [N]."""
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
