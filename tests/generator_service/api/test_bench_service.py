"""The service bench runs end to end and prints its table (numbers are not asserted)."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_service_bench_prints_a_table(tiny) -> None:
    from generator_service.bench.service import run

    out = run(seconds=0.5, jobs=1, poll_seconds=0.3)
    assert "submit -> first progress event" in out and "req/s" in out
