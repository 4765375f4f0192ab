"""Metrics of music against the performer's motion and expression (pure: numpy + librosa).

Inputs are plain arrays: audio `[S]` (mono float, 32 kHz by default); curves sampled at a feature
rate `fps` with sample i at time i / fps: `motion_energy [N]` (mean landmark speed),
`body_velocity [N, 2]` (body-centre velocity x, y; image convention, +y = downward),
`expression_intensity [N]`. Each metric returns a frozen dataclass with its numbers and the
tolerance/window it used. Every function is deterministic.

Motion beats and music events are defined once, in `pipeline.rhythm` (the beat lock uses the same
definition), and so is how well events align (`pipeline.event_alignment`, also the lock report's
measure); they are re-exported here. Music events: onset strength (hop 512 at 32 kHz = 16 ms),
onsets and beats as librosa 0.11 tracks them (`pipeline.beat_tracking`, librosa the parity
reference). Audio whose every frame is below -60 dBFS RMS is silent: no events, no tempo.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..pipeline.event_alignment import (  # noqa: F401  (re-exported: the alignment the lock report also uses)
    DEFAULT_HIT_TOLERANCE_S,
    DEFAULT_TOLERANCE_S,
    AlignmentResult,
    HitAlignment,
    beat_alignment,
    hit_alignment,
    match_events,
)
from ..pipeline.rhythm import (  # noqa: F401  (re-exported: the evaluation's motion-beat definition)
    DB_FLOOR,
    HOP_LENGTH,
    N_FFT,
    SILENCE_DB,
    MotionAnalysis,
    analyze_motion,
    as_curve,
    check_positive,
    motion_beats_of_track,
    rms_db,
    tempo_from_events,
)
from ..pipeline.rhythm import music_events as _music_events

logger = logging.getLogger(__name__)

#: MusicGen's output rate; the default sample rate of every audio input.
SAMPLE_RATE = 32_000
#: Default relative tempo tolerance (MIREX: +-4 %).
DEFAULT_TEMPO_TOLERANCE = 0.04
#: Tempo ratios that have a name; "double"/"half" are octave errors, "triple"/"third" metrical ones.
TEMPO_RELATIONS: tuple[tuple[str, float], ...] = (
    ("same", 1.0),
    ("double", 2.0),
    ("half", 0.5),
    ("triple", 3.0),
    ("third", 1.0 / 3.0),
)
_EPS = 1e-9


# ---------------------------------------------------------------------------------------------
# music


@dataclass(frozen=True)
class MusicAnalysis:
    """Events and curves of one audio signal.

    `beats` [B], `onsets` [O] seconds; `tempo_bpm` from the beat intervals (the `beat_tracking`
    estimate with fewer than 4 beats; None when silent); `onset_envelope`, `rms_db`, `centroid_hz`
    [F] at `frame_rate` = sr / hop frames per second (frame j at time j / frame_rate).
    """

    beats: np.ndarray
    onsets: np.ndarray
    tempo_bpm: float | None
    onset_envelope: np.ndarray
    rms_db: np.ndarray
    centroid_hz: np.ndarray
    frame_rate: float
    duration_s: float
    silent: bool


def _centroid(audio: np.ndarray, sr: int, loud: np.ndarray) -> np.ndarray:
    """Spectral centroid [F] in Hz; silent frames take the value interpolated from loud ones."""
    import librosa

    cent = librosa.feature.spectral_centroid(y=audio, sr=sr, n_fft=N_FFT, hop_length=HOP_LENGTH)[0]
    cent = cent[: loud.size]
    if not loud.any():
        return np.zeros_like(cent)
    frames = np.arange(cent.size)
    return np.interp(frames, frames[loud], cent[loud])


def analyze_music(audio: np.ndarray, sr: int = SAMPLE_RATE) -> MusicAnalysis:
    """Beats, onsets, tempo and energy/brightness curves of `audio` [S] (mono)."""
    events = _music_events(audio, sr)
    loud = events.rms_db > SILENCE_DB
    if events.silent:
        centroid = np.zeros(events.rms_db.size)
    else:
        centroid = _centroid(as_curve(audio, "audio").astype(np.float32), int(sr), loud)
    return MusicAnalysis(
        events.beats,
        events.onsets,
        events.tempo_bpm,
        events.onset_envelope,
        events.rms_db,
        centroid,
        events.frame_rate,
        events.duration_s,
        events.silent,
    )


# ---------------------------------------------------------------------------------------------
# tempo


def tempo_relation(bpm: float | None, ref_bpm: float | None, tolerance: float = DEFAULT_TEMPO_TOLERANCE) -> str:
    """Name of the ratio bpm / ref_bpm within +-`tolerance` (relative): "same", "double", "half",
    "triple", "third", else "other"; "undefined" when either tempo is missing."""
    if bpm is None or ref_bpm is None or bpm <= 0 or ref_bpm <= 0:
        return "undefined"
    ratio = bpm / ref_bpm
    for name, factor in TEMPO_RELATIONS:
        if abs(ratio / factor - 1.0) <= tolerance:
            return name
    return "other"


@dataclass(frozen=True)
class TempoResult:
    """Music tempo vs motion tempo vs ground-truth tempo (BPM), with their named relations
    (see `tempo_relation`; each within +-`tolerance`, relative). "double"/"half" are octave errors.
    """

    music_bpm: float | None
    motion_bpm: float | None
    reference_bpm: float | None
    tolerance: float
    music_vs_motion: str
    music_vs_reference: str
    motion_vs_reference: str

    @property
    def matches_motion(self) -> bool:
        return self.music_vs_motion == "same"

    @property
    def matches_motion_any_octave(self) -> bool:
        return self.music_vs_motion in ("same", "double", "half")

    @property
    def octave_error_motion(self) -> bool:
        return self.music_vs_motion in ("double", "half")

    @property
    def octave_error_reference(self) -> bool:
        return self.music_vs_reference in ("double", "half")


def tempo_consistency(
    music_bpm: float | None,
    motion: MotionAnalysis,
    reference_bpm: float | None = None,
    *,
    tolerance: float = DEFAULT_TEMPO_TOLERANCE,
) -> TempoResult:
    """Compare the music tempo with the motion tempo and (when given) the ground-truth tempo."""
    tolerance = check_positive(tolerance, "tolerance")
    beat_bpm = motion.tempo_bpm
    return TempoResult(
        music_bpm=music_bpm,
        motion_bpm=beat_bpm,
        reference_bpm=reference_bpm,
        tolerance=tolerance,
        music_vs_motion=tempo_relation(music_bpm, beat_bpm, tolerance),
        music_vs_reference=tempo_relation(music_bpm, reference_bpm, tolerance),
        motion_vs_reference=tempo_relation(beat_bpm, reference_bpm, tolerance),
    )


# ---------------------------------------------------------------------------------------------
# expression following

#: MediaPipe blendshape indices that are not expression: 0 `_neutral`, 9-10 eye blinks,
#: 11-18 gaze (`eyeLook*`).
NON_EXPRESSIVE_BLENDSHAPES = (0, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)


def expression_intensity(blendshapes: np.ndarray) -> np.ndarray:
    """Facial-expression intensity [N] from MediaPipe's 52 blendshape scores [N, 52]: the mean of
    the expressive scores (all but `_neutral`, blinks and gaze), in 0..1."""
    arr = np.asarray(blendshapes, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 52:
        raise ConfigError(f"blendshapes: expected shape [N, 52], got {arr.shape}")
    keep = np.setdiff1d(np.arange(52), NON_EXPRESSIVE_BLENDSHAPES)
    return arr[:, keep].mean(axis=1)


@dataclass(frozen=True)
class ExpressionResult:
    """Pearson correlation of music loudness (RMS dB) and brightness (spectral centroid) with
    expression intensity, both resampled to the feature rate and smoothed over `smoothing_s`.

    `*_r` at zero lag (the score); `*_best_r` the largest r for music lagging expression by
    0..`max_lag_s` or leading by up to it, at `*_best_lag_s` (+ = music follows). r is 0 when a
    curve is constant (silence, still face); `defined` is False then.
    """

    energy_r: float
    brightness_r: float
    energy_best_r: float
    energy_best_lag_s: float
    brightness_best_r: float
    brightness_best_lag_s: float
    max_lag_s: float
    smoothing_s: float
    n_frames: int
    defined: bool


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r of two equal-length curves; 0.0 when either is (nearly) constant."""
    if x.size < 3:
        return 0.0
    xc, yc = x - x.mean(), y - y.mean()
    if xc.std() <= _EPS * (1.0 + np.abs(x).max()) or yc.std() <= _EPS * (1.0 + np.abs(y).max()):
        return 0.0
    denom = float(np.sqrt(np.sum(xc * xc) * np.sum(yc * yc)))
    return float(np.clip(np.sum(xc * yc) / denom, -1.0, 1.0))


