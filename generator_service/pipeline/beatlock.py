"""Beat lock: time-warp a piece of music so that its beats land on the performer's motion beats and
its strongest onsets on hit points (cuts, markers), with a bounded local stretch and an exact length.

1. Music events (`rhythm.music_events`, librosa) of the part of the music the range can use.
2. A plan (`plan_time_map`, pure numpy): a monotone piecewise-linear map from music time to output
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
   round(duration * rate) samples.

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
from .hits import Hit
from .rhythm import MusicEvents, music_events, steadiness, tempo_from_events
from .rubberband import Engine, stretch_to_map

logger = logging.getLogger(__name__)

#: Default bound of the local stretch: every segment plays at 92-108 % of its original duration.
DEFAULT_MAX_STRETCH = 0.08
_BEAT, _HIT = 0, 1


@dataclass(frozen=True)
class LockConfig:
    """Tuning of the lock (the user-facing bound, `max_stretch`, is an argument of its own)."""

    #: A beat lock needs at least this many motion beats in the range ...
    min_motion_beats: int = 4
    #: ... that are steady: this share of their intervals within 0.7-1.3 x the median (`steadiness`;
    #: a steady bob ~0.9, MediaPipe jitter of a still performer ~0.5).
    min_steadiness: float = 0.7
    #: ... and a plan that puts a music beat on at least this share of the motion beats it can reach.
    min_beat_share: float = 0.5
    #: A hit counts like this many beats (times its strength and the onset's relative strength).
    hit_weight: float = 6.0
    #: Onsets at least this share of the strongest onset's strength may take a hit.
    strong_onset: float = 0.25
    #: Anchors are at least this far apart on both clocks, seconds.
    min_gap_s: float = 0.05
    #: One step of the plan may pass over at most this many target events (beats and hits).
    max_skip: int = 24
    #: A motion beat between anchors counts (1 - distance / this) when a music beat lands near it.
    beat_tolerance_s: float = 0.08
    #: Tie-break weight of stretch: cost |ln ratio| x seconds per unit of matched weight.
    stretch_cost: float = 1.0
    #: Extra music stretched past the end and trimmed away (no end effects in the kept part), seconds.
    tail_margin_s: float = 0.5
    #: Rubber Band engine: "fast" (R2, crisp transients) or "fine" (R3, smoother, several times slower).
    engine: Engine = "fast"

    def __post_init__(self) -> None:
        if self.min_motion_beats < 2:
            raise ConfigError(f"min_motion_beats: must be >= 2, got {self.min_motion_beats}")
        if not 0 <= self.min_steadiness <= 1:
            raise ConfigError(f"min_steadiness: {self.min_steadiness} is outside [0, 1]")
        if not 0 < self.min_beat_share <= 1:
            raise ConfigError(f"min_beat_share: {self.min_beat_share} is outside (0, 1]")
        if self.hit_weight <= 0 or self.stretch_cost < 0:
            raise ConfigError("hit_weight must be > 0 and stretch_cost >= 0")
        if not 0 < self.strong_onset <= 1:
            raise ConfigError(f"strong_onset: {self.strong_onset} is outside (0, 1]")
        if not 0 < self.min_gap_s < 1 or self.max_skip < 1 or self.tail_margin_s < 0 or self.beat_tolerance_s <= 0:
            raise ConfigError("min_gap_s must lie in (0, 1) s, max_skip >= 1, tail_margin_s >= 0, beat_tolerance_s > 0")
        if self.engine not in ("fast", "fine"):
            raise ConfigError(f"engine: {self.engine!r} is not 'fast' or 'fine'")


def check_max_stretch(max_stretch: float) -> float:
    """The stretch bound as a float, or ConfigError: it must lie in (0, 0.5]."""
    if not (isinstance(max_stretch, (int, float)) and 0 < max_stretch <= 0.5):
        raise ConfigError(
            f"max_stretch: {max_stretch!r} is outside (0, 0.5] (0.08 = +-8 %)",
            hint="Pass a fraction such as 0.08 for a local stretch of at most +-8 %.",
        )
    return float(max_stretch)


# ---------------------------------------------------------------------------------------------
# the plan


@dataclass(frozen=True)
class TimeMap:
    """A monotone piecewise-linear map music time -> output time.

    `anchors` [A, 2] (music s, output s), starting at (0, 0); beyond the last anchor the ratio
    `tail_ratio` continues. `kinds` [A - 1] says what each anchor after the origin pins (0 = a music
    beat on a motion beat, 1 = an onset on a hit).
    """

    anchors: np.ndarray
    kinds: np.ndarray
    tail_ratio: float

    @classmethod
    def identity(cls) -> TimeMap:
        return cls(np.zeros((1, 2)), np.zeros(0, dtype=np.int64), 1.0)

    def __call__(self, music_times: np.ndarray) -> np.ndarray:
        """Output times of music times [N] (seconds)."""
        x = np.asarray(music_times, dtype=np.float64)
        src, dst = self.anchors[:, 0], self.anchors[:, 1]
        inside = np.interp(x, src, dst)
        return np.where(x > src[-1], dst[-1] + (x - src[-1]) * self.tail_ratio, inside)

    def source_time(self, output_s: float) -> float:
        """The music time that lands on output time `output_s`."""
        src, dst = self.anchors[:, 0], self.anchors[:, 1]
        if output_s > dst[-1]:
            return float(src[-1] + (output_s - dst[-1]) / self.tail_ratio)
        return float(np.interp(output_s, dst, src))

    @property
    def ratios(self) -> np.ndarray:
        """Local ratio (output duration / music duration) of every segment, then the tail's."""
        d = np.diff(self.anchors, axis=0)
        return np.r_[d[:, 1] / d[:, 0], self.tail_ratio]

    @property
    def beat_anchors(self) -> int:
        return int(np.sum(self.kinds == _BEAT))

    @property
    def hit_anchors(self) -> int:
        return int(np.sum(self.kinds == _HIT))


