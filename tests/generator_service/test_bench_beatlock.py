"""The beat-lock bench runs and prints its tables (the figures are reported from real runs, not asserted)."""

from __future__ import annotations

from generator_service.bench import beatlock

from .pipeline.drums import require_rubberband


def test_beatlock_bench_reports_each_stage_as_a_real_time_multiple() -> None:
    require_rubberband()
    text = beatlock.run(seconds=8.0, repeats=1)
    assert "8 s of 32 kHz" in text
    for stage in ("music events (beat_tracking)", "plan", "Rubber Band", "whole lock"):
        assert stage in text
    assert len(text.splitlines()) == 2 + 4 + 1


def test_beatlock_cost_reports_cold_and_warm_takes_from_a_fresh_process() -> None:
    require_rubberband()
    text = beatlock.run_cost(repeats=1)
    assert "fresh process" in text
    for row in ("imports", "first take's lock (cold", "next take's lock (warm)"):
        assert row in text
    figures = [float(line.split()[-1]) for line in text.splitlines()[3:]]
    assert len(figures) == 3 and all(f > 0 for f in figures)
