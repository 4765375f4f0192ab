"""The beat lock's plan: its tuning (`LockConfig`, the stretch bound), the time map (a monotone
piecewise-linear map music time -> output time) and the dynamic programming that picks the anchor
pairs putting the most weight on target within the stretch bound (pipeline/beatlock.py's step 2).
Pure numpy; times are seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .hits import Hit
from .rhythm import MusicEvents
from .rubberband import Engine

#: Default bound of the local stretch: every segment plays at 92-108 % of its original duration.
DEFAULT_MAX_STRETCH = 0.08
BEAT, HIT = 0, 1


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
    #: Rubber Band engine: "fast" (R2) or "fine" (R3). "fast" because it keeps the map's anchors: on
    #: a click track stretched 5-10 % (rubberband 3.1.2), R2 put the clicks within 28.7 ms of their
    #: targets (mean -4.6 ms), R3 88.9 ms early on average (max 99.4 ms) and came out 0.2 % short;
    #: R2 is also the cheaper (about 0.2 s against 0.3 s per 10 s of stereo).
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
        return int(np.sum(self.kinds == BEAT))

    @property
    def hit_anchors(self) -> int:
        return int(np.sum(self.kinds == HIT))


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
    t_kind = np.r_[np.full(motion_beats.size, BEAT), np.full(len(hits), HIT)].astype(np.int64)
    t_weight = np.r_[np.ones(motion_beats.size), [config.hit_weight * max(h.strength, 0.05) for h in hits]]
    strength = events.onset_strengths / max(float(events.onset_strengths.max(initial=0.0)), 1e-9)
    strong = strength >= config.strong_onset
    s = np.r_[events.beats, events.onsets[strong]]
    s_kind = np.r_[np.full(events.beats.size, BEAT), np.full(int(strong.sum()), HIT)].astype(np.int64)
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