@dataclass(frozen=True)
class _Targets:
    """What the plan may pin, both sides sorted by time: targets (output clock) and sources (music)."""

    t: np.ndarray
    t_kind: np.ndarray
    t_weight: np.ndarray
    s: np.ndarray
    s_kind: np.ndarray
    s_weight: np.ndarray


def _targets(events: MusicEvents, motion_beats: np.ndarray, hits: Sequence[Hit], config: LockConfig) -> _Targets:
    t = np.r_[motion_beats, [h.t for h in hits]]
    t_kind = np.r_[np.full(motion_beats.size, _BEAT), np.full(len(hits), _HIT)].astype(np.int64)
    t_weight = np.r_[np.ones(motion_beats.size), [config.hit_weight * max(h.strength, 0.05) for h in hits]]
    strength = events.onset_strengths / max(float(events.onset_strengths.max(initial=0.0)), 1e-9)
    strong = strength >= config.strong_onset
    s = np.r_[events.beats, events.onsets[strong]]
    s_kind = np.r_[np.full(events.beats.size, _BEAT), np.full(int(strong.sum()), _HIT)].astype(np.int64)
    s_weight = np.r_[np.ones(events.beats.size), strength[strong]]
    ot, os_ = np.argsort(t, kind="stable"), np.argsort(s, kind="stable")
    return _Targets(t[ot], t_kind[ot], t_weight[ot], s[os_], s_kind[os_], s_weight[os_])


def plan_time_map(
    events: MusicEvents,
    motion_beats: np.ndarray,
    hits: Sequence[Hit],
    max_stretch: float,
    config: LockConfig = LockConfig(),
) -> TimeMap:
    """The anchor pairs that put the most weight on target within the stretch bound (module docstring).

    `motion_beats` [K] and hit times are on the output clock; `events` are the music's. The
    identity when no plan does better than the untouched music.
    """
    lo, hi = 1.0 - max_stretch, 1.0 + max_stretch
    motion = np.sort(np.asarray(motion_beats, dtype=np.float64))
    tg = _targets(events, motion, hits, config)
    gap = config.min_gap_s
    # candidate pairs: same kind, reachable from the origin within the bound
    ok = (tg.t_kind[:, None] == tg.s_kind[None, :]) & (tg.s[None, :] > gap) & (tg.t[:, None] > gap)
    ok &= (tg.t[:, None] >= lo * tg.s[None, :]) & (tg.t[:, None] <= hi * tg.s[None, :])
    pj, pi = np.nonzero(ok)  # sorted by target index, then source index
    if pj.size == 0:
        return TimeMap.identity()
    pairs = _Pairs(pj, tg.t[pj], tg.s[pi], tg.t_weight[pj] * tg.s_weight[pi])
    near = _NearBeats(motion, events.beats, config.beat_tolerance_s)
    best, back, ratio = _best_paths(pairs, near, lo, hi, config)
    final = best + near.count(pairs.t, pairs.s, ratio, np.inf)  # the tail continues at the last ratio
    p = int(np.argmax(final))
    if final[p] <= near.count(np.zeros(1), np.zeros(1), np.ones(1), np.inf)[0]:
        return TimeMap.identity()  # the untouched music does as well
    path = []
    while p >= 0:
        path.append(p)
        p = int(back[p])
    path.reverse()
    anchors = np.r_[[[0.0, 0.0]], np.c_[pairs.s[path], pairs.t[path]]]
    return TimeMap(anchors, tg.t_kind[pj[path]], float(ratio[path[-1]]))


