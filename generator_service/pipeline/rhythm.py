"""What a beat is, in the motion and in the music: the one definition the lock, the schedule and the
evaluation share (pure: numpy and scipy, imported inside the functions).

Motion beats (what in the motion corresponds to a musical beat), from curves at a feature rate `fps`
(sample i at time i / fps): `motion_energy [N]` (mean landmark speed) and `body_velocity [N, 2]`
(body-centre velocity x, y; image convention, +y = downward):
- A performer who moves to music bobs or nods once per beat and *lands* on the beat: the beat is the
  bottom of the bob, where the downward movement stops and turns upward. With `body_velocity` given
  (and moving vertically), a motion beat is a **down-to-up zero crossing of the vertical body
  velocity**, located to sub-frame precision by linear interpolation; a crossing counts only after
  the downward speed exceeded `min_excursion` x the 95th-percentile vertical speed (hysteresis
  against jitter). A bob at f Hz gives f motion beats per second: at 2 Hz, 120 motion BPM.
- With only `motion_energy` (an unsigned speed), top and bottom of a bob look the same: the
  events are **local minima of motion energy** (pauses / reversals; the "kinematic beats" of
  AIST++), with prominence >= `min_excursion` x the curve's 5-95 % range. A bob at f Hz then gives
  2f events per second, so these are beats *and* off-beats; the source is recorded
  (`MotionAnalysis.source`) and tempo comparison names the octave relation instead of hiding it
  (each reversal may be a beat, as in arm strokes, or a half beat, as in a bob seen by speed only).

Music events of audio [S] (mono) at any rate: onset strength (hop 512: 16 ms at 32 kHz), onsets
and beats (`beat_tracking`: librosa's algorithms in numpy, librosa the parity reference). Audio
whose every frame is below -60 dBFS RMS is silent: no events, no tempo.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from expotion_protocol.features import FEATURE_SPEC, FeatureSpec

from ..errors import ConfigError
from .feature_track import FeatureTrack

logger = logging.getLogger(__name__)

#: Analysis hop in samples (16 ms at 32 kHz).
HOP_LENGTH = 512
#: Frame length of the RMS loudness.
N_FFT = 2048
#: RMS floor in dBFS; frames below `SILENCE_DB` count as silent.
DB_FLOOR = -80.0
SILENCE_DB = -60.0
_EPS = 1e-9


# ---------------------------------------------------------------------------------------------
# input checks


def as_curve(x: np.ndarray, name: str) -> np.ndarray:
    """A finite 1-D float64 copy of `x`, or ConfigError naming `name`."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ConfigError(f"{name}: expected shape [N], got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{name}: contains NaN or infinite values")
    return arr


def check_positive(value: float, name: str) -> float:
    """`value` as a float, or ConfigError naming `name` unless it is positive and finite."""
    if not (value > 0 and np.isfinite(value)):
        raise ConfigError(f"{name}: must be a positive number, got {value}")
    return float(value)


