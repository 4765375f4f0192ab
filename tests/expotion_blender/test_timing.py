"""timing.py without bpy: visible range -> source seconds at 25, 29.97 and 23.976 fps."""

from __future__ import annotations

import pytest

from expotion_blender.timing import StripTiming


def timing(**kw) -> StripTiming:
    base = dict(
        content_start=7.0,
        visible_start=12,
        visible_end=88,
        movie_fps=29.970029830932617,
        fps=30,
        fps_base=1.001,
        content_frames=90,
    )
    return StripTiming(**{**base, **kw})


def test_ntsc_2997():
    t = timing()
    assert t.frames == 76 and t.source_addressable
    assert t.source_start_s == pytest.approx(5 * 1.001 / 30, abs=1e-12)
    assert t.duration_s == pytest.approx(76 * 1.001 / 30, abs=1e-12)


def test_23976():
    t = timing(
        content_start=-4.0, visible_start=5, visible_end=68, movie_fps=23.976024627685547, fps=24, content_frames=72
    )
    assert t.source_addressable and t.source_start_s == pytest.approx(9 * 1.001 / 24)


def test_content_trim_shifts_the_source_start():
    """Blender's content trim drops source frames before `content_start`: 7 dropped + 5 into the content."""
    t = timing(content_trim_start=7, content_frames=83)
    assert t.source_addressable and t.source_start_s == pytest.approx(12 * 1.001 / 30, abs=1e-12)
    assert t.duration_s == pytest.approx(76 * 1.001 / 30, abs=1e-12)


@pytest.mark.parametrize(
    "kw",
    [
        {"movie_fps": 25.0},  # a 25 fps movie in a 29.97 scene plays frame by frame: proxy only
        {"plain": False},  # reversed / strobed / retimed
        {"visible_start": 5},  # handle dragged before the content (held frames)
        {"visible_end": 99},  # ... or after it
    ],
)
def test_not_addressable(kw):
    assert not timing(**kw).source_addressable