@dataclass(frozen=True)
class _Pairs:
    """Candidate anchors [P], sorted by target index: target index, output time, music time, value."""

    j: np.ndarray
    t: np.ndarray
    s: np.ndarray
    value: np.ndarray


@dataclass(frozen=True)
class _NearBeats:
    """Credit for motion beats that a linearly mapped stretch of music puts a beat near (unanchored)."""

    motion: np.ndarray
    music: np.ndarray
    tolerance_s: float

    def count(self, t0: np.ndarray, s0: np.ndarray, ratio: np.ndarray, t1: float | np.ndarray) -> np.ndarray:
        """For segments [Q] from (music s0, output t0) at `ratio` up to output time `t1` (scalar or
        [Q]): the sum over motion beats strictly inside of max(0, 1 - distance / tolerance), the
        distance to the nearest music beat mapped through the segment."""
        if self.motion.size == 0 or self.music.size == 0 or t0.size == 0:
            return np.zeros(t0.size)
        first = np.searchsorted(self.motion, float(t0.min()), side="right")
        last = np.searchsorted(self.motion, float(np.max(t1)), side="left")
        m = self.motion[first:last]
        if m.size == 0:
            return np.zeros(t0.size)
        inside = (m[None, :] > t0[:, None]) & (m[None, :] < np.reshape(t1, (-1, 1)))
        src = s0[:, None] + (m[None, :] - t0[:, None]) / ratio[:, None]
        k = np.clip(np.searchsorted(self.music, src), 1, max(self.music.size - 1, 1))
        gap = np.abs(self.music[np.minimum(k, self.music.size - 1)] - src)
        gap = np.minimum(gap, np.abs(self.music[k - 1] - src))
        credit = np.clip(1.0 - gap * ratio[:, None] / self.tolerance_s, 0.0, None)
        return np.sum(np.where(inside, credit, 0.0), axis=1)


