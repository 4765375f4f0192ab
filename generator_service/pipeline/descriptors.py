"""What a feature track shows, frame by frame and in words: motion energy, expression valence and
intensity, and the mood/energy words and prompt suffix made from them.

One definition for the whole-clip summary (`analysis`) and the prompt schedule (`schedule`): a
segment's words are the clip's words computed over the segment's frames. Thresholds for words are
heuristics, named below. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from expotion_protocol.features import BLENDSHAPE_NAMES, FEATURE_SPEC, FeatureSpec

from .feature_track import FeatureTrack

#: Motion energy (shoulder widths / s) upper bounds of the words; above the last: "energetic".
ENERGY_WORDS: tuple[tuple[float, str], ...] = ((0.5, "calm"), (1.0, "gentle"), (1.8, "lively"))
#: Valence at or above which the mood is "upbeat", at or below which "melancholic".
UPBEAT_VALENCE, MELANCHOLIC_VALENCE = 0.35, -0.15
#: Expression intensity from which a neutral-valence face reads "dramatic".
DRAMATIC_INTENSITY = 0.45
#: Blendshapes that describe gaze or blinking rather than expression.
NOT_EXPRESSION = ("_neutral", "eyeLook", "eyeBlink")
_EXPRESSIVE = np.array([i for i, n in enumerate(BLENDSHAPE_NAMES) if not n.startswith(NOT_EXPRESSION)])


def _pair(name: str) -> np.ndarray:
    return np.array([BLENDSHAPE_NAMES.index(f"{name}Left"), BLENDSHAPE_NAMES.index(f"{name}Right")])


_SMILE, _FROWN, _BROW_DOWN = _pair("mouthSmile"), _pair("mouthFrown"), _pair("browDown")


@dataclass(frozen=True)
class ExpressionCurves:
    """Per frame [N] (meaningful where `track.face_mask`): `smile`, `frown`, `brow_down` (means of
    the left/right blendshapes), `intensity` (mean of the three strongest expressive blendshapes).
    Valence over frames is `valence(...)` of their means (linear, so segment = mean of frames)."""

    smile: np.ndarray
    frown: np.ndarray
    brow_down: np.ndarray
    intensity: np.ndarray


def expression_curves(track: FeatureTrack, spec: FeatureSpec = FEATURE_SPEC) -> ExpressionCurves:
    """The expression descriptors of every frame of `track`."""
    scores = track.values[:, spec.group("face.blendshapes")].astype(np.float64)  # [N, 52]
    top3 = np.sort(scores[:, _EXPRESSIVE], axis=1)[:, -3:].mean(axis=1) if len(track) else np.zeros(0)
    return ExpressionCurves(
        scores[:, _SMILE].mean(axis=1), scores[:, _FROWN].mean(axis=1), scores[:, _BROW_DOWN].mean(axis=1), top3
    )


def valence(smile: float, frown: float, brow_down: float) -> float:
    """-1..1: smiling is positive, frowning and lowered brows negative."""
    return float(np.clip(smile - frown - 0.5 * brow_down, -1.0, 1.0))


def energy_curve(track: FeatureTrack, spec: FeatureSpec = FEATURE_SPEC) -> np.ndarray:
    """Motion energy [N] (mean landmark speed, shoulder widths / s; 0 without a person)."""
    return track.values[:, spec.index("pose.energy")].astype(np.float64)


def energy_word(energy: float) -> str:
    """ "calm", "gentle", "lively" or "energetic" for a mean motion energy."""
    for bound, word in ENERGY_WORDS:
        if energy < bound:
            return word
    return "energetic"


def mood_word(valence_value: float, intensity: float) -> str | None:
    """ "upbeat", "melancholic", "dramatic" or None (a neutral, calm face)."""
    if valence_value >= UPBEAT_VALENCE:
        return "upbeat"
    if valence_value <= MELANCHOLIC_VALENCE:
        return "melancholic"
    return "dramatic" if intensity >= DRAMATIC_INTENSITY else None


def suggest_prompt(mood: str | None, energy_level: str | None, tempo_bpm: float | None) -> str:
    """A short prompt suffix, e.g. "upbeat, energetic, 120 BPM" ("" when nothing is visible)."""
    words = [w for w in (mood, energy_level) if w]
    if tempo_bpm is not None:
        words.append(f"{round(tempo_bpm)} BPM")
    return ", ".join(words)


@dataclass(frozen=True)
class SpanWords:
    """The words of a span of frames: `mood` (None without a face or with a neutral one), `energy`
    (None without a person), and the numbers they come from (None where undefined)."""

    mood: str | None
    energy: str | None
    energy_mean: float | None
    valence: float | None
    intensity: float | None


def describe_span(
    track: FeatureTrack, lo: int, hi: int, spec: FeatureSpec = FEATURE_SPEC, *, curves: ExpressionCurves | None = None
) -> SpanWords:
    """Words for frames [lo, hi) of `track` (`curves`: precomputed `expression_curves`)."""
    person, face = track.person_mask[lo:hi], track.face_mask[lo:hi]
    energy_mean = float(energy_curve(track, spec)[lo:hi][person].mean()) if person.any() else None
    if not face.any():
        return SpanWords(None, None if energy_mean is None else energy_word(energy_mean), energy_mean, None, None)
    c = curves or expression_curves(track, spec)
    v = valence(*(float(x[lo:hi][face].mean()) for x in (c.smile, c.frown, c.brow_down)))
    intensity = float(c.intensity[lo:hi][face].mean())
    return SpanWords(
        mood_word(v, intensity), None if energy_mean is None else energy_word(energy_mean), energy_mean, v, intensity
    )