def _velocity(body_velocity: np.ndarray, n: int) -> np.ndarray:
    arr = np.asarray(body_velocity, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] != n:
        raise ConfigError(f"body_velocity: expected shape [{n}, 2], got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError("body_velocity: contains NaN or infinite values")
    return arr


# ---------------------------------------------------------------------------------------------
# motion


@dataclass(frozen=True)
class MotionAnalysis:
    """Motion beats of one clip.

    `times` [K] seconds; `source` is "vertical_velocity" (one event per bob), "energy_minima"
    (every pause/reversal) or "still" (no movement above `min_speed`: no events); `tempo_bpm` is the event rate as BPM (None with fewer than 4 events);
    `duration_s` = N / fps.
    """

    times: np.ndarray
    source: str
    tempo_bpm: float | None
    duration_s: float
    fps: float
    min_excursion: float


def _bottom_reversals(v_down: np.ndarray, fps: float, min_excursion: float) -> np.ndarray:
    """Down-to-up zero crossings of `v_down` [N] (+ = downward), seconds, with hysteresis."""
    amp = float(np.percentile(np.abs(v_down), 95))
    if amp <= _EPS:
        return np.zeros(0)
    threshold = min_excursion * amp
    times: list[float] = []
    armed = bool(v_down[0] > threshold)
    for i in range(1, v_down.size):
        if v_down[i] > threshold:
            armed = True
        elif armed and v_down[i - 1] > 0 >= v_down[i]:
            frac = v_down[i - 1] / (v_down[i - 1] - v_down[i])
            times.append((i - 1 + frac) / fps)
            armed = False
    return np.asarray(times)


def _energy_minima(energy: np.ndarray, fps: float, min_excursion: float) -> np.ndarray:
    """Prominent local minima of `energy` [N], seconds, refined by parabolic interpolation."""
    from scipy.signal import find_peaks

    spread = float(np.percentile(energy, 95) - np.percentile(energy, 5))
    if spread <= _EPS:
        return np.zeros(0)
    idx, _ = find_peaks(-energy, prominence=min_excursion * spread)
    idx = idx[(idx > 0) & (idx < energy.size - 1)]
    left, mid, right = energy[idx - 1], energy[idx], energy[idx + 1]
    denom = left - 2 * mid + right
    safe = np.where(np.abs(denom) > _EPS, denom, 1.0)
    shift = np.where(np.abs(denom) > _EPS, 0.5 * (left - right) / safe, 0.0)
    return (idx + np.clip(shift, -0.5, 0.5)) / fps


def _regular_intervals(times: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(inter-event intervals [K-1], mask of those within 0.7-1.3 x their median), or None."""
    ioi = np.diff(np.asarray(times, dtype=np.float64))
    med = float(np.median(ioi)) if ioi.size else 0.0
    if med <= _EPS:
        return None
    return ioi, (ioi >= 0.7 * med) & (ioi <= 1.3 * med)


def tempo_from_events(times: np.ndarray, min_events: int = 4) -> float | None:
    """Event rate in BPM: 60 / mean of the inter-event intervals within 0.7-1.3 x their median.

    `times` [K] seconds, sorted. None with fewer than `min_events` events.
    """
    found = _regular_intervals(times) if np.asarray(times).size >= min_events else None
    if found is None:
        return None
    ioi, regular = found
    return 60.0 / float(np.mean(ioi[regular]))


def steadiness(times: np.ndarray, min_events: int = 4) -> float:
    """Share of the inter-event intervals within 0.7-1.3 x their median (the ones the tempo uses):
    ~1 for a steady bob (a missed beat costs two intervals), ~0.5 for MediaPipe jitter of a still
    performer. 0 with fewer than `min_events` events."""
    found = _regular_intervals(times) if np.asarray(times).size >= min_events else None
    return 0.0 if found is None else float(np.mean(found[1]))


def _typical_speed(curve: np.ndarray) -> float:
    """Median |curve| over its nonzero samples (features are exactly 0 where nobody is seen)."""
    moving = np.abs(curve[curve != 0])
    return float(np.median(moving)) if moving.size else 0.0


def analyze_motion(
    motion_energy: np.ndarray,
    fps: float,
    body_velocity: np.ndarray | None = None,
    *,
    min_excursion: float = 0.3,
    y_down: bool = True,
    min_speed: float = 0.0,
) -> MotionAnalysis:
    """Motion beats of a clip (definition in the module docstring).

    `motion_energy` [N], `body_velocity` [N, 2] or None, `fps` the feature rate. `y_down` says that
    +y of `body_velocity` points down (MediaPipe image coordinates). The vertical velocity is used
    when given and not flat; otherwise the energy minima. `min_speed` (curve units per second, 0 =
    off): a curve whose median absolute value (over the frames where it is not exactly 0, i.e. with
    a person) stays below it is landmark jitter, not movement; with both curves below it the clip is
    "still" and has no motion beats.
    """
    fps = check_positive(fps, "fps")
    energy = as_curve(motion_energy, "motion_energy")
    if not 0 < min_excursion < 1:
        raise ConfigError(f"min_excursion: {min_excursion} is outside (0, 1)")
    if not (min_speed >= 0 and np.isfinite(min_speed)):
        raise ConfigError(f"min_speed: must be >= 0, got {min_speed}")
    duration = energy.size / fps
    if body_velocity is not None:
        vel = _velocity(body_velocity, energy.size)
        v_down = vel[:, 1] if y_down else -vel[:, 1]
        moving = _typical_speed(v_down) >= min_speed
        times = _bottom_reversals(v_down, fps, min_excursion) if moving else np.zeros(0)
        if times.size:
            return MotionAnalysis(times, "vertical_velocity", tempo_from_events(times), duration, fps, min_excursion)
        logger.debug("vertical velocity is flat; falling back to motion-energy minima")
    if min_speed > 0 and _typical_speed(energy) < min_speed:
        return MotionAnalysis(np.zeros(0), "still", None, duration, fps, min_excursion)
    times = _energy_minima(energy, fps, min_excursion)
    return MotionAnalysis(times, "energy_minima", tempo_from_events(times), duration, fps, min_excursion)


#: Median speed (shoulder widths per second) below which a feature curve is MediaPipe's jitter, not
#: movement. Measured on the astronaut demo clip at 640x360, 10 fps: a still performer has a median
#: vertical body speed of 0.10 and a median motion energy of 0.21; bobbing at 2 Hz by 4 % of the
#: frame height, 0.57 and 0.64. (A sinusoidal bob of f Hz has a median speed of 4.4 f x its
#: amplitude: at 1 Hz it clears the floor from 0.14 shoulder widths peak to peak.)
STILL_SPEED = 0.3


def motion_beats_of_track(
    track: FeatureTrack, *, min_excursion: float = 0.3, min_speed: float = STILL_SPEED, spec: FeatureSpec = FEATURE_SPEC
) -> MotionAnalysis:
    """Motion beats of a feature track (its pose energy and body-centre velocity, image convention,
    in shoulder widths per second); a still performer (`min_speed`) has none.

    Times are seconds from the track's first sample (the start of the analysed range).
    """
    values = track.values
    body = values[:, [spec.index("pose.body_vel.x"), spec.index("pose.body_vel.y")]]
    return analyze_motion(
        values[:, spec.index("pose.energy")], track.fps, body, min_excursion=min_excursion, min_speed=min_speed
    )


# ---------------------------------------------------------------------------------------------
# music


@dataclass(frozen=True)
class MusicEvents:
    """Beats and onsets of one audio signal.

    `beats` [B], `onsets` [O] seconds; `onset_strengths` [O] the onset envelope at each onset;
    `tempo_bpm` from the beat intervals (the tempo estimate of `beat_tracking` with fewer than 4 beats; None when
    silent); `onset_envelope` and `rms_db` [F] at `frame_rate` = sr / hop frames per second.
    """

    beats: np.ndarray
    onsets: np.ndarray
    onset_strengths: np.ndarray
    tempo_bpm: float | None
    onset_envelope: np.ndarray
    rms_db: np.ndarray
    frame_rate: float
    duration_s: float
    silent: bool


def rms_db(audio: np.ndarray) -> np.ndarray:
    """RMS loudness [F] in dBFS (floored at `DB_FLOOR`) of mono audio [S], hop `HOP_LENGTH`."""
    from .beat_tracking import rms

    return np.maximum(20.0 * np.log10(np.maximum(rms(audio, N_FFT, HOP_LENGTH), _EPS)), DB_FLOOR)


def music_events(audio: np.ndarray, sr: int) -> MusicEvents:
    """Beats, onsets (with strengths) and tempo of `audio` [S] (mono) at `sr` Hz."""
    from . import beat_tracking as bt

    y = as_curve(audio, "audio").astype(np.float32)
    sr = int(check_positive(sr, "sr"))
    frame_rate = sr / HOP_LENGTH
    loudness = rms_db(y)
    empty = np.zeros(0)
    if not (loudness > SILENCE_DB).any():
        zeros = np.zeros(loudness.size)
        return MusicEvents(empty, empty, empty, None, zeros, loudness, frame_rate, y.size / sr, True)
    env = bt.onset_strength(y, sr, HOP_LENGTH)[: loudness.size]
    frames = bt.onset_detect(env, sr, HOP_LENGTH)
    tracked = bt.beat_track(env, sr, HOP_LENGTH)
    beats = tracked.frames * HOP_LENGTH / sr
    tempo = tempo_from_events(beats)
    if tempo is None:
        tempo = tracked.tempo_bpm if tracked.tempo_bpm > 0 else None
    onsets = frames * HOP_LENGTH / sr
    return MusicEvents(
        np.asarray(beats, dtype=np.float64),
        np.asarray(onsets, dtype=np.float64),
        env[frames].astype(np.float64),
        tempo,
        env.astype(np.float64),
        loudness,
        frame_rate,
        y.size / sr,
        False,
    )
