"""int8 weights kept on disk (model/precision/int8_cache.py), and `auto` choosing int8 only when the
loaded weights pass int8's parity check (model/precision/packing.py, called by model/loading.py)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest
import torch

from generator_service.model.decoder import MusicDecoder
from generator_service.model.packed import PackedDecoder
from generator_service.model.precision import int8_cache, packing
from generator_service.model.precision.int8_cache import Int8Cache, weights_digest
from generator_service.model.precision.parity import FLOORS, agreement_with, random_inputs, teacher_forced_logits
from generator_service.model.shapes import random_decoder


@pytest.fixture
def rounding_calls(monkeypatch) -> list[int]:
    """Counts GPTQ runs (model/precision/quantize.py's `quantize_layers`, as packing.py calls it)."""
    calls: list[int] = []
    real = packing.quantize_layers

    def counted(reference, *args):
        calls.append(1)
        return real(reference, *args)

    monkeypatch.setattr(packing, "quantize_layers", counted)
    return calls


def _decoder(seed: int = 0) -> MusicDecoder:
    return MusicDecoder.from_transformers(random_decoder("tiny", seed=seed))


def _logits(packed: PackedDecoder) -> torch.Tensor:
    codes, hidden, mask = random_inputs(packed.spec, length=30, seed=5)
    return teacher_forced_logits(packed, codes, hidden, mask)


def _int8(decoder: MusicDecoder, cache: Int8Cache) -> tuple[PackedDecoder, float | None]:
    return packing.pack(decoder, "int8", int8_cache=cache)


def test_the_second_pack_of_the_same_weights_reads_the_rounding(tmp_path: Path, rounding_calls) -> None:
    cache = Int8Cache(tmp_path / "int8")
    first, agreement = _int8(_decoder(), cache)
    assert len(rounding_calls) == 1 and len(list(cache.directory.glob("*.pt"))) == 1
    assert agreement is not None and agreement >= FLOORS["int8"]
    assert agreement == agreement_with(first, PackedDecoder(_decoder(), "fp32"))  # what was measured
    again, read = _int8(_decoder(), cache)  # another load of the same weights
    assert len(rounding_calls) == 1  # read, not rounded
    assert read == agreement
    for a, b in zip(first.layers, again.layers, strict=True):
        assert torch.equal(a.fc2.weight, b.fc2.weight) and torch.equal(a.qkv.scales, b.qkv.scales)
    assert torch.equal(_logits(first), _logits(again))


def test_other_weights_are_rounded_again(tmp_path: Path, rounding_calls) -> None:
    from peft import LoraConfig, inject_adapter_in_model

    cache = Int8Cache(tmp_path / "int8")
    decoder = _decoder()
    _int8(decoder, cache)
    inject_adapter_in_model(LoraConfig(r=2, target_modules=r".*encoder_attn\.k_proj$"), decoder)
    with torch.no_grad():
        for name, p in decoder.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.3)  # an adapter's LoRA on the text's keys: read by the check, not by GPTQ
    _int8(decoder, cache)
    _int8(_decoder(seed=1), cache)  # another checkpoint
    assert len(rounding_calls) == 3 and len(list(cache.directory.glob("*.pt"))) == 3


def test_a_damaged_file_is_rounded_again_and_replaced(tmp_path: Path, rounding_calls, caplog) -> None:
    cache = Int8Cache(tmp_path / "int8")
    decoder = _decoder()
    digest = weights_digest(PackedDecoder(decoder, "fp32"))
    cache.directory.mkdir()
    cache.path(digest).write_bytes(b"half a file")
    with caplog.at_level(logging.WARNING, logger=int8_cache.__name__):
        _, agreement = _int8(decoder, cache)
    assert "unreadable" in caplog.text and len(rounding_calls) == 1
    assert torch.load(cache.path(digest), weights_only=True)["agreement"] == agreement


def test_a_file_of_other_shapes_is_not_used(tmp_path: Path, rounding_calls, caplog) -> None:
    cache = Int8Cache(tmp_path / "int8")
    small, _ = _int8(MusicDecoder.from_transformers(random_decoder("small", 2)), cache)
    tiny_digest = weights_digest(PackedDecoder(_decoder(), "fp32"))
    next(cache.directory.glob("*.pt")).rename(cache.path(tiny_digest))  # the wrong file under tiny's name
    with caplog.at_level(logging.WARNING, logger=int8_cache.__name__):
        tiny, _ = _int8(_decoder(), cache)
    assert "unreadable" in caplog.text and "qkv" in caplog.text and len(rounding_calls) == 2
    assert tiny.layers[0].qkv.weight.shape != small.layers[0].qkv.weight.shape


def test_a_cache_that_cannot_be_written_costs_only_the_rounding(tmp_path: Path, rounding_calls, caplog) -> None:
    (tmp_path / "int8").write_text("a file where the cache directory should be")
    cache = Int8Cache(tmp_path / "int8")
    with caplog.at_level(logging.WARNING, logger=int8_cache.__name__):
        first, _ = _int8(_decoder(), cache)
        again, _ = _int8(_decoder(), cache)
    assert "cannot write" in caplog.text and len(rounding_calls) == 2
    assert torch.equal(_logits(first), _logits(again))
    assert not list(tmp_path.glob("**/*.partial"))


