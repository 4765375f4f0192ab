"""How well music events land on target events: motion beats against music beats (F-measure with
its chance level), hit points against music onsets. The one measure the evaluation, the `sync`
report and a scored job's lock report share (pure numpy; times in seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rhythm import as_curve, check_positive

#: Default half-width of the window in which a music event "hits" a motion event (seconds).
#: +-100 ms = +-1 frame at the 10 fps feature rate (music events are at 16 ms resolution).
DEFAULT_TOLERANCE_S = 0.1


@dataclass(frozen=True)
class AlignmentResult:
    """One-to-one matching of motion events to music events within +-`tolerance_s`.

    `hit_rate` = matched / motion events (how many motion beats the music hits), `precision` =
    matched / music events, `f_measure` their harmonic mean (the alignment score, 0 when either
    side has no events). `chance_f_measure` is the mean F over `n_shifts` circular shifts of the
    motion events (what an unrelated timing scores); `mean_abs_offset_s` over matched pairs.
    """

    reference: str
    tolerance_s: float
    n_motion: int
    n_music: int
    n_matched: int
    hit_rate: float
    precision: float
    f_measure: float
    chance_f_measure: float
    mean_abs_offset_s: float | None

    @property
    def score(self) -> float:
        return self.f_measure


def match_events(a: np.ndarray, b: np.ndarray, tolerance_s: float) -> np.ndarray:
    """Greedy one-to-one matching, closest pairs first; returns the |offset| [M] of matched pairs."""
    if a.size == 0 or b.size == 0:
        return np.zeros(0)
    dist = np.abs(a[:, None] - b[None, :])
    ia, ib = np.nonzero(dist <= tolerance_s)
    order = np.argsort(dist[ia, ib], kind="stable")
    used_a: set[int] = set()
    used_b: set[int] = set()
    offsets: list[float] = []
    for k in order:
        i, j = int(ia[k]), int(ib[k])
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            offsets.append(float(dist[i, j]))
    return np.asarray(offsets)


def _f_measure(n_matched: int, n_a: int, n_b: int) -> float:
    return 0.0 if n_a == 0 or n_b == 0 else 2.0 * n_matched / (n_a + n_b)


def beat_alignment(
    motion_times: np.ndarray,
    music_times: np.ndarray,
    duration_s: float,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    reference: str = "beats",
    n_shifts: int = 64,
) -> AlignmentResult:
    """Alignment of motion events [K] with music events [M] (seconds) over [0, duration_s)."""
    tolerance_s = check_positive(tolerance_s, "tolerance_s")
    duration_s = check_positive(duration_s, "duration_s")
    a = np.sort(as_curve(motion_times, "motion_times"))
    b = np.sort(as_curve(music_times, "music_times"))
    a, b = a[(a >= 0) & (a < duration_s)], b[(b >= 0) & (b < duration_s)]
    offsets = match_events(a, b, tolerance_s)
    n = offsets.size
    shifts = duration_s * (np.arange(n_shifts) + 0.5) / n_shifts
    chance = [
        _f_measure(match_events(np.sort((a + s) % duration_s), b, tolerance_s).size, a.size, b.size) for s in shifts
    ]
    return AlignmentResult(
        reference=reference,
        tolerance_s=tolerance_s,
        n_motion=int(a.size),
        n_music=int(b.size),
        n_matched=int(n),
        hit_rate=n / a.size if a.size else 0.0,
        precision=n / b.size if b.size else 0.0,
        f_measure=_f_measure(n, a.size, b.size),
        chance_f_measure=float(np.mean(chance)) if chance else 0.0,
        mean_abs_offset_s=float(np.mean(offsets)) if n else None,
    )


#: Default half-width of the window in which a music onset "lands" on a hit point (seconds).
DEFAULT_HIT_TOLERANCE_S = 0.03


@dataclass(frozen=True)
class HitAlignment:
    """How many hit points (cuts, markers) have a music onset within +-`tolerance_s`.

    `landed` / `n_hits` is `hit_rate` (None without hits); `offsets_s` [H] are the signed distances
    onset - hit to the nearest onset (None where the music has no onset at all).
    """

    tolerance_s: float
    n_hits: int
    landed: int
    offsets_s: list[float | None]

    @property
    def hit_rate(self) -> float | None:
        return self.landed / self.n_hits if self.n_hits else None


def hit_alignment(
    hit_times: np.ndarray, onsets: np.ndarray, *, tolerance_s: float = DEFAULT_HIT_TOLERANCE_S
) -> HitAlignment:
    """Hit points [H] (seconds) against music onsets [O] (seconds)."""
    tolerance_s = check_positive(tolerance_s, "tolerance_s")
    hits = as_curve(np.asarray(hit_times, dtype=np.float64).reshape(-1), "hit_times")
    ons = np.sort(as_curve(np.asarray(onsets, dtype=np.float64).reshape(-1), "onsets"))
    offsets: list[float | None] = []
    for h in hits:
        offsets.append(None if ons.size == 0 else float(ons[np.argmin(np.abs(ons - h))] - h))
    landed = sum(o is not None and abs(o) <= tolerance_s for o in offsets)
    return HitAlignment(tolerance_s, int(hits.size), int(landed), offsets)
