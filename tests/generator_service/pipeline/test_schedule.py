"""The prompt schedule: boundaries at the strongest energy/expression changes and at cuts, a window
cap, each segment's words; and `analyze`'s `segments` from real MediaPipe on a real photo."""

from __future__ import annotations

import json

import numpy as np
import pytest

from expotion_protocol.features import FEATURE_SPEC
from generator_service.config import FeatureConfig
from generator_service.errors import ConfigError
from generator_service.pipeline.analysis import analyze_track
from generator_service.pipeline.feature_track import FeatureTrack
from generator_service.pipeline.features import FeatureExtractor
from generator_service.pipeline.hits import Hit
from generator_service.pipeline.schedule import ScheduleConfig, novelty, plan_schedule

from .scenes import bobbing_frames

S = FEATURE_SPEC
FPS = 10.0


def _track(
    seconds: float,
    energy: list[tuple[float, float, float]] = (),
    smile: list[tuple[float, float, float]] = (),
    noise: float = 0.05,
    seed: int = 0,
) -> FeatureTrack:
    """A performer seen throughout: motion energy and smile piecewise constant over (t0, t1, value)
    spans (energy 0.3 and smile 0.1 elsewhere), plus noise."""
    n = int(seconds * FPS)
    t = np.arange(n) / FPS
    rng = np.random.default_rng(seed)
    values = np.zeros((n, S.dim))
    e = np.full(n, 0.3)
    for t0, t1, v in energy:
        e[(t >= t0) & (t < t1)] = v
    sm = np.full(n, 0.1)
    for t0, t1, v in smile:
        sm[(t >= t0) & (t < t1)] = v
    values[:, S.index("pose.energy")] = np.abs(e + rng.normal(0, noise, n))
    for side in ("Left", "Right"):
        values[:, S.index(f"face.bs.mouthSmile{side}")] = np.clip(sm + rng.normal(0, noise / 2, n), 0, 1)
    values[:, S.index("pose.present")] = 1.0
    values[:, S.index("face.present")] = 1.0
    return FeatureTrack(t, t, values, np.ones(n, bool), np.ones(n, bool), FPS)


def test_boundaries_at_the_energy_and_expression_changes_with_their_words() -> None:
    track = _track(30.0, energy=[(12.0, 30.0, 2.2)], smile=[(20.0, 30.0, 0.8)])
    segments = plan_schedule(track, tempo_bpm=118.6)
    assert [s.cause for s in segments] == ["start", "change", "change"]
    assert segments[1].start == pytest.approx(12.0, abs=0.3) and segments[2].start == pytest.approx(20.0, abs=0.3)
    assert [s.energy for s in segments] == ["calm", "energetic", "energetic"]
    assert [s.mood for s in segments] == [None, None, "upbeat"]
    assert segments[2].prompt == "upbeat, energetic, 119 BPM" and segments[0].prompt == "calm, 119 BPM"
    assert segments[0].start == 0.0 and segments[-1].end == 30.0
    assert all(a.end == b.start for a, b in zip(segments, segments[1:]))


def test_a_steady_performance_is_one_segment() -> None:
    segments = plan_schedule(_track(40.0, noise=0.1, seed=3))
    assert len(segments) == 1 and segments[0].cause == "start"


def test_cuts_are_boundaries_and_markers_are_not() -> None:
    hits = [Hit(9.0, "cut"), Hit(16.0, "marker"), Hit(9.5, "cut", 0.3), Hit(31.0, "cut")]
    segments = plan_schedule(_track(30.0), hits)
    assert [(s.start, s.cause) for s in segments] == [(0.0, "start"), (9.0, "cut")]  # 9.5 is too close, 31 outside


def test_changes_keep_their_distance_and_the_strongest_wins() -> None:
    track = _track(30.0, energy=[(10.0, 11.5, 1.2), (11.5, 30.0, 2.5)])  # two steps 1.5 s apart
    starts = [s.start for s in plan_schedule(track)[1:]]
    assert len(starts) == 1 and starts[0] == pytest.approx(11.5, abs=0.5)


def test_window_cap_splits_long_segments() -> None:
    track = _track(50.0, energy=[(20.0, 50.0, 2.0)])
    segments = plan_schedule(track, window_s=10.0)
    assert all(s.end - s.start <= 10.0 + 1e-9 for s in segments)
    assert any(s.cause == "change" and s.start == pytest.approx(20.0, abs=0.3) for s in segments)
    assert {s.cause for s in segments} == {"start", "change", "window"}
    assert segments[-1].end == 50.0


def test_nobody_in_view_gives_one_segment_without_words() -> None:
    n = 100
    t = np.arange(n) / FPS
    track = FeatureTrack(t, t, np.zeros((n, S.dim)), np.zeros(n, bool), np.zeros(n, bool), FPS)
    (segment,) = plan_schedule(track, tempo_bpm=None)
    assert (segment.mood, segment.energy, segment.prompt) == (None, None, "")
    assert plan_schedule(FeatureTrack.empty(FPS)) == []


def test_novelty_is_in_word_steps() -> None:
    track = _track(20.0, energy=[(10.0, 20.0, 1.3)], noise=0.0)  # +1.0 shoulder widths / s = 2 steps
    change = novelty(track)
    assert change.max() == pytest.approx(2.0, abs=1e-6) and int(np.argmax(change)) == 100


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="window_s"):
        plan_schedule(_track(5.0), window_s=0.1)
    with pytest.raises(ConfigError, match="step"):
        ScheduleConfig(steps=(0.5, 0.0, 0.2, 0.5))


def test_analyze_has_segments_from_real_mediapipe(tmp_path) -> None:
    """The performer bobs for 6 s, leaves for 6 s, comes back: three segments, the middle without words."""
    config = FeatureConfig(feature_fps=FPS, cache_dir=tmp_path)
    present = lambda i: not 60 <= i < 120  # noqa: E731
    with FeatureExtractor(config) as fx:
        track = fx.extract(bobbing_frames(180, bob_hz=2.0, fps=FPS, present=present), 180)
    result = analyze_track(track)
    json.dumps(result)
    segments = result["segments"]
    assert [s["cause"] for s in segments] == ["start", "change", "change"]
    assert segments[1]["start"] == pytest.approx(6.0, abs=0.3) and segments[2]["start"] == pytest.approx(12.0, abs=0.3)
    assert segments[1]["energy"] is None and segments[1]["mood"] is None
    assert segments[0]["energy"] is not None and segments[0]["prompt"]
    assert set(segments[0]) == {"start", "end", "mood", "energy", "prompt", "cause"}
