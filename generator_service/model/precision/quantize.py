"""int8 weights for the packed decoder with their rounding error compensated (GPTQ).

Rounding each weight to the nearest of 255 levels (one scale per output channel, what
`_weight_int8pack_mm` runs) moves every output by ~1 % and flips the argmax wherever the top two
logits lie closer than that. GPTQ (Frantar et al., "GPTQ: Accurate Post-Training Quantization for
Generative Pre-trained Transformers", ICLR 2023) rounds one input column at a time and moves the
not-yet-rounded columns to cancel the error it just made, weighted by how the layer's inputs
correlate (H = X^T X over calibration inputs). Same format, same kernel, same speed; measured on
musicgen-small's shape (random weights, the parity test's inputs, bf16 heads) argmax agreement with
fp32 goes from 0.954 (round to nearest) to 0.976.

Calibration: the decoder at fp32 reads `CALIBRATION_ROWS` x `CALIBRATION_LENGTH` random codes with
a random text for half the rows and the null text of guidance for the other half (parity.py's
`random_inputs` with a seed of its own, so packing is deterministic), and every projection's inputs
are kept. Errors are compensated within blocks of at most `MAX_BLOCK` input columns (the
feed-forward output's 4096 inputs in four blocks: agreement 0.976 as with the whole row, at 1/16 of
the Cholesky work). The scales stay the per-channel absolute maxima of the whole row.

Cost: once per set of weights (int8_cache.py keeps the result); musicgen-small on 2 cores
20.4 s on the AVX-512 bf16 CPU (`bench generate`'s `pack_s`, quiet machine, before packs had their
agreement check), 55.4-63.2 s on an AVX2 one (with the check), not measured on a GPU. End to end
the bench agrees 0.969 with fp32 on its own sampled codes (0.952 rounded to nearest) on the AVX-512
CPU, 0.968 on the AVX2 one, where the parity test's inputs give 0.9745.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ...progress import CancelToken, ProgressCallback, no_progress
from ..packed import Int8Layers, PackedDecoder
from .parity import random_inputs

#: The packed layer's projections, in the order the layer runs them.
SLOTS = ("qkv", "out", "xq", "xout", "fc1", "fc2")


def layer_slots(layer: object) -> tuple[str, ...]:
    """The slots a packed layer has: all of SLOTS, less "xq"/"xout" under prefix conditioning
    (model/decoder.py: the melody checkpoints have no cross-attention)."""
    return tuple(slot for slot in SLOTS if hasattr(layer, slot))


CALIBRATION_ROWS, CALIBRATION_LENGTH, CALIBRATION_SEED = 4, 120, 1234
MAX_BLOCK = 1024
DAMPING = 0.01  # of H's mean diagonal, added to its diagonal (GPTQ's default)
_LAZY = 32  # columns rounded between two matrix-product updates of the rest of the block


class _Recorder:
    """A projection that keeps the inputs it is called with (as [n, K], in `dtype`)."""

    __slots__ = ("linear", "inputs", "dtype")

    def __init__(self, linear: Callable[[torch.Tensor], torch.Tensor], dtype: torch.dtype) -> None:
        self.linear, self.inputs, self.dtype = linear, [], dtype

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.reshape(-1, x.shape[-1]).to(self.dtype))
        return self.linear(x)


def calibration_inputs(packed: PackedDecoder) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Codes [rows, K, length], text hidden [rows, 7, D] (the second half the null text), mask: the
    parity checks' kind of inputs (parity.py) from another seed."""
    length = min(CALIBRATION_LENGTH, packed.positions.shape[0])
    inputs = random_inputs(packed.spec, CALIBRATION_ROWS, length, CALIBRATION_SEED, padded=False)
    return tuple(t.to(packed.device) for t in inputs)  # type: ignore[return-value]


def record_inputs(reference: PackedDecoder) -> dict[str, torch.Tensor]:
    """Run the fp32 packed decoder on the calibration inputs -> per slot the inputs of every layer
    [L, n, K] (bf16: the Hessian needs no more)."""
    recorders = []
    for layer in reference.layers:
        slots = {slot: _Recorder(getattr(layer, slot), torch.bfloat16) for slot in layer_slots(layer)}
        for slot, recorder in slots.items():
            setattr(layer, slot, recorder)
        recorders.append(slots)
    codes, hidden, mask = calibration_inputs(reference)
    try:
        with torch.inference_mode():
            reference.session(codes.shape[0], codes.shape[-1], hidden, mask).step(codes, 0)
    finally:
        for layer, slots in zip(reference.layers, recorders, strict=True):
            for slot, recorder in slots.items():
                setattr(layer, slot, recorder.linear)
    return {slot: torch.stack([torch.cat(r[slot].inputs) for r in recorders]) for slot in recorders[0]}