def to_feature_rate(curve: np.ndarray, frame_rate: float, fps: float, n: int) -> np.ndarray:
    """Average a music curve [F] at `frame_rate` into `n` feature frames at `fps` (frame i covers
    i / fps +- 0.5 / fps); frames with no music sample take the nearest value."""
    times = np.arange(curve.size) / frame_rate
    idx = np.floor(times * fps + 0.5).astype(int)
    ok = idx < n
    sums = np.bincount(idx[ok], weights=curve[ok], minlength=n)
    counts = np.bincount(idx[ok], minlength=n)
    have = counts > 0
    if not have.any():
        return np.zeros(n)
    out = np.zeros(n)
    out[have] = sums[have] / counts[have]
    grid = np.arange(n)
    return np.interp(grid, grid[have], out[have])


def smooth(curve: np.ndarray, width: int) -> np.ndarray:
    """Moving average over `width` samples with edge padding; [N] -> [N]."""
    if width <= 1 or curve.size == 0:
        return curve.copy()
    pad = width // 2
    padded = np.pad(curve, (pad, width - 1 - pad), mode="edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def _lagged(expr: np.ndarray, music: np.ndarray, max_lag: int) -> tuple[float, int]:
    """Best Pearson r over lags -max_lag..max_lag (+ = music later) and that lag in frames."""
    best_r, best_lag = pearson(expr, music), 0
    for lag in range(-max_lag, max_lag + 1):
        if lag == 0:
            continue
        e, m = (expr[: expr.size - lag], music[lag:]) if lag > 0 else (expr[-lag:], music[: music.size + lag])
        r = pearson(e, m)
        if r > best_r:
            best_r, best_lag = r, lag
    return best_r, best_lag


def expression_following(
    expression: np.ndarray,
    fps: float,
    music: MusicAnalysis,
    *,
    smoothing_s: float = 1.0,
    max_lag_s: float = 0.5,
) -> ExpressionResult:
    """How music energy/brightness follow `expression` [N] (intensity at `fps`) over time."""
    fps = check_positive(fps, "fps")
    expr = as_curve(expression, "expression_intensity")
    if smoothing_s < 0 or max_lag_s < 0:
        raise ConfigError(f"smoothing_s/max_lag_s must be >= 0, got {smoothing_s}/{max_lag_s}")
    n = min(expr.size, int(round(music.duration_s * fps)))
    width = max(1, int(round(smoothing_s * fps)))
    e = smooth(expr[:n], width)
    loud = smooth(to_feature_rate(music.rms_db, music.frame_rate, fps, n), width)
    bright = smooth(to_feature_rate(music.centroid_hz, music.frame_rate, fps, n), width)
    max_lag = min(int(round(max_lag_s * fps)), max(0, n // 4))
    e_r, e_lag = _lagged(e, loud, max_lag)
    b_r, b_lag = _lagged(e, bright, max_lag)
    return ExpressionResult(
        energy_r=pearson(e, loud),
        brightness_r=pearson(e, bright),
        energy_best_r=e_r,
        energy_best_lag_s=e_lag / fps,
        brightness_best_r=b_r,
        brightness_best_lag_s=b_lag / fps,
        max_lag_s=max_lag_s,
        smoothing_s=smoothing_s,
        n_frames=n,
        defined=bool(n >= 3 and np.ptp(e) > _EPS and not music.silent),
    )


# ---------------------------------------------------------------------------------------------
# distribution distance


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to embeddings a [N, D] and b [M, D] (FAD when the
    rows are audio embeddings): |mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^1/2)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ConfigError(f"embeddings: expected [N, D] and [M, D], got {a.shape} and {b.shape}")
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ConfigError("embeddings: need at least 2 rows on each side for a covariance")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ConfigError("embeddings: contain NaN or infinite values")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    diff = mu_a - mu_b
    value = float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * _trace_sqrt_product(cov_a, cov_b))
    return max(value, 0.0)


def _trace_sqrt_product(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
    """tr((C_a C_b)^1/2) = tr((C_a^1/2 C_b C_a^1/2)^1/2) for PSD [D, D] matrices, via eigh (stable
    for singular covariances, which few clips or low-rank embeddings give)."""
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    inner = root_a @ cov_b @ root_a
    lam = np.linalg.eigvalsh((inner + inner.T) / 2.0)
    return float(np.sum(np.sqrt(np.clip(lam, 0.0, None))))
