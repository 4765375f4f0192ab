"""Our numpy beat tracking (`pipeline.beat_tracking`) against librosa 0.11, the reference it ports:
loudness, onset strength, onsets, tempo and beats, on real recorded music (`bench.real_music`:
harpsichord, orchestra, pop; 24-48 kHz) and on constructed drums."""

from __future__ import annotations

import numpy as np
import pytest

from generator_service.bench import real_music
from generator_service.pipeline import beat_tracking as bt
from generator_service.pipeline.lock_report import mono

from .drums import drum_track

HOP = 512


def _signals() -> dict[str, tuple[np.ndarray, int]]:
    out = {
        name: (mono(real_music.load(name)[0])[: 10 * real_music.load(name)[1]], real_music.load(name)[1])
        for name in real_music.PIECES
    }
    out["drums"] = (drum_track(126.0, 8.0, first_beat_s=0.3, sr=32_000).astype(np.float32), 32_000)
    return out


@pytest.fixture(scope="module")
def signals() -> dict[str, tuple[np.ndarray, int]]:
    return _signals()


@pytest.fixture(scope="module")
def librosa():
    return pytest.importorskip("librosa")


@pytest.mark.parametrize("name", [*real_music.PIECES, "drums"])
def test_our_beat_tracking_matches_librosa(signals, librosa, name):
    y, sr = signals[name]
    np.testing.assert_allclose(
        bt.rms(y, bt.N_FFT, HOP),
        librosa.feature.rms(y=y, frame_length=bt.N_FFT, hop_length=HOP)[0],
        rtol=1e-4,
        atol=1e-7,
    )
    ours = bt.onset_strength(y, sr, HOP)
    ref = librosa.onset.onset_strength(y=y, sr=sr, hop_length=HOP)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-4 * float(ref.max()))
    # given the same envelope, the decisions are librosa's exactly
    env = ref.astype(np.float64)
    np.testing.assert_array_equal(
        bt.onset_detect(env, sr, HOP), librosa.onset.onset_detect(onset_envelope=env, sr=sr, hop_length=HOP)
    )
    tempo, beats = librosa.beat.beat_track(onset_envelope=env, sr=sr, hop_length=HOP)
    tracked = bt.beat_track(env, sr, HOP)
    assert tracked.tempo_bpm == pytest.approx(float(np.atleast_1d(tempo)[0]), rel=1e-9)
    np.testing.assert_array_equal(tracked.frames, beats)
    assert bt.tempo(env, sr, HOP) == pytest.approx(
        float(librosa.feature.tempo(onset_envelope=env, sr=sr, hop_length=HOP)[0]), rel=1e-9
    )
    # and from our own envelope the beats are the same (the envelopes differ by float rounding only)
    np.testing.assert_array_equal(bt.beat_track(ours, sr, HOP).frames, beats)


def test_silence_and_a_short_signal_give_no_beats():
    silent = bt.beat_track(bt.onset_strength(np.zeros(32_000, dtype=np.float32), 32_000, HOP), 32_000, HOP)
    assert silent.frames.size == 0
    short = bt.onset_strength(np.random.default_rng(0).normal(0, 0.1, 1000).astype(np.float32), 32_000, HOP)
    assert bt.beat_track(short, 32_000, HOP).frames.size <= 1
