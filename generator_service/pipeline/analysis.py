"""Summary of a feature track for people and prompts: coverage, motion energy, tempo, expression.

`analyze_track` returns JSON-able nested dicts (used by `analyze`, `POST /v1/analyze`, and the
zero-shot prompt suffix), with the prompt schedule's `segments` (see `schedule`). Tempo comes from motion periodicity: the summed, zero-padded periodogram of
the *signed* velocity signals (body centre and landmarks; a speed magnitude would double the
frequency), with a harmonic sum and a mild tempo prior against octave errors, and parabolic peak
interpolation for sub-bin precision; the confidence also asks the autocorrelation at that period.
Pure numpy. The words (and their thresholds) come from `descriptors`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from expotion_protocol.features import BLENDSHAPE_NAMES, FEATURE_SPEC, FeatureSpec

from .descriptors import (
    NOT_EXPRESSION,
    energy_word,
    expression_curves,
    mood_word,
    suggest_prompt,
    valence,
)
from .feature_track import FeatureTrack
from .schedule import plan_schedule

#: Tempo search range, beats per minute.
TEMPO_MIN_BPM, TEMPO_MAX_BPM = 40.0, 220.0
#: Least visible time (seconds with a person) for a tempo estimate.
TEMPO_MIN_SECONDS = 3.0
#: Below this confidence the motion is not called periodic (tempo None, confidence 0). Confidence is
#: the geometric mean of the spectral peak's share and the autocorrelation at its period; MediaPipe
#: jitter on a still photo scores <= ~0.25, a clear bob >= 0.8.
TEMPO_MIN_CONFIDENCE = 0.35
#: Centre (BPM) and width (octaves) of the log-normal tempo prior that breaks octave ties.
TEMPO_PRIOR_BPM, TEMPO_PRIOR_OCTAVES = 110.0, 1.5


@dataclass(frozen=True)
class TempoEstimate:
    """A tempo in BPM (None when the motion is not periodic) and a confidence in 0..1."""

    bpm: float | None
    confidence: float


def _velocity_signals(track: FeatureTrack, spec: FeatureSpec) -> np.ndarray:
    """Signed velocities [N, 28] (body centre x, y + 13 landmarks x, y), demeaned over the frames
    with a person, zero elsewhere."""
    index = np.arange(spec.dim)
    columns = np.r_[index[spec.group("pose.body_velocity")], index[spec.group("pose.velocity")]]
    x = track.values[:, columns].astype(np.float64)
    present = track.person_mask
    x[present] -= x[present].mean(axis=0)
    x[~present] = 0.0
    return x


def velocity_periodogram(signals: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Summed power spectrum of signals [N, C] sampled at fps: -> freqs [K] Hz, power [K].

    Hann taper, zero-padded to at least 16384 points (a grid of ~0.04 BPM at 10 fps).
    """
    n = signals.shape[0]
    nfft = max(16384, 1 << int(np.ceil(np.log2(8 * n))))
    spectrum = np.fft.rfft(signals * np.hanning(n)[:, None], n=nfft, axis=0)
    return np.fft.rfftfreq(nfft, 1.0 / fps), (np.abs(spectrum) ** 2).sum(axis=1)


def _harmonic_sum(freqs: np.ndarray, power: np.ndarray, harmonics: int = 3) -> np.ndarray:
    """S(f) = sum_h P(h f) / h: a periodic but non-sinusoidal motion favours its fundamental."""
    total = power.copy()
    for h in range(2, harmonics + 1):
        total += np.interp(h * freqs, freqs, power, right=0.0) / h
    return total


def _parabolic_peak(freqs: np.ndarray, values: np.ndarray, i: int) -> float:
    """Sub-bin peak position from a parabola through log values at i-1, i, i+1."""
    if i <= 0 or i >= len(values) - 1:
        return float(freqs[i])
    a, b, c = np.log(np.maximum(values[i - 1 : i + 2], 1e-30))
    denom = a - 2 * b + c
    shift = 0.5 * (a - c) / denom if denom < 0 else 0.0
    return float(freqs[i] + np.clip(shift, -0.5, 0.5) * (freqs[1] - freqs[0]))


def _peak_share(freqs: np.ndarray, power: np.ndarray, f0: float, band: np.ndarray, duration: float) -> float:
    """Share of the in-band power within one Hann main lobe (+-2 / duration) of f0, rescaled so that
    white noise gives ~0 and a pure sinusoid 1."""
    lobe = 2.0 / duration
    near = band & (np.abs(freqs - f0) <= lobe)
    share = power[near].sum() / max(power[band].sum(), 1e-30)
    baseline = min(2 * lobe / ((TEMPO_MAX_BPM - TEMPO_MIN_BPM) / 60.0), 0.9)
    return float(np.clip((share - baseline) / (1.0 - baseline), 0.0, 1.0))


