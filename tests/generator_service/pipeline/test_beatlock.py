"""Beat lock on constructed drum music against known motion beats: the plan (pure), Rubber Band's
call, and the whole lock (alignment before/after, hits, exact length, no clicks, honest refusals)."""

from __future__ import annotations

import numpy as np
import pytest

from generator_service.errors import ConfigError
from generator_service.evaluation.metrics import beat_alignment, hit_alignment
from generator_service.pipeline import rubberband
from generator_service.pipeline.beatlock import (
    LockConfig,
    TimeMap,
    beats_on_target,
    lock_to_performer,
    plan_time_map,
)
from generator_service.pipeline.hits import Hit
from generator_service.pipeline.rhythm import MusicEvents, music_events

from .drums import drum_track, require_rubberband

SR = 32_000
SECONDS = 20.0
#: The performer: a 2 Hz bob (120 motion BPM) with 15 ms of timing jitter, as MediaPipe gives.
MOTION = np.arange(0.4, SECONDS, 0.5) + np.random.default_rng(0).normal(0, 0.015, 40)


@pytest.fixture
def rubberband_tool() -> None:
    require_rubberband()


needs_rubberband = pytest.mark.usefixtures("rubberband_tool")


def _events(
    beats: np.ndarray,
    onsets: np.ndarray | None = None,
    strengths: np.ndarray | None = None,
    duration: float = SECONDS + 3,
) -> MusicEvents:
    onsets = beats if onsets is None else onsets
    strengths = np.ones(onsets.size) if strengths is None else strengths
    return MusicEvents(
        beats,
        onsets,
        strengths,
        60.0 / float(np.median(np.diff(beats))),
        np.zeros(1),
        np.zeros(1),
        SR / 512,
        duration,
        False,
    )


def _max_jump(x: np.ndarray) -> float:
    return float(np.abs(np.diff(x, axis=0)).max())


# --- the plan (pure numpy) ----------------------------------------------------------------------


@pytest.mark.parametrize("off", [0.95, 1.03, 1.05, 1.07])
def test_plan_puts_music_beats_on_motion_beats_within_the_bound(off: float) -> None:
    music_beats = np.arange(0.17, SECONDS + 3, 0.5 / off)  # off-tempo and off-phase
    plan = plan_time_map(_events(music_beats), MOTION, (), 0.08)
    assert np.all(plan.ratios >= 0.92 - 1e-9) and np.all(plan.ratios <= 1.08 + 1e-9)
    assert np.all(np.diff(plan.anchors, axis=0) > 0)
    assert beats_on_target(plan(music_beats), MOTION, 0.05) >= 0.8 * MOTION.size
    assert beats_on_target(music_beats, MOTION, 0.05) <= 0.35 * MOTION.size  # before: far off


def test_plan_puts_a_strong_onset_on_each_hit() -> None:
    music_beats = np.arange(0.1, SECONDS + 3, 0.48)
    onsets = np.sort(np.r_[music_beats, music_beats + 0.24])
    strengths = np.where(np.isin(onsets, music_beats), 1.0, 0.5)
    hits = [Hit(6.3, "cut"), Hit(15.1, "marker", 0.8)]
    plan = plan_time_map(_events(music_beats, onsets, strengths), MOTION, hits, 0.08)
    assert plan.hit_anchors == 2
    landed = plan(onsets)
    for hit in hits:
        assert np.min(np.abs(landed - hit.t)) < 1e-6


def test_plan_without_targets_is_the_identity() -> None:
    plan = plan_time_map(_events(np.arange(0.1, 10, 0.5)), np.zeros(0), (), 0.08)
    assert plan.anchors.shape == (1, 2) and plan.tail_ratio == 1.0
    np.testing.assert_allclose(plan(np.array([1.0, 5.0])), [1.0, 5.0])


def test_time_map_inverts_and_continues_at_the_tail_ratio() -> None:
    m = TimeMap(np.array([[0.0, 0.0], [2.0, 2.1], [4.0, 4.0]]), np.array([0, 0]), 0.95)
    np.testing.assert_allclose(m(np.array([1.0, 2.0, 6.0])), [1.05, 2.1, 4.0 + 2.0 * 0.95])
    assert m.source_time(2.1) == pytest.approx(2.0) and m.source_time(4.95) == pytest.approx(5.0)
    np.testing.assert_allclose(m.ratios, [1.05, 0.95, 0.95])


