"""`bench chroma`: the melody chroma's cost per audio second, at each reference rate."""

from __future__ import annotations

from generator_service.bench import chroma


def test_chroma_bench_reports_each_reference_rate() -> None:
    text = chroma.run(seconds=2.0, repeats=1)
    assert "melody chroma of 2 s" in text and "ms per audio s" in text
    for rate, channels in chroma.CASES:
        assert f"{rate} Hz x{channels}" in text
    assert text.count(" 16 ") >= len(chroma.CASES)  # 2 s at 32 kHz: 1 + 64000 // 4096 frames
