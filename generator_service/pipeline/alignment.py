"""From a feature track at `feature_fps` to the condition sequence at the codec frame rate.

Three steps, each per stream (face and pose separately, each with its own mask):

1. `fill_gaps`: gaps whose valid neighbours are at most `max_gap_s` apart are linearly interpolated;
   longer gaps, and gaps before the first / after the last valid frame, stay zero with mask 0.
2. `smooth`: a centred Hann window over the valid frames of each run (FWHM `smoothing_s`, support
   +-`smoothing_s`), normalised over the frames it covers, so it never reaches across a long gap.
3. `resample`: condition frame s is the state at time start + s / frame_rate, linearly interpolated
   between the two track frames around it (DESIGN §4: the research code interpolated 5 fps x10 to
   50 Hz); next to an invalid frame the nearer frame decides; past the track's ends the edge frame is
   held for one feature period.

Pure numpy, no mediapipe. Times are the true frame times of the track (seconds, source timeline).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from expotion_protocol.features import FEATURE_SPEC, FeatureSpec

from ..config import CODEC_FRAME_RATE, FeatureConfig
from ..errors import ConfigError
from .feature_track import FeatureTrack


@dataclass
class Condition:
    """The visual condition of one clip at the codec frame rate.

    values [T, F] float32 (zero where masked); mask [T] float32 (1 where the face or the person
    stream is valid); face_mask [T] and person_mask [T] float32 per stream; frame_rate in Hz.
    """

    values: np.ndarray
    mask: np.ndarray
    face_mask: np.ndarray
    person_mask: np.ndarray
    frame_rate: float

    @property
    def num_frames(self) -> int:
        return int(self.values.shape[0])

    @property
    def is_null(self) -> bool:
        """True when no frame shows a face or a person (the model then gets the null condition)."""
        return not bool(self.mask.any())

    @classmethod
    def null(cls, num_frames: int, dim: int = FEATURE_SPEC.dim, frame_rate: float = CODEC_FRAME_RATE) -> Condition:
        """All zeros with mask 0: [num_frames, dim]."""
        zeros = np.zeros(num_frames, np.float32)
        return cls(np.zeros((num_frames, dim), np.float32), zeros, zeros.copy(), zeros.copy(), float(frame_rate))


def num_condition_frames(duration: float, frame_rate: float) -> int:
    """T = ceil(duration * frame_rate) (with a 1e-9 tolerance against float noise)."""
    if not math.isfinite(duration) or duration < 0:
        raise ConfigError(f"duration: {duration} s must be a finite number >= 0")
    if not math.isfinite(frame_rate) or frame_rate <= 0:
        raise ConfigError(f"frame_rate: {frame_rate} Hz must be > 0")
    return max(0, math.ceil(duration * frame_rate - 1e-9))


def merge_duplicate_times(
    times: np.ndarray, values: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort by time and average frames sharing one time (a source slower than feature_fps).

    times [N], values [N, C], valid [N] -> unique times [M], values [M, C] (mean of the valid ones,
    0 if none), valid [M] (any valid).
    """
    order = np.argsort(times, kind="stable")
    t_unique, inverse = np.unique(np.asarray(times, np.float64)[order], return_inverse=True)
    ok = np.asarray(valid, bool)[order]
    sums = np.zeros((t_unique.size, values.shape[1]))
    np.add.at(sums, inverse[ok], np.asarray(values, np.float64)[order][ok])
    counts = np.bincount(inverse[ok], minlength=t_unique.size)
    merged = sums / np.maximum(counts, 1)[:, None]
    return t_unique, merged, counts > 0