@pytest.mark.parametrize(
    "field, kwargs",
    [
        ("min_beat_share", {"min_beat_share": 0.0}),
        ("engine", {"engine": "best"}),
        ("min_motion_beats", {"min_motion_beats": 1}),
    ],
)
def test_bad_config_names_the_field(field: str, kwargs: dict) -> None:
    with pytest.raises(ConfigError, match=field):
        LockConfig(**kwargs)


@pytest.mark.parametrize("bound", [0.0, -0.1, 0.7, float("nan")])
def test_bad_stretch_bound_is_refused_before_any_work(bound: float) -> None:
    with pytest.raises(ConfigError, match="max_stretch"):
        lock_to_performer(np.zeros(SR, np.float32), SR, MOTION, (), bound)


# --- Rubber Band ----------------------------------------------------------------------------------


def test_missing_rubberband_is_an_error_with_the_install_line(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(rubberband.RubberBandError, match="not found") as err:
        rubberband.stretch_to_map(np.zeros(SR, np.float32), SR, [(0, 0), (SR, SR)])
    assert "apt-get install rubberband-cli" in err.value.hint and "brew install rubberband" in err.value.hint


def test_bad_time_map_is_refused() -> None:
    with pytest.raises(ValueError, match="increase"):
        rubberband.stretch_to_map(np.zeros(100, np.float32), SR, [(0, 0), (50, 60), (50, 70), (100, 110)])
    with pytest.raises(ValueError, match="from"):
        rubberband.stretch_to_map(np.zeros(100, np.float32), SR, [(0, 0), (90, 99)])


@needs_rubberband
def test_stretch_follows_the_key_frames() -> None:
    music = drum_track(120, 8.0, first_beat_s=0.25)
    src = np.array([0, 2.25, 4.25, 8.0])
    dst = np.array([0, 2.40, 4.30, 8.2])
    out = rubberband.stretch_to_map(music, SR, list(zip((src * SR).astype(int), (dst * SR).astype(int))))
    assert abs(out.shape[0] - int(8.2 * SR)) <= 512
    onsets = music_events(out, SR).onsets
    before = music_events(music, SR).onsets
    for s, d in zip(src[1:3], dst[1:3]):
        detected_before = before[np.argmin(np.abs(before - s))]
        assert np.min(np.abs(onsets - d)) < abs(detected_before - s) + 0.02  # the kick moved with its key frame


@needs_rubberband
def test_stretch_keeps_channels_and_level() -> None:
    mono = drum_track(100, 4.0)
    stereo = np.stack([mono, 0.5 * mono], axis=1)
    out = rubberband.stretch_to_map(stereo, SR, [(0, 0), (stereo.shape[0], int(stereo.shape[0] * 1.05))])
    assert out.ndim == 2 and out.shape[1] == 2
    rms = np.sqrt(np.mean(out**2, axis=0))
    assert rms[1] / rms[0] == pytest.approx(0.5, rel=0.05)
    assert rms[0] == pytest.approx(np.sqrt(np.mean(mono**2)), rel=0.1)


# --- the lock ----------------------------------------------------------------------------------


@needs_rubberband
@pytest.mark.parametrize(
    "off, first, tonal",
    [
        (1.03, 0.12, False),
        (1.05, 0.30, True),
        (1.07, 0.05, False),
        (0.95, 0.20, False),
        (0.93, 0.33, True),
    ],
)
def test_off_tempo_off_phase_drums_lock_onto_the_motion_beats(off: float, first: float, tonal: bool) -> None:
    music = drum_track(120 * off, SECONDS + 3, first_beat_s=first, tonal=tonal)
    before = beat_alignment(MOTION, music_events(music[: int(SECONDS * SR)], SR).beats, SECONDS)
    result = lock_to_performer(music, SR, MOTION, duration_s=SECONDS)
    after = beat_alignment(MOTION, music_events(result.audio, SR).beats, SECONDS)
    assert result.locked and result.reason.startswith("locked")
    assert before.f_measure < before.chance_f_measure + 0.15  # before: near chance
    assert after.f_measure >= 0.8
    assert result.audio.shape == (int(SECONDS * SR),) and result.audio.dtype == np.float32
    lo, hi = result.stretch_range
    assert 0.92 - 1e-9 <= lo <= hi <= 1.08 + 1e-9
    assert _max_jump(result.audio) <= _max_jump(music)  # no discontinuity where segments join


@needs_rubberband
def test_hits_land_on_music_onsets_and_the_beats_stay_locked() -> None:
    music = drum_track(120 * 1.04, SECONDS + 3, first_beat_s=0.2)
    hits = [Hit(6.3, "cut"), Hit(11.4, "marker", 0.7), Hit(15.1, "cut")]
    result = lock_to_performer(music, SR, MOTION, hits, duration_s=SECONDS)
    events = music_events(result.audio, SR)
    landed = hit_alignment(np.array([h.t for h in hits]), events.onsets, tolerance_s=0.03)
    assert landed.landed == len(hits), landed.offsets_s
    assert beat_alignment(MOTION, events.beats, SECONDS).f_measure >= 0.8
    meta = result.metadata()
    assert meta["hit_anchors"] == 3 and [h["t"] for h in meta["hits"]] == [6.3, 11.4, 15.1]


@needs_rubberband
def test_hits_alone_lock_when_there_is_no_motion() -> None:
    music = drum_track(111, SECONDS + 3, first_beat_s=0.2)
    hits = [Hit(5.15, "cut"), Hit(12.6, "cut")]
    result = lock_to_performer(music, SR, np.zeros(0), hits, duration_s=SECONDS)
    assert result.locked and "hits" in result.reason and "no motion" in result.reason
    onsets = music_events(result.audio, SR).onsets
    assert hit_alignment(np.array([5.15, 12.6]), onsets).landed == 2


@needs_rubberband
def test_stereo_music_at_its_own_rate_keeps_layout_and_exact_length() -> None:
    rate = 44_100
    mono = drum_track(124, 12.0, first_beat_s=0.3, sr=rate)
    music = np.stack([mono, 0.7 * mono], axis=1)
    result = lock_to_performer(music, rate, MOTION[MOTION < 10.0], duration_s=10.0003)
    assert result.locked
    assert result.audio.shape == (round(10.0003 * rate), 2)


def test_no_motion_leaves_the_music_untouched_and_says_why() -> None:
    music = drum_track(120, 12.0)
    result = lock_to_performer(music, SR, np.array([1.0, 3.0]), duration_s=10.0)
    assert not result.locked and "no motion" in result.reason
    np.testing.assert_array_equal(result.audio, music[: 10 * SR])
    assert result.stretch_range == (1.0, 1.0)


def test_a_tempo_too_far_leaves_the_music_untouched_and_names_the_stretch() -> None:
    music = drum_track(150, SECONDS)  # 25 % faster than the motion: no octave is within 8 %
    result = lock_to_performer(music, SR, MOTION, duration_s=SECONDS)
    assert not result.locked
    assert "tempo too far" in result.reason and "150" in result.reason and "8%" in result.reason
    np.testing.assert_array_equal(result.audio, music)


def test_short_music_is_padded_with_silence_and_noted() -> None:
    music = drum_track(120, 5.0)
    result = lock_to_performer(music, SR, np.zeros(0), duration_s=8.0)
    assert result.audio.shape == (8 * SR,) and not np.any(result.audio[5 * SR :])
    assert any("silence" in note for note in result.notes)


def test_silence_is_not_locked() -> None:
    result = lock_to_performer(np.zeros(6 * SR, np.float32), SR, MOTION[MOTION < 6], duration_s=6.0)
    assert not result.locked and "silent" in result.reason


def test_unsteady_motion_beats_are_not_locked_to() -> None:
    """MediaPipe's jitter on a still performer gives 'beats' at random intervals (measured on the
    astronaut clip: 12 in 12 s, 55 % of intervals regular): nothing to lock to."""
    jitter = np.cumsum(np.random.default_rng(3).exponential(1.0, 20))
    jitter = jitter[jitter < SECONDS]
    result = lock_to_performer(drum_track(120, SECONDS), SR, jitter, duration_s=SECONDS)
    assert not result.locked and "not steady" in result.reason and "no motion" in result.reason