def autocorrelation_at(signals: np.ndarray, lag: float) -> float:
    """Normalised autocorrelation of signals [N, C] (summed over channels) at a fractional lag in
    frames: ~1 for motion that repeats with that period, ~0 for noise."""
    n = signals.shape[0]

    def at(k: int) -> float:
        if k >= n - 1:
            return 0.0
        return float((signals[: n - k] * signals[k:]).sum() / (n - k))

    zero = at(0)
    if zero <= 0:
        return 0.0
    k = int(np.floor(lag))
    frac = lag - k
    return ((1.0 - frac) * at(k) + frac * at(k + 1)) / zero


def estimate_tempo(track: FeatureTrack, spec: FeatureSpec = FEATURE_SPEC) -> TempoEstimate:
    """Tempo of the performer's motion from the periodicity of the signed velocities.

    The peak of the harmonic-summed periodogram (times a mild prior) within 40-220 BPM gives the
    tempo; the confidence needs both a dominant spectral peak and motion that repeats at its period.
    """
    if track.person_mask.sum() / track.fps < TEMPO_MIN_SECONDS:
        return TempoEstimate(None, 0.0)
    signals = _velocity_signals(track, spec)
    freqs, power = velocity_periodogram(signals, track.fps)
    bpm = 60.0 * freqs
    band = (bpm >= TEMPO_MIN_BPM) & (bpm <= TEMPO_MAX_BPM)
    if not band.any() or power[band].sum() <= 0:
        return TempoEstimate(None, 0.0)
    prior = np.exp(-0.5 * (np.log2(np.maximum(bpm, 1e-9) / TEMPO_PRIOR_BPM) / TEMPO_PRIOR_OCTAVES) ** 2)
    score = np.where(band, _harmonic_sum(freqs, power) * prior, 0.0)
    f0 = _parabolic_peak(freqs, score, int(np.argmax(score)))
    share = _peak_share(freqs, power, f0, band, len(track) / track.fps)
    repeat = max(autocorrelation_at(signals, track.fps / f0), 0.0)
    confidence = float(np.sqrt(share * repeat))
    if confidence < TEMPO_MIN_CONFIDENCE:
        return TempoEstimate(None, 0.0)
    return TempoEstimate(60.0 * f0, confidence)


def _motion(track: FeatureTrack, spec: FeatureSpec) -> dict[str, Any]:
    energy = track.values[:, spec.index("pose.energy")].astype(np.float64)
    present = track.person_mask
    mean = float(energy[present].mean()) if present.any() else 0.0
    tempo = estimate_tempo(track, spec)
    return {
        "energy_curve": [round(float(e), 4) for e in energy],
        "energy_mean": round(mean, 4),
        "energy_level": energy_word(mean) if present.any() else None,
        "tempo_bpm": None if tempo.bpm is None else round(tempo.bpm, 1),
        "tempo_confidence": round(tempo.confidence, 3),
    }


def _expression(track: FeatureTrack, spec: FeatureSpec) -> dict[str, Any] | None:
    """Mean blendshapes over the frames with a face: the top ones, smile/frown, valence, intensity."""
    if not track.face_mask.any():
        return None
    face = track.face_mask
    scores = track.values[face][:, spec.group("face.blendshapes")].astype(np.float64)  # [M, 52]
    mean = dict(zip(BLENDSHAPE_NAMES, scores.mean(axis=0), strict=True))
    top = sorted(((n, v) for n, v in mean.items() if not n.startswith(NOT_EXPRESSION)), key=lambda kv: -kv[1])
    curves = expression_curves(track, spec)
    smile, frown, brow_down = (float(c[face].mean()) for c in (curves.smile, curves.frown, curves.brow_down))
    return {
        "top_blendshapes": [{"name": n, "mean": round(float(v), 3)} for n, v in top[:5]],
        "smile": round(smile, 3),
        "frown": round(frown, 3),
        "valence": round(valence(smile, frown, brow_down), 3),
        "intensity": round(float(curves.intensity[face].mean()), 3),
    }


def _mood(expression: dict[str, Any] | None) -> str | None:
    return None if expression is None else mood_word(expression["valence"], expression["intensity"])


def analyze_track(track: FeatureTrack, spec: FeatureSpec = FEATURE_SPEC) -> dict[str, Any]:
    """JSON-able summary: duration_s, face/person coverage, motion (energy curve at the feature rate,
    tempo), expression, visual_condition ("present" | "null"), suggested_prompt, and `segments`: the
    prompt schedule `[{start, end, mood, energy, prompt, cause}]`, seconds from the track's start."""
    n = len(track)
    motion = _motion(track, spec)
    expression = _expression(track, spec)
    mood = _mood(expression)
    visible = bool(track.face_mask.any() or track.person_mask.any())
    return {
        "duration_s": round(n / track.fps, 3),
        "feature_fps": float(track.fps),
        "frames": n,
        "face": {"coverage": round(float(track.face_mask.mean()), 4) if n else 0.0},
        "person": {"coverage": round(float(track.person_mask.mean()), 4) if n else 0.0},
        "motion": motion,
        "expression": None if expression is None else {**expression, "mood": mood},
        "visual_condition": "present" if visible else "null",
        "suggested_prompt": suggest_prompt(mood, motion["energy_level"], motion["tempo_bpm"]),
        "segments": [seg.to_dict() for seg in plan_schedule(track, tempo_bpm=motion["tempo_bpm"], spec=spec)],
    }
