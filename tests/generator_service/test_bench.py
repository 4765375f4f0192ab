"""The benchmarks run and print their tables (figures are reported from real runs, not asserted)."""

from __future__ import annotations

from generator_service.bench import features, generate


def test_generate_bench_compares_both_loops_at_tiny_shape(tiny) -> None:
    out = generate.run(seconds=0.3, size="tiny", device="cpu")
    assert "transformers generate()" in out and "expotion loop" in out and "s per s audio" in out


def test_features_bench_reports_real_time_multiples() -> None:
    out = features.run(seconds=1.0)
    assert "decode + face + pose (MediaPipe)" in out and "x real time" in out