def _inverse_hessian_factor(x: torch.Tensor) -> torch.Tensor:
    """Inputs [L, n, k] -> U [L, k, k] upper triangular with U^T U = (X^T X + damping)^-1."""
    x = x.float()
    h = torch.bmm(x.transpose(1, 2), x)
    diag = torch.diagonal(h, dim1=1, dim2=2)
    diag[diag == 0] = 1.0  # an input that is always zero: its column is rounded alone
    damp = DAMPING * diag.mean(1)
    eye = torch.eye(h.shape[-1], dtype=h.dtype, device=h.device)
    for _ in range(6):
        # Cholesky of H with rows and columns reversed, reversed back: H = R R^T with R upper
        # triangular, so U = R^-1 (one factorisation and one triangular solve; 2.6x faster than
        # inverting H and factorising the inverse, the same U to 4e-6).
        flipped, info = torch.linalg.cholesky_ex((h + damp[:, None, None] * eye).flip(-1, -2))
        if not bool(info.any()):
            return torch.linalg.solve_triangular(flipped.flip(-1, -2), eye.expand_as(h), upper=True)
        damp = damp * 10  # numerically not positive definite: damp more, as GPTQ does
    raise RuntimeError("int8: the calibration inputs' Hessian is not positive definite even damped")


def gptq_int8(weight: torch.Tensor, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights [L, N, K] of L layers' same projection and their inputs [L, n, K] -> int8 weights
    [L, N, K] and per-output-channel scales [L, N] (fp32), errors compensated within blocks of
    `MAX_BLOCK` columns."""
    w = weight.detach().float().transpose(1, 2).contiguous()  # [L, K, N]: a column is a row here
    scales = w.abs().amax(1).clamp(min=1e-12) / 127.0  # [L, N]
    q = torch.empty(w.shape, dtype=torch.int8, device=w.device)
    for b1 in range(0, w.shape[1], MAX_BLOCK):
        b2 = min(b1 + MAX_BLOCK, w.shape[1])
        u = _inverse_hessian_factor(inputs[:, :, b1:b2])
        block = w[:, b1:b2]
        for i1 in range(0, b2 - b1, _LAZY):
            i2 = min(i1 + _LAZY, b2 - b1)
            errors = torch.empty_like(block[:, i1:i2])
            for i in range(i1, i2):
                col = block[:, i]
                rounded = torch.clamp(torch.round(col / scales), -128, 127)
                q[:, b1 + i] = rounded.to(torch.int8)
                err = (col - rounded * scales) / u[:, i, i, None]
                block[:, i + 1 : i2] -= u[:, i, i + 1 : i2, None] * err[:, None, :]
                errors[:, i - i1] = err
            block[:, i2:] -= torch.bmm(u[:, i1:i2, i2:].transpose(1, 2), errors)
    return q.transpose(1, 2).contiguous(), scales


#: The progress phase of packing int8 weights: calibration, each slot's rounding, the check.
PHASE = "prepare"
PACK_UNITS = 1 + len(SLOTS) + 1


def quantize_layers(
    reference: PackedDecoder, progress: ProgressCallback = no_progress, cancel: CancelToken | None = None
) -> Int8Layers:
    """Every layer's projections of the fp32 packed decoder as (int8 weight [N, K], scales [N]).
    Reports `(PHASE, done, PACK_UNITS)` after the calibration and each slot (the caller reports the
    check, the last unit) and stops on `cancel` between them."""
    inputs = record_inputs(reference)
    progress(PHASE, 1, PACK_UNITS)
    out: Int8Layers = [{} for _ in reference.layers]
    for done, slot in enumerate(SLOTS, start=2):
        if cancel is not None:
            cancel.check()
        if slot not in inputs:  # a slot this decoder lacks: the unit is done at once
            progress(PHASE, done, PACK_UNITS)
            continue
        weights = torch.stack([getattr(layer, slot).weight for layer in reference.layers])
        q, scales = gptq_int8(weights, inputs.pop(slot))
        for i, layer_out in enumerate(out):
            layer_out[slot] = (q[i].contiguous(), scales[i].contiguous())
        progress(PHASE, done, PACK_UNITS)
    return out
