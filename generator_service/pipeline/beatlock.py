"""Beat lock: time-warp a piece of music so that its beats land on the performer's motion beats and
its strongest onsets on hit points (cuts, markers), with a bounded local stretch and an exact length.

1. Music events (`rhythm.music_events`, pure numpy) of the part of the music the range can use.
2. A plan (`lock_plan.plan_time_map`): a monotone piecewise-linear map from music time to output
   time, from (0, 0) through anchor pairs (music beat -> motion beat, strong onset -> hit), every
   segment's ratio within [1 - max_stretch, 1 + max_stretch]. Dynamic programming picks the path
   with the most weight on target: an anchored beat counts 1, a motion beat between anchors that a
   music beat lands near counts 1 - distance / `beat_tolerance_s` (so long, even segments win over
   following every jitter), a hit counts `hit_weight` x its strength x the onset's relative
   strength; less total stretch breaks ties. After the last anchor its segment's ratio continues,
   so the music keeps the performer's tempo to the end.
3. Honesty: a beat lock needs `min_motion_beats` steady motion beats (MediaPipe's jitter on a still
   performer makes unsteady ones) and a plan that puts a music beat near at least `min_beat_share`
   of them (an off-tempo piece cannot reach them within the stretch bound). Otherwise only the
   hits are locked; with no hits either, the music comes back untouched (only trimmed or
   zero-padded to length) and `reason` says why.
4. The stretch itself: Rubber Band (`rubberband.stretch_to_map`), then exactly
   round(duration * rate) samples, peaks limited to 1.0.
5. Verify, then keep: the music's beats and onsets are tracked again on the stretched music and
   on the untouched music and scored against the motion beats and hits (`lock_report`). The
   stretch is kept only when it measured better (`lock_report.verdict`); otherwise the untouched
   music comes back, `locked` is False and `reason` gives both scores. `measured` holds them.

Times are seconds on the output's clock; music time 0 is output time 0 (the music starts where the
range starts). Runs in the calling thread.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from . import lock_report
from .hits import Hit
from .lock_plan import (
    BEAT,
    DEFAULT_MAX_STRETCH,
    LockConfig,
    TimeMap,
    beats_on_target,
    check_max_stretch,
    plan_time_map,
)
from .rhythm import MusicEvents, music_events, steadiness, tempo_from_events
from .rubberband import stretch_to_map

__all__ = [
    "DEFAULT_MAX_STRETCH",
    "LockConfig",
    "LockResult",
    "TimeMap",
    "beats_on_target",
    "check_max_stretch",
    "lock_to_performer",
    "plan_time_map",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LockResult:
    """The music after the lock and what the lock did.

    `audio` [S] or [S, C] float32 (the input's layout), exactly `round(duration * rate)` samples.
    Times are seconds on the output clock: `motion_beats` [K] and `hits` inside the range,
    `music_beats_before` [B] the music's own beats, `music_beats_planned` [B] where the map puts
    them. `stretch_range` is (min, max) of the local ratio output/music over the part used ((1, 1)
    when untouched). `measured` is `lock_report.report` of the untouched and the returned music
    (before/after alignment; equal when the music comes back untouched).
    """

    audio: np.ndarray
    sample_rate: int
    locked: bool
    reason: str
    max_stretch: float
    time_map: TimeMap
    motion_beats: np.ndarray
    hits: tuple[Hit, ...]
    music_beats_before: np.ndarray
    music_beats_planned: np.ndarray
    music_tempo_bpm: float | None
    motion_tempo_bpm: float | None
    stretch_range: tuple[float, float]
    notes: tuple[str, ...] = field(default_factory=tuple)
    measured: dict[str, Any] = field(default_factory=dict)

    @property
    def num_samples(self) -> int:
        return int(self.audio.shape[0])

    def metadata(self) -> dict[str, Any]:
        """Everything but the audio, JSON-ready."""
        m = self.time_map
        return {
            "locked": self.locked,
            "reason": self.reason,
            "max_stretch": self.max_stretch,
            "stretch_range": [round(v, 5) for v in self.stretch_range],
            "sample_rate": self.sample_rate,
            "samples": self.num_samples,
            "motion_tempo_bpm": _round(self.motion_tempo_bpm),
            "music_tempo_bpm": _round(self.music_tempo_bpm),
            "motion_beats": _times(self.motion_beats),
            "hits": [h.to_dict() for h in self.hits],
            "music_beats_before": _times(self.music_beats_before),
            "music_beats_planned": _times(self.music_beats_planned),
            "anchors": {
                "music_s": _times(m.anchors[:, 0]),
                "output_s": _times(m.anchors[:, 1]),
                "kind": ["origin"] + ["beat" if k == BEAT else "hit" for k in m.kinds],
            },
            "beat_anchors": m.beat_anchors,
            "hit_anchors": m.hit_anchors,
            "notes": list(self.notes),
            **self.measured,
        }


def _round(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(float(x), digits)


def _times(x: np.ndarray) -> list[float]:
    return [round(float(v), 4) for v in np.asarray(x).reshape(-1)]


def _check_music(music: np.ndarray, rate: int) -> np.ndarray:
    audio = np.asarray(music, dtype=np.float32)
    if audio.ndim not in (1, 2) or audio.shape[0] == 0 or (audio.ndim == 2 and audio.shape[1] == 0):
        raise ConfigError(f"music: expected audio [S] or [S, C] with S > 0, got shape {audio.shape}")
    if not np.all(np.isfinite(audio)):
        raise ConfigError("music: contains NaN or infinite samples")
    if not (isinstance(rate, (int, np.integer)) and rate > 0):
        raise ConfigError(f"rate: must be a positive integer sample rate, got {rate!r}")
    return audio


def _fit(audio: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad axis 0 to exactly `n` samples."""
    if audio.shape[0] >= n:
        return audio[:n]
    return np.pad(audio, [(0, n - audio.shape[0])] + [(0, 0)] * (audio.ndim - 1))


def _needed_tempo_stretch(music_bpm: float | None, motion_bpm: float | None) -> float | None:
    """The least uniform stretch that puts one, two or half a music beat per motion beat."""
    if not music_bpm or not motion_bpm:
        return None
    return min(abs(music_bpm / (motion_bpm * f) - 1.0) for f in (1.0, 2.0, 0.5))


def lock_to_performer(
    music: np.ndarray,
    rate: int,
    motion_beats: np.ndarray | Sequence[float],
    hits: Sequence[Hit] = (),
    max_stretch: float = DEFAULT_MAX_STRETCH,
    *,
    duration_s: float | None = None,
    config: LockConfig = LockConfig(),
) -> LockResult:
    """Lock `music` [S] or [S, C] at `rate` Hz to `motion_beats` [K] and `hits` (output seconds) ->
    exactly round(duration_s * rate) samples (default: the music's own length). See the module
    docstring; pass no motion beats to lock only the hits, no hits to lock only the beats.
    """
    audio = _check_music(music, rate)
    max_stretch = check_max_stretch(max_stretch)
    duration = audio.shape[0] / rate if duration_s is None else float(duration_s)
    if not duration > 0:
        raise ConfigError(f"duration_s: must be positive, got {duration_s}")
    n_out = int(round(duration * rate))
    beats = np.sort(np.asarray(motion_beats, dtype=np.float64).reshape(-1))
    beats = beats[(beats >= 0) & (beats < duration)]
    in_range = tuple(h for h in sorted(hits, key=lambda h: h.t) if 0 <= h.t < duration)
    # 1. the music the range can use (the most it could need at the slowest ratio, plus the margin)
    usable = min(audio.shape[0], int(np.ceil((duration / (1.0 - max_stretch) + config.tail_margin_s) * rate)))
    mono = audio[:usable] if audio.ndim == 1 else audio[:usable].mean(axis=1)
    events = music_events(mono, rate)
    # 2.-3. the plan, and whether it is honest
    time_map, locked, reason = _honest_plan(events, beats, in_range, duration, max_stretch, config)
    notes: list[str] = []
    before_audio = _fit(audio, n_out)
    if audio.shape[0] < n_out:
        notes.append(f"the music is {audio.shape[0] / rate:.2f} s, the range {duration:.2f} s: silence fills the rest")
    hit_times = [h.t for h in in_range]
    before_events, before = lock_report.alignment(before_audio, rate, beats, hit_times)
    out, after, after_events = before_audio, before, before_events
    if locked:
        stretched, stretch_notes = _stretch(audio, rate, time_map, duration, config)
        stretched = _fit(stretched, n_out)
        after_events, after = lock_report.alignment(stretched, rate, beats, hit_times)
        keep, why_not = lock_report.verdict(before, after)
        if keep:
            out = stretched
            notes = [n for n in notes if not n.startswith("the music is ")] + stretch_notes
        else:
            locked, reason = False, f"{why_not} (planned: {reason})"
            logger.info("beat lock not kept: %s", reason)
    if not locked:
        after, after_events = before, before_events
    time_map = time_map if locked else TimeMap.identity()
    return LockResult(
        audio=np.ascontiguousarray(out),
        sample_rate=rate,
        locked=locked,
        reason=reason,
        max_stretch=max_stretch,
        time_map=time_map,
        motion_beats=beats,
        hits=in_range,
        music_beats_before=events.beats[events.beats < duration],
        music_beats_planned=_planned(time_map, events.beats, duration),
        music_tempo_bpm=events.tempo_bpm,
        motion_tempo_bpm=tempo_from_events(beats),
        stretch_range=(1.0, 1.0) if not locked else _used_range(time_map, duration),
        notes=tuple(notes),
        measured=lock_report.report(before, after, after_events.beats),
    )


def _planned(time_map: TimeMap, beats: np.ndarray, duration: float) -> np.ndarray:
    mapped = time_map(beats)
    return mapped[mapped < duration]


def _used_range(time_map: TimeMap, duration: float) -> tuple[float, float]:
    """(min, max) local ratio of the segments that reach into [0, duration)."""
    starts = time_map.anchors[:, 1]
    used = time_map.ratios[starts < duration]
    return float(used.min()), float(used.max())


def _honest_plan(
    events: MusicEvents,
    beats: np.ndarray,
    hits: tuple[Hit, ...],
    duration: float,
    max_stretch: float,
    config: LockConfig,
) -> tuple[TimeMap, bool, str]:
    """(map, locked, reason): the beat + hit plan if honest, else the hit-only plan, else identity."""
    why: list[str] = []
    music_bpm, motion_bpm = events.tempo_bpm, tempo_from_events(beats)
    if events.silent:
        why.append("the music is silent")
    elif beats.size < config.min_motion_beats:
        why.append(
            f"no motion to lock to: {beats.size} motion beat(s) in the range, "
            f"a beat lock needs {config.min_motion_beats}"
        )
    elif steadiness(beats) < config.min_steadiness:
        why.append(
            f"no motion to lock to: the {beats.size} motion beats are not steady (only "
            f"{steadiness(beats):.0%} of their intervals within 0.7-1.3x the median, a beat lock needs "
            f"{config.min_steadiness:.0%})"
        )
    elif events.beats.size < 2:
        why.append("the music has no beats to move")
    else:
        plan = plan_time_map(events, beats, hits, max_stretch, config)
        reach = beats[beats <= events.duration_s * (1.0 + max_stretch)]
        on_beat = beats_on_target(plan(events.beats), reach, config.beat_tolerance_s)
        if on_beat >= config.min_beat_share * reach.size:
            text = f"locked: music beats on {on_beat} of {beats.size} motion beats"
            if hits:
                text += f", onsets on {plan.hit_anchors} of {len(hits)} hits"
            return plan, True, text
        need = _needed_tempo_stretch(music_bpm, motion_bpm)
        if need is not None and need > max_stretch:
            why.append(
                f"tempo too far: the music's {music_bpm:.1f} BPM against the motion's {motion_bpm:.1f} BPM "
                f"needs a {need:.1%} stretch, the limit is {max_stretch:.0%}"
            )
        else:
            why.append(
                f"the music's beats reach only {on_beat} of {reach.size} motion beats within "
                f"+-{max_stretch:.0%} (a lock needs {config.min_beat_share:.0%})"
            )
    if hits and not events.silent:
        plan = plan_time_map(events, np.zeros(0), hits, max_stretch, config)
        if plan.hit_anchors:
            return plan, True, f"locked onsets on {plan.hit_anchors} of {len(hits)} hits; beats not locked: {why[0]}"
        why.append("no strong onset can reach a hit within the stretch limit")
    return TimeMap.identity(), False, "; ".join(why)


def _stretch(
    audio: np.ndarray, rate: int, time_map: TimeMap, duration: float, config: LockConfig
) -> tuple[np.ndarray, list[str]]:
    """Rubber Band over the music the map needs -> (audio, notes); peaks limited to 1.0."""
    want_out = duration + config.tail_margin_s
    need_src = time_map.source_time(want_out)
    notes: list[str] = []
    have_src = audio.shape[0] / rate
    if need_src > have_src:
        need_src = have_src
        ends_at = float(time_map(np.array([have_src]))[0])
        if ends_at < duration:
            notes.append(f"the music ends at {ends_at:.2f} s of the {duration:.2f} s range: silence fills the rest")
    src_end = int(round(need_src * rate))
    keys = time_map.anchors[time_map.anchors[:, 0] * rate < src_end - rate * config.min_gap_s]
    pairs = [(int(round(s * rate)), int(round(t * rate))) for s, t in keys]
    pairs.append((src_end, int(round(float(time_map(np.array([need_src]))[0]) * rate))))
    out = stretch_to_map(audio[:src_end], rate, _strictly_increasing(pairs), engine=config.engine)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak > 1.0:
        out = (out / peak).astype(np.float32)
        notes.append(f"the stretch peaked at {peak:.3f}: scaled by {20 * np.log10(1 / peak):.2f} dB to stay within 1.0")
    return out, notes


def _strictly_increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Drop key frames that rounding made equal to their predecessor on either clock."""
    kept = [pairs[0]]
    for s, t in pairs[1:]:
        if s > kept[-1][0] and t > kept[-1][1]:
            kept.append((s, t))
    return kept
