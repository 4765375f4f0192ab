"""`bench blender` at small sizes: real Blender + a real tiny service, every row of the table present.
Checks the bench runs and reports; it asserts no timings (benchmarks are not timed tests)."""

from __future__ import annotations

import importlib.util

import pytest

from generator_service.bench import blender

pytestmark = [pytest.mark.blender, pytest.mark.slow]
ROWS = (
    "score_strips call, path mode",
    "score_strips call, proxy mode, excl. render",
    "proxy render 640x360",
    "timer tick, nothing placed",
    "timer tick that places a strip",
    "of which Blender's strips.new_sound",
    "timer tick that pushes a job's undo step",
    "Blender's evaluation after such ticks",
    "CPU time of the ticks over 5 ms wall",
)


def test_bench_blender_table():
    try:
        blender.bpy_python()
    except blender.NoBlender as exc:
        pytest.skip(str(exc))
    if importlib.util.find_spec("torch") is None:
        pytest.skip("the tiny service needs torch in this interpreter (run pytest from .venv)")
    text = blender.run(seconds=1.0, strips=2, size=(640, 360))
    header, _, rule, *rows = text.splitlines()
    assert header.startswith("Blender ") and "--model tiny" in header and set(rule) <= {"-", " "}
    names = [r.split("  ms/", 1)[0].split("  s per s", 1)[0].strip() for r in rows]
    assert names == list(ROWS), text
    tick_rows = [r.split() for r in rows if "tick" in r and "CPU time" not in r]  # slow ticks may not occur
    assert all(int(r[r.index("ms/tick") + 1]) > 0 for r in tick_rows), text
