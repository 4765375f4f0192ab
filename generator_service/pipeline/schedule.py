"""The prompt schedule: where along a clip (or a timeline range) the music's mood and energy should
change, and each segment's words, so a long piece can be generated window by window with a prompt
per window.

Boundaries, in order of priority:
1. cuts (hits of kind "cut"), unless within `min_cut_gap_s` of a boundary already placed;
2. the strongest changes of what the performer shows: a novelty curve compares the mean of each
   descriptor (motion energy, expression valence and intensity, and whether a person is seen) over
   `context_s` after each frame with the `context_s` before it, in units of one word step
   (`ScheduleConfig.steps`); its peaks of at least `min_change` become boundaries, strongest first,
   no closer than `min_segment_s` to another boundary;
3. segments longer than `window_s` (the generation window) are split at their strongest interior
   change (the middle when there is none), each part at least `min(min_segment_s, window_s / 2)`.
Each segment's words are `descriptors.describe_span` over its frames; its prompt adds the clip's
tempo. Times are seconds from the track's first frame. Pure numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from expotion_protocol.features import FEATURE_SPEC, FeatureSpec

from ..errors import ConfigError
from .descriptors import ExpressionCurves, describe_span, energy_curve, expression_curves, suggest_prompt
from .feature_track import FeatureTrack
from .hits import Hit


@dataclass(frozen=True)
class ScheduleConfig:
    """Where boundaries may go."""

    #: No change-boundary closer than this to another boundary, seconds.
    min_segment_s: float = 4.0
    #: A cut closer than this to a boundary already placed is not another boundary, seconds.
    min_cut_gap_s: float = 2.0
    #: Seconds compared on either side of a candidate boundary.
    context_s: float = 2.0
    #: Least change (in word steps) that makes a boundary.
    min_change: float = 1.0
    #: One word step of each descriptor: motion energy (shoulder widths / s; the energy words are
    #: ~0.5 apart), valence and intensity (the mood thresholds), share of frames with a person.
    steps: tuple[float, float, float, float] = (0.5, 0.3, 0.2, 0.5)

    def __post_init__(self) -> None:
        if not (self.min_segment_s > 0 and self.min_cut_gap_s > 0 and self.context_s > 0):
            raise ConfigError("min_segment_s, min_cut_gap_s and context_s must be positive")
        if self.min_change <= 0 or any(s <= 0 for s in self.steps):
            raise ConfigError("min_change and every step must be positive")


@dataclass(frozen=True)
class Segment:
    """One window of the schedule: [start, end) seconds, its words, its prompt suffix, and why it
    starts where it does: "start", "cut", "change" or "window"."""

    start: float
    end: float
    mood: str | None
    energy: str | None
    prompt: str
    cause: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "mood": self.mood,
            "energy": self.energy,
            "prompt": self.prompt,
            "cause": self.cause,
        }


def _window_means(x: np.ndarray, mask: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Mean of x over the masked frames of [lo[i], hi[i]) for every i (NaN where none)."""
    sums = np.r_[0.0, np.cumsum(np.where(mask, x, 0.0))]
    counts = np.r_[0, np.cumsum(mask)]
    n = counts[hi] - counts[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (sums[hi] - sums[lo]) / np.maximum(n, 1), np.nan)