def _best_paths(
    pairs: _Pairs, near: _NearBeats, lo: float, hi: float, config: LockConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dynamic programming over the candidate pairs -> (best score [P], back pointer [P] (-1 = from
    the origin), ratio of the segment ending at each pair [P])."""
    pj, pt, ps = pairs.j, pairs.t, pairs.s
    n = pj.size
    best, ratio = np.empty(n), np.empty(n)
    back = np.full(n, -1, dtype=np.int64)
    first_of = np.searchsorted(pj, np.arange(int(pj[-1]) + 2))  # first pair index of each target
    gap, cost = config.min_gap_s, config.stretch_cost
    for p in range(n):
        j = int(pj[p])
        q0, q1 = first_of[max(j - config.max_skip - 1, 0)], first_of[j]
        # predecessors: the origin (it reaches every candidate), then the earlier pairs the bound allows
        tq, sq = np.r_[0.0, pt[q0:q1]], np.r_[0.0, ps[q0:q1]]
        dt, ds = pt[p] - tq, ps[p] - sq
        valid = (dt >= lo * ds) & (dt <= hi * ds) & (ds > gap) & (dt > gap)
        valid[0] = True
        idx = np.nonzero(valid)[0]
        r = dt[idx] / ds[idx]
        prev = np.r_[0.0, best[q0:q1]][idx]
        score = prev + near.count(tq[idx], sq[idx], r, pt[p]) - cost * np.abs(np.log(r)) * dt[idx]
        k = int(np.argmax(score))
        best[p], ratio[p] = score[k] + pairs.value[p], r[k]
        back[p] = -1 if idx[k] == 0 else q0 + idx[k] - 1
    return best, back, ratio


# ---------------------------------------------------------------------------------------------
# the lock


@dataclass(frozen=True)
class LockResult:
    """The music after the lock and what the lock did.

    `audio` [S] or [S, C] float32 (the input's layout), exactly `round(duration * rate)` samples.
    Times are seconds on the output clock: `motion_beats` [K] and `hits` inside the range,
    `music_beats_before` [B] the music's own beats, `music_beats_planned` [B] where the map puts
    them. `stretch_range` is (min, max) of the local ratio output/music over the part used ((1, 1)
    when untouched).
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
                "kind": ["origin"] + ["beat" if k == _BEAT else "hit" for k in m.kinds],
            },
            "beat_anchors": m.beat_anchors,
            "hit_anchors": m.hit_anchors,
            "notes": list(self.notes),
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
    if locked:
        out, note = _stretch(audio, rate, time_map, duration, config)
        notes += [note] if note else []
    else:
        out = audio
        if audio.shape[0] < n_out:
            notes.append(
                f"the music is {audio.shape[0] / rate:.2f} s, the range {duration:.2f} s: silence fills the rest"
            )
    stretch = (1.0, 1.0) if not locked else _used_range(time_map, duration)
    return LockResult(
        audio=np.ascontiguousarray(_fit(out, n_out)),
        sample_rate=rate,
        locked=locked,
        reason=reason,
        max_stretch=max_stretch,
        time_map=time_map if locked else TimeMap.identity(),
        motion_beats=beats,
        hits=in_range,
        music_beats_before=events.beats[events.beats < duration],
        music_beats_planned=_planned(time_map if locked else TimeMap.identity(), events.beats, duration),
        music_tempo_bpm=events.tempo_bpm,
        motion_tempo_bpm=tempo_from_events(beats),
        stretch_range=stretch,
        notes=tuple(notes),
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


def beats_on_target(music_beats: np.ndarray, motion_beats: np.ndarray, tolerance_s: float) -> int:
    """How many motion beats [K] have a music beat [B] within +-`tolerance_s` (one-to-one, nearest first)."""
    if music_beats.size == 0 or motion_beats.size == 0:
        return 0
    dist = np.abs(motion_beats[:, None] - music_beats[None, :])
    used_a, used_b = set(), set()
    for flat in np.argsort(dist, axis=None, kind="stable"):
        a, b = divmod(int(flat), music_beats.size)
        if dist[a, b] > tolerance_s:
            break
        if a not in used_a and b not in used_b:
            used_a.add(a)
            used_b.add(b)
    return len(used_a)


def _stretch(
    audio: np.ndarray, rate: int, time_map: TimeMap, duration: float, config: LockConfig
) -> tuple[np.ndarray, str]:
    """Rubber Band over the music the map needs -> (audio at least as long as it gets, note)."""
    want_out = duration + config.tail_margin_s
    need_src = time_map.source_time(want_out)
    note = ""
    have_src = audio.shape[0] / rate
    if need_src > have_src:
        need_src = have_src
        ends_at = float(time_map(np.array([have_src]))[0])
        if ends_at < duration:
            note = f"the music ends at {ends_at:.2f} s of the {duration:.2f} s range: silence fills the rest"
    src_end = int(round(need_src * rate))
    keys = time_map.anchors[time_map.anchors[:, 0] * rate < src_end - rate * config.min_gap_s]
    pairs = [(int(round(s * rate)), int(round(t * rate))) for s, t in keys]
    pairs.append((src_end, int(round(float(time_map(np.array([need_src]))[0]) * rate))))
    out = stretch_to_map(audio[:src_end], rate, _strictly_increasing(pairs), engine=config.engine)
    return out, note


def _strictly_increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Drop key frames that rounding made equal to their predecessor on either clock."""
    kept = [pairs[0]]
    for s, t in pairs[1:]:
        if s > kept[-1][0] and t > kept[-1][1]:
            kept.append((s, t))
    return kept
