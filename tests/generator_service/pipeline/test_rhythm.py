"""The shared beat definitions: a still performer's jitter is not motion; steadiness; music events."""

from __future__ import annotations

import numpy as np
import pytest

from generator_service.errors import ConfigError
from generator_service.pipeline.rhythm import STILL_SPEED, analyze_motion, music_events, steadiness

from .drums import drum_track

FPS = 10.0


def _bob(freq: float, amplitude_sw: float, seconds: float = 12.0, jitter: float = 0.0, seed: int = 0):
    t = np.arange(int(seconds * FPS)) / FPS
    vy = 2 * np.pi * freq * amplitude_sw * np.cos(2 * np.pi * freq * t)
    vy = vy + np.random.default_rng(seed).normal(0, jitter, t.size)
    return np.abs(vy), np.stack([np.zeros(t.size), vy], axis=1)


def test_jitter_of_a_still_performer_is_still_with_the_floor_and_beats_without() -> None:
    energy, vel = _bob(0.0, 0.0, jitter=0.13)  # median |v| ~0.09 sw/s, as MediaPipe on a still photo
    assert analyze_motion(energy, FPS, vel).times.size > 3  # the evaluation's definition: relative only
    still = analyze_motion(energy, FPS, vel, min_speed=STILL_SPEED)
    assert still.source == "still" and still.times.size == 0 and still.tempo_bpm is None


def test_a_small_real_bob_clears_the_floor() -> None:
    energy, vel = _bob(1.0, 0.08, jitter=0.05)  # 0.16 shoulder widths peak to peak
    motion = analyze_motion(energy, FPS, vel, min_speed=STILL_SPEED)
    assert motion.source == "vertical_velocity" and motion.tempo_bpm == pytest.approx(60, rel=0.05)


def test_absent_frames_do_not_make_a_bob_still() -> None:
    energy, vel = _bob(2.0, 0.07)
    energy[:60], vel[:60] = 0.0, 0.0  # nobody in the first half
    assert analyze_motion(energy, FPS, vel, min_speed=STILL_SPEED).times.size >= 10


def test_bad_floor_is_refused() -> None:
    energy, vel = _bob(2.0, 0.07)
    with pytest.raises(ConfigError, match="min_speed"):
        analyze_motion(energy, FPS, vel, min_speed=-1.0)


def test_steadiness() -> None:
    assert steadiness(np.arange(0.4, 10, 0.5)) == 1.0
    missed = np.delete(np.arange(0.4, 10, 0.5), [5, 12])
    assert 0.75 < steadiness(missed) < 1.0  # a missed beat costs one long interval
    assert steadiness(np.cumsum(np.random.default_rng(1).exponential(1.0, 30))) < 0.6
    assert steadiness(np.array([1.0, 2.0])) == 0.0


def test_music_events_give_onset_strengths_and_beats_of_a_drum_track() -> None:
    events = music_events(drum_track(120, 8.0, first_beat_s=0.25), 32_000)
    assert events.onset_strengths.shape == events.onsets.shape and np.all(events.onset_strengths > 0)
    assert events.tempo_bpm == pytest.approx(120, rel=0.03)
    kicks = np.arange(0.25, 8.0, 0.5)
    assert np.median([np.min(np.abs(kicks - b)) for b in events.beats]) < 0.03
