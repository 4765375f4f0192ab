"""The beat-lock bench runs and prints its table (the figure is reported from real runs, not asserted)."""

from __future__ import annotations

from generator_service.bench import beatlock

from .pipeline.drums import require_rubberband


def test_beatlock_bench_reports_each_stage_as_a_real_time_multiple() -> None:
    require_rubberband()
    text = beatlock.run(seconds=8.0, repeats=1)
    assert "8 s of 32 kHz" in text
    for stage in ("music events", "plan", "Rubber Band", "whole lock"):
        assert stage in text
    assert len(text.splitlines()) == 2 + 4 + 1