def test_the_least_recently_used_sets_go_first(tmp_path: Path, monkeypatch, rounding_calls) -> None:
    monkeypatch.setattr(int8_cache, "MAX_FILES", 2)
    cache = Int8Cache(tmp_path / "int8")
    digests = [weights_digest(PackedDecoder(_decoder(seed), "fp32")) for seed in range(3)]
    _int8(_decoder(0), cache)
    _int8(_decoder(1), cache)
    _int8(_decoder(0), cache)  # used again: now the most recent
    crashed = cache.directory / f".writer-that-died{int8_cache.PARTIAL}"
    crashed.write_bytes(b"half")
    os.utime(crashed, (time.time() - 7200,) * 2)
    _int8(_decoder(2), cache)
    assert {p.stem for p in cache.directory.glob("*.pt")} == {digests[0], digests[2]}
    assert not crashed.exists()
    assert len(rounding_calls) == 3


def _auto_tiny(cache_dir: Path, monkeypatch):
    from generator_service.model.loading import load_music_model
    from generator_service.model.precision import choice

    monkeypatch.setattr(choice, "cpu_has_bf16", lambda: True)  # a CPU where auto means int8
    return load_music_model("tiny", cache_dir=cache_dir, device="cpu", precision="auto")


def test_auto_generates_at_int8_when_the_weights_pass_its_check(tmp_path: Path, monkeypatch) -> None:
    mm = _auto_tiny(tmp_path, monkeypatch)
    assert mm.precision == "int8" and mm.auto_precision
    packed = mm.packed()
    assert packed.precision == mm.precision == "int8" and mm.agreement is not None and mm.agreement >= FLOORS["int8"]
    assert len(list((tmp_path / "int8").glob("*.pt"))) == 1  # kept for the next load


def test_auto_falls_back_to_bf16_when_the_weights_fail_int8s_check(tmp_path: Path, monkeypatch, caplog) -> None:
    from generator_service.model.precision import parity
    from generator_service.pipeline.generate import GenerationConfig, generate_codes

    mm = _auto_tiny(tmp_path, monkeypatch)
    monkeypatch.setitem(parity.FLOORS, "int8", 1.01)  # weights no int8 rounding can pass
    with caplog.at_level(logging.WARNING):
        codes = generate_codes(mm, 20, GenerationConfig(prompt="rock", seed=3))
    assert "generating at bf16" in caplog.text and "int8 agrees with fp32 on 0.9" in caplog.text
    assert mm.precision == mm.packed().precision == "bf16"  # what the result's metadata reports
    bf16 = _auto_tiny(tmp_path / "other", monkeypatch)
    bf16.precision, bf16.auto_precision = "bf16", False
    assert torch.equal(codes, generate_codes(bf16, 20, GenerationConfig(prompt="rock", seed=3)))
    asked = _auto_tiny(tmp_path, monkeypatch)
    asked.precision, asked.auto_precision = "int8", False  # --precision int8: kept, with a warning
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert asked.packed().precision == "int8"
    assert "--precision bf16 would follow fp32 closer" in caplog.text


def test_the_first_int8_pack_reports_progress_and_stops_on_cancel(tmp_path: Path, monkeypatch) -> None:
    from generator_service.errors import Cancelled
    from generator_service.model.precision.quantize import PACK_UNITS
    from generator_service.pipeline.generate import GenerationConfig, generate_codes
    from generator_service.progress import CancelToken

    token, seen = CancelToken(), []

    def cancel_midway(phase: str, done: int, total: int) -> None:
        seen.append((phase, done, total))
        if (phase, done) == ("prepare", 3):
            token.cancel("test")

    mm = _auto_tiny(tmp_path, monkeypatch)
    with pytest.raises(Cancelled):
        generate_codes(mm, 20, GenerationConfig(), progress=cancel_midway, cancel=token)
    assert seen == [("prepare", done, PACK_UNITS) for done in range(4)]  # stopped before the 4th slot
    assert not list(tmp_path.glob("int8/*.pt"))  # nothing half-made is kept

    seen.clear()
    generate_codes(mm, 20, GenerationConfig(), progress=lambda *report: seen.append(report))
    phases = [phase for phase, _, _ in seen]
    assert phases[: PACK_UNITS + 2] == ["prepare"] * (PACK_UNITS + 1) + ["generate"]
    assert seen[PACK_UNITS] == ("prepare", PACK_UNITS, PACK_UNITS)

    seen.clear()
    again = _auto_tiny(tmp_path, monkeypatch)  # a restart: the rounding is read from the cache
    generate_codes(again, 20, GenerationConfig(), progress=lambda *report: seen.append(report))
    assert seen[0][0] == "generate" and again.precision == "int8"
