"""The benchmarks run and print their tables (figures are reported from real runs, not asserted)."""

from __future__ import annotations

from generator_service.bench import adapter, features, generate


def test_generate_bench_compares_both_loops_at_tiny_shape(tiny) -> None:
    out = generate.run(seconds=0.3, size="tiny", device="cpu")
    assert "transformers generate()" in out and "expotion loop" in out and "s per s audio" in out


def test_features_bench_reports_real_time_multiples() -> None:
    out = features.run(seconds=1.0)
    assert "decode + face + pose (MediaPipe)" in out and "x real time" in out


def test_adapter_bench_times_both_variants_at_tiny_shape(tiny) -> None:
    rows = adapter.overhead_rows("tiny", 0.3, "cpu", repeats=1)
    assert [r[0] for r in rows] == ["base model", "with adapter"]
    assert all(r[1] == 18 and r[2] > 0 for r in rows)  # 15 frames + 3 delay steps, measured ms per step


def test_training_throughput_runs_real_steps_at_tiny_shape(tiny) -> None:
    rate, peak = adapter.train_steps_per_second("tiny", "cpu", batch=2, window_s=0.5, steps=2)
    assert rate > 0 and peak is None
