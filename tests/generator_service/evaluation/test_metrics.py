"""Each metric on constructed signals with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator_service.errors import ConfigError
from generator_service.evaluation import metrics as m

from .conftest import DURATION_S
from .signals import FPS, bobbing, following_audio, swell

# --- motion beats -----------------------------------------------------------------------------


def test_bob_at_2hz_gives_one_motion_beat_per_bob_at_its_bottom(bob_2hz):
    energy, vel = bob_2hz
    motion = m.analyze_motion(energy, FPS, vel)
    assert motion.source == "vertical_velocity"
    expected = np.arange(0.25, DURATION_S, 0.5)
    np.testing.assert_allclose(motion.times, expected, atol=0.02)
    assert motion.tempo_bpm == pytest.approx(120.0, rel=0.01)


def test_motion_energy_alone_gives_every_reversal(bob_2hz):
    energy, _ = bob_2hz
    motion = m.analyze_motion(energy, FPS)
    assert motion.source == "energy_minima"
    assert motion.tempo_bpm == pytest.approx(240.0, rel=0.04)  # top and bottom: 4 per second


def test_noisy_bob_still_found():
    energy, vel = bobbing(1.5, 20.0, noise=0.15, seed=3)
    motion = m.analyze_motion(energy, FPS, vel)
    assert motion.tempo_bpm == pytest.approx(90.0, rel=0.04)
    assert abs(motion.times.size - 30) <= 2


def test_still_performer_has_no_motion_beats():
    n = int(DURATION_S * FPS)
    motion = m.analyze_motion(np.zeros(n), FPS, np.zeros((n, 2)))
    assert motion.times.size == 0 and motion.tempo_bpm is None


def test_y_up_convention_flips_the_phase(bob_2hz):
    energy, vel = bob_2hz
    times = m.analyze_motion(energy, FPS, vel, y_down=False).times
    np.testing.assert_allclose(times, np.arange(0.5, DURATION_S, 0.5)[: times.size], atol=0.02)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"motion_energy": np.zeros((4, 2)), "fps": 10.0}, "motion_energy"),
        ({"motion_energy": np.array([0.0, np.nan, 1.0]), "fps": 10.0}, "motion_energy"),
        ({"motion_energy": np.zeros(10), "fps": 0.0}, "fps"),
        ({"motion_energy": np.zeros(10), "fps": 10.0, "body_velocity": np.zeros((9, 2))}, "body_velocity"),
    ],
)
def test_bad_motion_inputs_name_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        m.analyze_motion(**kwargs)


# --- alignment on constructed event times (no audio) ---------------------------------------------


def test_alignment_of_identical_and_half_period_shifted_events():
    beats = np.arange(0.25, 10.0, 0.5)
    same = m.beat_alignment(beats, beats + 0.01, 10.0)
    off = m.beat_alignment(beats, beats + 0.25, 10.0)
    assert same.f_measure == 1.0 and same.mean_abs_offset_s == pytest.approx(0.01)
    assert off.f_measure == 0.0 and off.mean_abs_offset_s is None
    # chance: a random phase lands within +-100 ms of a 500 ms grid ~ 40 % of the time
    assert same.chance_f_measure == pytest.approx(0.4, abs=0.08)
    assert same.tolerance_s == m.DEFAULT_TOLERANCE_S


def test_alignment_with_no_events_on_either_side_is_zero():
    beats = np.arange(0.25, 10.0, 0.5)
    assert m.beat_alignment(beats, np.zeros(0), 10.0).f_measure == 0.0
    assert m.beat_alignment(np.zeros(0), beats, 10.0).f_measure == 0.0


def test_tolerance_window_is_honoured():
    beats = np.arange(0.25, 10.0, 0.5)
    assert m.beat_alignment(beats, beats + 0.09, 10.0, tolerance_s=0.1).f_measure == 1.0
    assert m.beat_alignment(beats, beats + 0.11, 10.0, tolerance_s=0.1).f_measure == 0.0


def test_matching_is_one_to_one():
    result = m.beat_alignment(np.array([1.0]), np.array([0.98, 1.0, 1.02]), 5.0)
    assert result.n_matched == 1 and result.hit_rate == 1.0 and result.precision == pytest.approx(1 / 3)


times = st.lists(st.floats(0.0, 9.99, allow_nan=False), max_size=25).map(lambda x: np.sort(np.array(x)))


@settings(max_examples=60, deadline=None)
@given(a=times, b=times)
def test_alignment_is_bounded_and_symmetric(a, b):
    ab, ba = m.beat_alignment(a, b, 10.0, n_shifts=4), m.beat_alignment(b, a, 10.0, n_shifts=4)
    assert 0.0 <= ab.f_measure <= 1.0 and 0.0 <= ab.chance_f_measure <= 1.0
    assert ab.n_matched <= min(a.size, b.size)
    assert ab.f_measure == pytest.approx(ba.f_measure)


# --- the known answers of issue #6 (librosa on click tracks) ----------------------------------------


def test_click_track_at_120_bpm_against_a_2hz_bob_scores_high(bob_2hz, music_on_beat):
    motion = m.analyze_motion(bob_2hz[0], FPS, bob_2hz[1])
    beats = m.beat_alignment(motion.times, music_on_beat.beats, DURATION_S)
    onsets = m.beat_alignment(motion.times, music_on_beat.onsets, DURATION_S, reference="onsets")
    assert beats.f_measure >= 0.85
    assert onsets.hit_rate >= 0.9
    assert beats.f_measure > beats.chance_f_measure + 0.4
    assert beats.mean_abs_offset_s < 0.05


def test_click_track_half_a_beat_late_scores_low(bob_2hz, music_half_beat_late):
    motion = m.analyze_motion(bob_2hz[0], FPS, bob_2hz[1])
    beats = m.beat_alignment(motion.times, music_half_beat_late.beats, DURATION_S)
    onsets = m.beat_alignment(motion.times, music_half_beat_late.onsets, DURATION_S)
    assert beats.f_measure <= 0.1 and onsets.hit_rate <= 0.1
    assert beats.f_measure < beats.chance_f_measure


def test_silence_scores_zero(bob_2hz, music_silent):
    motion = m.analyze_motion(bob_2hz[0], FPS, bob_2hz[1])
    assert music_silent.silent and music_silent.beats.size == 0 and music_silent.onsets.size == 0
    assert m.beat_alignment(motion.times, music_silent.beats, DURATION_S).f_measure == 0.0
    assert m.beat_alignment(motion.times, music_silent.onsets, DURATION_S).f_measure == 0.0
    tempo = m.tempo_consistency(music_silent.tempo_bpm, motion)
    assert tempo.music_bpm is None and tempo.music_vs_motion == "undefined"
    expr = m.expression_following(swell(DURATION_S), FPS, music_silent)
    assert expr.energy_r == 0.0 and expr.brightness_r == 0.0 and not expr.defined


# --- tempo ------------------------------------------------------------------------------------------


def test_click_tempo_matches_bob_tempo(bob_2hz, music_on_beat):
    motion = m.analyze_motion(bob_2hz[0], FPS, bob_2hz[1])
    tempo = m.tempo_consistency(music_on_beat.tempo_bpm, motion, reference_bpm=120.0)
    assert music_on_beat.tempo_bpm == pytest.approx(120.0, rel=0.02)
    assert tempo.music_vs_motion == "same" and tempo.music_vs_reference == "same"
    assert tempo.matches_motion and not tempo.octave_error_motion


def test_bob_seen_by_speed_only_is_an_octave_error(bob_2hz, music_on_beat):
    motion = m.analyze_motion(bob_2hz[0], FPS)  # every reversal: 240 events per minute
    tempo = m.tempo_consistency(music_on_beat.tempo_bpm, motion)
    assert tempo.music_vs_motion == "half"
    assert tempo.octave_error_motion and tempo.matches_motion_any_octave and not tempo.matches_motion


@pytest.mark.parametrize(
    ("bpm", "ref", "name"),
    [
        (120, 120, "same"),
        (124, 120, "same"),
        (126, 120, "other"),
        (240, 120, "double"),
        (61, 120, "half"),
        (360, 120, "triple"),
        (40, 120, "third"),
        (90, 120, "other"),
        (None, 120, "undefined"),
        (120, 0, "undefined"),
    ],
)
def test_tempo_relation_names(bpm, ref, name):
    assert m.tempo_relation(bpm, ref, 0.04) == name


def test_tempo_from_events_ignores_a_missed_event():
    t = np.delete(np.arange(0.0, 10.0, 0.5), 7)
    assert m.tempo_from_events(t) == pytest.approx(120.0)
    assert m.tempo_from_events(t[:3]) is None


# --- expression following ------------------------------------------------------------------------


def test_music_that_swells_with_the_face_correlates():
    expr = swell(10.0)
    result = m.expression_following(expr, FPS, m.analyze_music(following_audio(expr)))
    assert result.energy_r > 0.8 and result.brightness_r > 0.8 and result.defined
    assert result.smoothing_s == 1.0 and result.max_lag_s == 0.5


def test_music_against_the_face_anticorrelates():
    expr = swell(10.0)
    result = m.expression_following(expr, FPS, m.analyze_music(following_audio(expr, invert=True)))
    assert result.energy_r < -0.8 and result.brightness_r < -0.8


def test_delayed_music_is_found_at_its_lag():
    expr = swell(10.0, period_s=3.0)
    delayed = np.concatenate([np.full(3, expr[0]), expr[:-3]])  # music 0.3 s behind the face
    result = m.expression_following(expr, FPS, m.analyze_music(following_audio(delayed)), smoothing_s=0.0)
    assert result.energy_best_lag_s == pytest.approx(0.3)
    assert result.energy_best_r > result.energy_r


def test_still_face_scores_zero(music_on_beat):
    result = m.expression_following(np.full(int(DURATION_S * FPS), 0.3), FPS, music_on_beat)
    assert result.energy_r == 0.0 and not result.defined


def test_expression_intensity_ignores_neutral_blinks_and_gaze():
    shapes = np.zeros((4, 52))
    shapes[:, list(m.NON_EXPRESSIVE_BLENDSHAPES)] = 1.0
    assert np.all(m.expression_intensity(shapes) == 0.0)
    shapes[2, 44:46] = 1.0  # mouthSmileLeft/Right
    assert m.expression_intensity(shapes)[2] == pytest.approx(2 / 41)
    with pytest.raises(ConfigError, match="blendshapes"):
        m.expression_intensity(np.zeros((4, 51)))


# --- FAD ---------------------------------------------------------------------------------------------


def test_frechet_distance_known_values():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    assert m.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    b = a + np.array([2.0, 0.0, 0.0])
    assert m.frechet_distance(a, b) == pytest.approx(4.0, rel=1e-6)
    c = rng.normal(size=(4000, 3)) * 2.0  # trace term: 3 * (1 + 4 - 2*2) = 3
    assert m.frechet_distance(a, c) == pytest.approx(3.0, rel=0.1)
    with pytest.raises(ConfigError):
        m.frechet_distance(a[:1], b)