def fill_gaps(
    times: np.ndarray, values: np.ndarray, valid: np.ndarray, max_gap_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate short gaps of one stream: times [N] increasing, values [N, C], valid [N].

    A gap is filled when its valid neighbours are at most `max_gap_s` apart. Returns values [N, C]
    (zero where still invalid) and the new mask [N].
    """
    out = np.where(valid[:, None], values, 0.0)
    filled = np.asarray(valid, bool).copy()
    idx = np.flatnonzero(valid)
    if idx.size < 2:
        return out, filled
    holes = np.flatnonzero(~filled[idx[0] : idx[-1]]) + idx[0]
    if holes.size == 0:
        return out, filled
    after = np.searchsorted(idx, holes)
    prev, nxt = idx[after - 1], idx[after]
    span = times[nxt] - times[prev]
    ok = span <= max_gap_s + 1e-9
    holes, prev, nxt, span = holes[ok], prev[ok], nxt[ok], span[ok]
    w = ((times[holes] - times[prev]) / span)[:, None]
    out[holes] = (1.0 - w) * values[prev] + w * values[nxt]
    filled[holes] = True
    return out, filled


def _hann(dt: np.ndarray, half_width: float) -> np.ndarray:
    """Hann weights of support +-half_width (FWHM = half_width)."""
    return np.where(np.abs(dt) < half_width, 0.5 * (1.0 + np.cos(np.pi * dt / half_width)), 0.0)


def smooth(times: np.ndarray, values: np.ndarray, valid: np.ndarray, smoothing_s: float) -> np.ndarray:
    """Centred Hann smoothing inside each run of valid frames: values [N, C] -> [N, C].

    Weights come from the true time offsets (non-uniform sampling is fine) and are renormalised over
    the valid frames of the same run, so nothing leaks across a gap; invalid frames stay zero.
    """
    out = np.where(valid[:, None], values, 0.0)
    if smoothing_s <= 0 or not valid.any():
        return out
    n = len(times)
    run = np.cumsum(np.r_[True, valid[1:] != valid[:-1]])  # id of each run of equal validity
    reach = max(
        int(np.max(np.searchsorted(times, times + smoothing_s) - np.arange(n))),
        int(np.max(np.arange(n) - np.searchsorted(times, times - smoothing_s))),
    )
    acc = np.zeros_like(out)
    weight = np.zeros(n)
    rows = np.arange(n)
    for k in range(-reach, reach + 1):
        j = np.clip(rows + k, 0, n - 1)
        w = _hann(times[j] - times, smoothing_s) * ((rows + k >= 0) & (rows + k < n) & (run[j] == run) & valid)
        acc += w[:, None] * out[j]
        weight += w
    smoothed = acc / np.maximum(weight, 1e-12)[:, None]
    return np.where(valid[:, None], smoothed, 0.0)


def resample(
    times: np.ndarray, values: np.ndarray, valid: np.ndarray, query: np.ndarray, hold_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Values at the query times [T]: linear between two valid frames, nearest frame otherwise.

    times [N] strictly increasing, values [N, C], valid [N] -> values [T, C], valid [T]. Queries
    before the first / after the last frame take that frame when within `hold_s`.
    """
    n = len(times)
    out = np.zeros((len(query), values.shape[1]))
    ok = np.zeros(len(query), bool)
    if n == 0:
        return out, ok
    pos = np.searchsorted(times, query, side="right") - 1
    left, right = np.clip(pos, 0, n - 1), np.clip(pos + 1, 0, n - 1)
    inside = (pos >= 0) & (pos < n - 1)
    gap = np.where(inside, times[right] - times[left], 1.0)
    w = np.where(inside, (query - times[left]) / gap, 0.0)
    both = inside & valid[left] & valid[right]
    out[both] = (1.0 - w[both, None]) * values[left[both]] + w[both, None] * values[right[both]]
    ok[both] = True
    nearest = np.where(inside, np.where(w < 0.5, left, right), np.where(pos < 0, 0, n - 1))
    near_ok = ~both & valid[nearest] & (inside | (np.abs(query - times[nearest]) <= hold_s + 1e-9))
    out[near_ok] = values[nearest[near_ok]]
    ok[near_ok] = True
    return out, ok


def _check_spec(track: FeatureTrack, spec: FeatureSpec) -> None:
    if (track.spec_name, track.spec_version) != (spec.name, spec.version) or track.values.shape[1] != spec.dim:
        raise ValueError(
            f"track has features {track.spec_name} v{track.spec_version} ({track.values.shape[1]} values), "
            f"expected {spec.name} v{spec.version} ({spec.dim})"
        )


def _stream(
    times: np.ndarray, values: np.ndarray, valid: np.ndarray, config: FeatureConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Gap filling then smoothing of one stream at the feature rate."""
    filled, mask = fill_gaps(times, values, valid, config.max_gap_s)
    return smooth(times, filled, mask, config.smoothing_s), mask


def align_track(track: FeatureTrack, config: FeatureConfig, spec: FeatureSpec = FEATURE_SPEC) -> FeatureTrack:
    """The track after gap filling and smoothing, still at the feature rate: [N, F] -> [M, F].

    Frames sharing one true time are merged (M <= N); each keeps the first of their target times.
    """
    _check_spec(track, spec)
    parts: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    times = np.zeros(0)
    for part, mask in ((spec.face, track.face_mask), (spec.pose, track.person_mask)):
        times, v, ok = merge_duplicate_times(track.times, track.values[:, part], mask)
        v, ok = _stream(times, v, ok, config)
        parts.append(v)
        masks.append(ok)
    order = np.argsort(track.times, kind="stable")
    _, first = np.unique(track.times[order], return_index=True)
    targets = track.target_times[order][first]
    values = np.concatenate(parts, axis=1)
    return FeatureTrack(times, targets, values, masks[0], masks[1], track.fps, track.spec_name, track.spec_version)


def to_condition(
    track: FeatureTrack,
    start: float,
    duration: float,
    frame_rate: float = CODEC_FRAME_RATE,
    *,
    config: FeatureConfig,
    spec: FeatureSpec = FEATURE_SPEC,
) -> Condition:
    """Condition [T, F] for the span [start, start + duration) of the source timeline.

    T = ceil(duration * frame_rate - 1e-9); frame s is the (gap-filled, smoothed) state at
    start + s / frame_rate. A track with no face and no person gives `Condition.null`.
    """
    num = num_condition_frames(duration, frame_rate)
    _check_spec(track, spec)
    if len(track) == 0 or not (track.face_mask.any() or track.person_mask.any()):
        return Condition.null(num, spec.dim, frame_rate)
    query = start + np.arange(num) / frame_rate
    values = np.zeros((num, spec.dim), np.float32)
    stream_masks: list[np.ndarray] = []
    for part, mask in ((spec.face, track.face_mask), (spec.pose, track.person_mask)):
        t, v, ok = merge_duplicate_times(track.times, track.values[:, part], mask)
        v, ok = _stream(t, v, ok, config)
        rv, rok = resample(t, v, ok, query, hold_s=1.0 / track.fps)
        values[:, part] = rv
        stream_masks.append(rok.astype(np.float32))
    face, person = stream_masks
    return Condition(values, np.maximum(face, person), face, person, float(frame_rate))
