"""int8 rounding with its error compensated (model/precision/quantize.py, GPTQ): what it must do better than
rounding to the nearest level, and that it stays in the kernel's format."""

from __future__ import annotations

import torch

from generator_service.model.decoder import MusicDecoder
from generator_service.model.linear import Int8Linear
from generator_service.model.packed import PackedDecoder
from generator_service.model.precision import quantize
from generator_service.model.precision.packing import pack
from generator_service.model.shapes import random_decoder


def _correlated_inputs(layers: int, n: int, k: int, seed: int) -> torch.Tensor:
    """Samples `seed` of one distribution whose features correlate (as a layer's inputs do), [layers, n, k]."""
    mix = torch.randn(k, k, generator=torch.Generator().manual_seed(0)) / k**0.5 + torch.eye(k)
    return torch.randn(layers, n, k, generator=torch.Generator().manual_seed(seed)) @ mix + 0.5


def _output_error(weight: torch.Tensor, q: torch.Tensor, scales: torch.Tensor, x: torch.Tensor) -> float:
    return float((x @ (q.float() * scales[..., None]).transpose(1, 2) - x @ weight.transpose(1, 2)).pow(2).mean())


def test_compensated_rounding_beats_rounding_to_nearest_on_unseen_inputs() -> None:
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(2, 48, 200, generator=gen)  # 2 layers' [N, K]
    calibration, unseen = _correlated_inputs(2, 400, 200, 1), _correlated_inputs(2, 400, 200, 2)
    q, scales = quantize.gptq_int8(weight, calibration)
    nearest = Int8Linear(weight[0])  # one layer rounded to nearest, per-channel absmax scales
    assert q.dtype == torch.int8 and q.shape == weight.shape and scales.shape == (2, 48)
    assert torch.allclose(scales[0], weight[0].abs().amax(1) / 127)  # the same scales: only the rounding moves
    rtn = _output_error(weight[:1], nearest.weight[None], nearest.scales.float()[None], unseen[:1])
    # 0.69 of rounding to nearest here; 0.45 on its own calibration inputs
    assert _output_error(weight[:1], q[:1], scales[:1], unseen[:1]) < 0.8 * rtn
    assert (q.float() - weight / scales[..., None]).abs().max() <= 60  # still a rounding of each weight


def test_blocks_split_long_rows_and_an_always_zero_input_is_rounded_alone(monkeypatch) -> None:
    monkeypatch.setattr(quantize, "MAX_BLOCK", 64)
    gen = torch.Generator().manual_seed(3)
    weight = torch.randn(1, 16, 150, generator=gen)  # 3 blocks: 64, 64, 22 columns
    inputs = _correlated_inputs(1, 300, 150, 4)
    inputs[..., 7] = 0.0
    q, scales = quantize.gptq_int8(weight, inputs)
    assert torch.isfinite(scales).all()
    assert torch.equal(q[0, :, 7], torch.round(weight[0, :, 7] / scales[0]).clamp(-128, 127).to(torch.int8))


def test_the_int8_pack_is_deterministic_and_leaves_the_reference_intact() -> None:
    ours = MusicDecoder.from_transformers(random_decoder("tiny"))
    (first, _), (second, _) = pack(ours, "int8"), pack(ours, "int8")
    for a, b in zip(first.layers, second.layers, strict=True):
        for slot in quantize.SLOTS:
            assert torch.equal(getattr(a, slot).weight, getattr(b, slot).weight), slot
            assert getattr(a, slot).weight.dtype == torch.int8
    reference = PackedDecoder(ours, "fp32")
    quantize.record_inputs(reference)
    assert all(
        type(getattr(layer, slot)).__name__ == "FloatLinear" for layer in reference.layers for slot in quantize.SLOTS
    )
