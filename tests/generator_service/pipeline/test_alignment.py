"""Gap filling, smoothing and resampling to the codec frame rate, on synthetic arrays."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expotion_protocol.features import FEATURE_SPEC
from generator_service.config import FeatureConfig
from generator_service.errors import ConfigError
from generator_service.pipeline.alignment import (
    Condition,
    align_track,
    fill_gaps,
    merge_duplicate_times,
    num_condition_frames,
    resample,
    smooth,
    to_condition,
)
from generator_service.pipeline.feature_track import FeatureTrack

F = FEATURE_SPEC.dim
FACE, POSE = FEATURE_SPEC.face, FEATURE_SPEC.pose
FACE_PRESENT = FEATURE_SPEC.index("face.present")
POSE_PRESENT = FEATURE_SPEC.index("pose.present")


def _config(**overrides: float) -> FeatureConfig:
    return FeatureConfig(cache_dir=Path("/nonexistent-cache"), **overrides)


def _ramp_track(
    n: int, fps: float = 10.0, t0: float = 0.0, slope: float = 2.0, offset: float = 1.0,
    face: np.ndarray | None = None, person: np.ndarray | None = None,
) -> FeatureTrack:  # fmt: skip
    """Every value is offset + slope * t (+ channel index); presence dims follow the masks."""
    times = t0 + np.arange(n) / fps
    face = np.ones(n, bool) if face is None else face
    person = np.ones(n, bool) if person is None else person
    values = offset + slope * times[:, None] + np.arange(F)[None, :] * 0.01
    values[:, FACE_PRESENT], values[:, POSE_PRESENT] = 1.0, 1.0
    values[~face, FACE] = 0.0
    values[~person, POSE] = 0.0
    return FeatureTrack(times, times, values, face, person, fps)


# ---- T exact -----------------------------------------------------------------------------------


@given(k=st.integers(0, 200_000), rate=st.sampled_from([50.0, 25.0, 24.0, 30.0, 12.5]))
@settings(max_examples=300, deadline=None)
def test_frame_count_is_exact_for_whole_frames(k: int, rate: float) -> None:
    assert num_condition_frames(k / rate, rate) == k


@given(duration=st.floats(0.0, 3600.0, allow_nan=False), rate=st.sampled_from([50.0, 25.0, 30.0]))
@settings(max_examples=300, deadline=None)
def test_frame_count_covers_the_duration(duration: float, rate: float) -> None:
    t = num_condition_frames(duration, rate)
    assert t == math.ceil(duration * rate - 1e-9)
    assert (t - 1) / rate < duration + 1e-9 or t == 0
    assert t / rate >= duration - 1e-9


@pytest.mark.parametrize(("duration", "expected"), [(0.0, 0), (0.02, 1), (0.021, 2), (0.1 + 0.2, 15), (10.0, 500)])
def test_frame_count_examples(duration: float, expected: int) -> None:
    assert num_condition_frames(duration, 50.0) == expected


def test_condition_shape_matches_t() -> None:
    track = _ramp_track(80)
    for duration in (0.3, 1.0, 2.57, 7.9):
        cond = to_condition(track, 0.0, duration, config=_config())
        assert cond.values.shape == (num_condition_frames(duration, 50.0), F)
        assert cond.values.dtype == np.float32 and cond.mask.dtype == np.float32
        assert cond.mask.shape == cond.face_mask.shape == cond.person_mask.shape == (cond.num_frames,)


@pytest.mark.parametrize(("duration", "rate"), [(-1.0, 50.0), (float("nan"), 50.0), (1.0, 0.0)])
def test_bad_duration_or_rate(duration: float, rate: float) -> None:
    with pytest.raises(ConfigError):
        num_condition_frames(duration, rate)


# ---- ramps survive -----------------------------------------------------------------------------


@given(
    slope=st.floats(-5, 5),
    offset=st.floats(-3, 3),
    t0=st.floats(0, 100),
    fps=st.sampled_from([5.0, 10.0, 12.5, 25.0]),
    smoothing=st.sampled_from([0.0, 0.2, 0.5]),
)
@settings(max_examples=60, deadline=None)
def test_linear_ramp_survives_alignment_exactly(
    slope: float, offset: float, t0: float, fps: float, smoothing: float
) -> None:
    track = _ramp_track(int(6 * fps), fps, t0, slope, offset)
    cond = to_condition(track, t0, 6.0, config=_config(smoothing_s=smoothing))
    query = t0 + np.arange(cond.num_frames) / 50.0
    inner = (query >= t0 + smoothing + 1e-6) & (query <= track.times[-1] - smoothing - 1e-6)
    expected = offset + slope * query[inner, None] + np.arange(F)[None, :] * 0.01
    expected[:, FACE_PRESENT], expected[:, POSE_PRESENT] = 1.0, 1.0
    np.testing.assert_allclose(cond.values[inner], expected, atol=2e-4 * (1 + abs(offset) + abs(slope) * (t0 + 6)))
    assert cond.mask.all()


def test_ramp_on_jittered_true_times_without_smoothing() -> None:
    rng = np.random.default_rng(0)
    times = np.arange(60) / 10.0 + rng.uniform(-0.03, 0.0, 60)
    values = np.repeat((3.0 * times)[:, None], F, axis=1)
    track = FeatureTrack(times, np.arange(60) / 10.0, values, np.ones(60, bool), np.ones(60, bool), 10.0)
    cond = to_condition(track, 0.2, 5.0, config=_config(smoothing_s=0.0))
    query = 0.2 + np.arange(cond.num_frames) / 50.0
    np.testing.assert_allclose(cond.values[:, 0], 3.0 * query, atol=1e-4)


def test_frame_s_is_the_state_at_start_plus_s_over_rate() -> None:
    track = _ramp_track(150, t0=10.0)  # covers 10.0 .. 24.9 s
    cond = to_condition(track, 12.0, 1.0, config=_config(smoothing_s=0.0))
    np.testing.assert_allclose(cond.values[:, 0], 1.0 + 2.0 * (12.0 + np.arange(50) / 50.0), atol=1e-4)


# ---- gaps --------------------------------------------------------------------------------------


def test_short_gap_is_interpolated_long_and_edge_gaps_are_zero() -> None:
    person = np.ones(100, bool)
    person[:3] = False  # leading gap
    person[20:23] = False  # 0.4 s between valid neighbours: filled
    person[50:70] = False  # 2.1 s: zero
    person[95:] = False  # trailing gap
    track = _ramp_track(100, person=person)
    values, mask = fill_gaps(track.times, track.values[:, POSE], person, max_gap_s=0.5)
    assert mask[20:23].all() and not mask[:3].any() and not mask[50:70].any() and not mask[95:].any()
    np.testing.assert_allclose(values[20:23, 0], 1.0 + 2.0 * track.times[20:23] + 0.56, atol=1e-9)
    assert not values[50:70].any() and not values[:3].any() and not values[95:].any()

    cond = to_condition(track, 0.0, 10.0, config=_config(max_gap_s=0.5))
    query = np.arange(500) / 50.0
    gap = (query > 5.0) & (query < 6.9)
    assert not cond.person_mask[gap].any() and not cond.values[gap, POSE].any()
    assert cond.face_mask.all() and cond.mask.all(), "the face stream is valid throughout"
    np.testing.assert_array_equal(cond.values[:, POSE_PRESENT], cond.person_mask)
    np.testing.assert_array_equal(cond.values[:, FACE_PRESENT], cond.face_mask)


def test_gap_rule_uses_neighbour_distance_and_zero_disables() -> None:
    times = np.arange(10) / 10.0
    valid = np.ones(10, bool)
    valid[4] = False  # neighbours 0.2 s apart
    values = times[:, None].copy()
    assert fill_gaps(times, values, valid, 0.2)[1][4]
    assert not fill_gaps(times, values, valid, 0.19)[1][4]
    assert not fill_gaps(times, values, valid, 0.0)[1][4]


def test_streams_are_filled_with_their_own_masks() -> None:
    face = np.ones(60, bool)
    face[10:40] = False
    person = np.ones(60, bool)
    person[30:33] = False
    cond = to_condition(_ramp_track(60, face=face, person=person), 0.0, 6.0, config=_config())
    query = np.arange(300) / 50.0
    assert not cond.face_mask[(query > 1.0) & (query < 3.9)].any()
    assert cond.person_mask.all()


# ---- smoothing ---------------------------------------------------------------------------------


def test_smoothing_does_not_smear_across_a_long_gap() -> None:
    times = np.arange(40) / 10.0
    valid = np.r_[np.ones(15, bool), np.zeros(10, bool), np.ones(15, bool)]
    values = np.where(np.arange(40) < 20, 5.0, 10.0)[:, None] * valid[:, None]
    out = smooth(times, values, valid, smoothing_s=0.5)
    np.testing.assert_allclose(out[:15], 5.0)
    np.testing.assert_allclose(out[25:], 10.0)
    assert not out[15:25].any()


def test_smoothing_reduces_noise_and_zero_width_is_identity() -> None:
    rng = np.random.default_rng(1)
    times = np.arange(200) / 10.0
    values = rng.normal(size=(200, 3))
    valid = np.ones(200, bool)
    assert smooth(times, values, valid, 0.3).std() < 0.8 * values.std()
    np.testing.assert_array_equal(smooth(times, values, valid, 0.0), values)


def test_default_smoothing_is_a_3_tap_hann_at_10_fps() -> None:
    times = np.arange(5) / 10.0
    impulse = np.zeros((5, 1))
    impulse[2] = 1.0
    out = smooth(times, impulse, np.ones(5, bool), 0.2)
    np.testing.assert_allclose(out[:, 0], [0.0, 0.25, 0.5, 0.25, 0.0])


# ---- resampling edges, duplicates, null --------------------------------------------------------


def test_resample_holds_edges_for_one_period_then_masks() -> None:
    times = np.arange(5) / 10.0  # 0 .. 0.4 s
    values = np.arange(5.0)[:, None]
    query = np.array([-0.2, -0.05, 0.0, 0.45, 0.5, 0.6])
    out, ok = resample(times, values, np.ones(5, bool), query, hold_s=0.1)
    assert ok.tolist() == [False, True, True, True, True, False]
    np.testing.assert_allclose(out[ok, 0], [0.0, 0.0, 4.0, 4.0])


def test_resample_next_to_an_invalid_frame_takes_the_nearer() -> None:
    times = np.arange(4) / 10.0
    valid = np.array([True, False, True, True])
    out, ok = resample(times, np.arange(4.0)[:, None], valid, np.array([0.02, 0.08, 0.16, 0.25]), hold_s=0.1)
    assert ok.tolist() == [True, False, True, True]
    np.testing.assert_allclose(out[:, 0], [0.0, 0.0, 2.0, 2.5])


def test_duplicate_true_times_are_merged() -> None:
    times = np.repeat(np.arange(20) / 5.0, 2)  # a 5 fps source sampled at 10 fps
    values = np.repeat(np.arange(20.0), 2)[:, None] * np.ones((1, 3))
    valid = np.ones(40, bool)
    valid[1] = False
    t, v, ok = merge_duplicate_times(times, values, valid)
    assert t.shape == (20,) and ok.all() and v[0, 0] == 0.0
    track = FeatureTrack(times, np.arange(40) / 10.0, np.repeat(values[:, :1], F, axis=1), valid, valid, 10.0)
    cond = to_condition(track, 0.0, 3.0, config=_config(smoothing_s=0.0))
    assert np.isfinite(cond.values).all()
    np.testing.assert_allclose(cond.values[:, 0], 5.0 * np.arange(150) / 50.0, atol=1e-4)
    assert len(align_track(track, _config())) == 20


def test_null_condition() -> None:
    cond = Condition.null(7, F)
    assert cond.values.shape == (7, F) and not cond.values.any() and not cond.mask.any() and cond.is_null
    nobody = _ramp_track(30, face=np.zeros(30, bool), person=np.zeros(30, bool))
    assert to_condition(nobody, 0.0, 3.0, config=_config()).is_null
    empty = FeatureTrack.empty(10.0)
    assert to_condition(empty, 0.0, 1.3, config=_config()).values.shape == (65, F)


def test_align_track_keeps_the_feature_rate() -> None:
    person = np.ones(50, bool)
    person[10:12] = False
    aligned = align_track(_ramp_track(50, person=person), _config())
    assert len(aligned) == 50 and aligned.person_mask.all() and aligned.values.dtype == np.float32


def test_spec_mismatch_is_refused() -> None:
    track = _ramp_track(10)
    track.spec_version = 99
    with pytest.raises(ValueError, match="v99"):
        to_condition(track, 0.0, 1.0, config=_config())
