"""What a beat lock did, measured: the music's beats tracked again on the result, and how well
beats and onsets land on the performer's motion beats and the hits before and after the lock (the
measure of `pipeline.event_alignment`). `sync` writes it into OUT.json; a scored job keeps it per
take (pipeline/score_lock.py). Runs in the calling thread (librosa).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .beatlock import LockResult
from .event_alignment import DEFAULT_TOLERANCE_S, beat_alignment, hit_alignment
from .rhythm import music_events


def measure(result: LockResult, music: np.ndarray) -> dict[str, Any]:
    """The music's beats tracked again on the result, and beat/hit alignment before and after
    (`music` is the input; its first `result.num_samples` samples are what "before" plays)."""
    duration = result.num_samples / result.sample_rate
    n = result.num_samples

    def mono(x: np.ndarray) -> np.ndarray:
        return x if x.ndim == 1 else x.mean(axis=1)

    before = music_events(np.pad(mono(music[:n]), (0, max(0, n - music.shape[0]))), result.sample_rate)
    after = before if not result.locked else music_events(mono(result.audio), result.sample_rate)
    hit_t = np.array([h.t for h in result.hits])

    def scores(events: Any) -> dict[str, Any]:
        beats = beat_alignment(result.motion_beats, events.beats, duration)
        hits = hit_alignment(hit_t, events.onsets)
        return {
            "beat_f": round(beats.f_measure, 4),
            "beat_chance_f": round(beats.chance_f_measure, 4),
            "hits_landed": hits.landed,
            "hits": hits.n_hits,
            "hit_tolerance_s": hits.tolerance_s,
            "hit_offsets_s": [None if o is None else round(o, 4) for o in hits.offsets_s],
        }

    return {
        "music_beats_after": [round(float(t), 4) for t in after.beats],
        "alignment": {"beat_tolerance_s": DEFAULT_TOLERANCE_S, "before": scores(before), "after": scores(after)},
    }