def novelty(
    track: FeatureTrack,
    config: ScheduleConfig = ScheduleConfig(),
    spec: FeatureSpec = FEATURE_SPEC,
    curves: ExpressionCurves | None = None,
) -> np.ndarray:
    """Change at each frame boundary i (between frame i-1 and i) in word steps [N]: the largest
    |mean after - mean before| / step over the descriptors (module docstring); 0 at frame 0."""
    n = len(track)
    k = max(1, int(round(config.context_s * track.fps)))
    c = curves or expression_curves(track, spec)
    series = (
        (energy_curve(track, spec), track.person_mask, config.steps[0]),
        (c.smile - c.frown - 0.5 * c.brow_down, track.face_mask, config.steps[1]),
        (c.intensity, track.face_mask, config.steps[2]),
        (track.person_mask.astype(np.float64), np.ones(n, bool), config.steps[3]),
    )
    i = np.arange(n)
    lo, hi = np.maximum(0, i - k), np.minimum(n, i + k)
    out = np.zeros(n)
    for x, mask, step in series:
        diff = np.abs(_window_means(x, mask, i, hi) - _window_means(x, mask, lo, i)) / step
        out = np.fmax(out, np.nan_to_num(diff, nan=0.0))
    out[0] = 0.0
    return out


def _peaks(curve: np.ndarray) -> np.ndarray:
    """Indices of local maxima (plateaus: their first frame), strongest first."""
    if curve.size < 3:
        return np.zeros(0, dtype=np.int64)
    left = np.r_[-np.inf, curve[:-1]]
    right = np.r_[curve[1:], -np.inf]
    idx = np.nonzero((curve > left) & (curve >= right))[0]
    return idx[np.argsort(-curve[idx], kind="stable")]


def plan_schedule(
    track: FeatureTrack,
    hits: Sequence[Hit] = (),
    window_s: float | None = None,
    *,
    tempo_bpm: float | None = None,
    config: ScheduleConfig = ScheduleConfig(),
    spec: FeatureSpec = FEATURE_SPEC,
) -> list[Segment]:
    """The prompt schedule of `track` (module docstring): segments covering [0, len(track) / fps)
    in order; none for an empty track. `hits` are on the track's clock (only cuts make boundaries);
    `window_s` caps a segment's length (None: no cap); `tempo_bpm` goes into every prompt."""
    n, fps = len(track), track.fps
    if n == 0:
        return []
    if window_s is not None and not (math.isfinite(window_s) and window_s * fps >= 2):
        raise ConfigError(f"window_s: {window_s!r} s is shorter than two feature frames")
    curves = expression_curves(track, spec)
    change = novelty(track, config, spec, curves)
    bounds: dict[int, str] = {0: "start", n: "end"}

    def free(i: int, gap_s: float) -> bool:
        return all(abs(i - b) >= gap_s * fps - 1e-9 for b in bounds)

    for hit in sorted((h for h in hits if h.kind == "cut"), key=lambda h: -h.strength):
        i = int(round(hit.t * fps))
        if 0 < i < n and free(i, config.min_cut_gap_s):
            bounds[i] = "cut"
    for i in _peaks(change):
        if change[i] >= config.min_change and free(int(i), config.min_segment_s):
            bounds[int(i)] = "change"
    if window_s is not None:
        _split_long(
            bounds, change, int(math.floor(window_s * fps)), max(1, int(min(config.min_segment_s, window_s / 2) * fps))
        )
    edges = sorted(bounds)
    segments = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        words = describe_span(track, lo, hi, spec, curves=curves)
        segments.append(
            Segment(
                lo / fps,
                hi / fps,
                words.mood,
                words.energy,
                suggest_prompt(words.mood, words.energy, tempo_bpm),
                bounds[lo],
            )
        )
    return segments


def _split_long(bounds: dict[int, str], change: np.ndarray, longest: int, shortest: int) -> None:
    """Split every span longer than `longest` frames at its strongest change (middle if flat), each
    part at least `shortest` frames, until none is too long."""
    pending = sorted(bounds)
    spans = list(zip(pending[:-1], pending[1:]))
    while spans:
        lo, hi = spans.pop()
        if hi - lo <= longest:
            continue
        a, b = lo + shortest, hi - shortest
        if b < a:
            a = b = (lo + hi) // 2
        inner = change[a : b + 1]
        cut = a + int(np.argmax(inner)) if inner.size and inner.max() > 0 else (lo + hi) // 2
        bounds[cut] = "window"
        spans += [(lo, cut), (cut, hi)]
