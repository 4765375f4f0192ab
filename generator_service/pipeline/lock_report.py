"""What a beat lock did, measured, and whether it is kept: the music's beats and onsets tracked
on a piece of music, how well they land on the performer's motion beats and the hits (the measure
of `pipeline.event_alignment`), and the verdict that compares the stretched music with the
untouched one. The lock (pipeline/beatlock.py) keeps a stretch only when this measure says it
aligned better; `sync` writes the measure into OUT.json, a scored job keeps it per take.
Pure numpy (the music analysis of `pipeline.beat_tracking`); runs in the calling thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .event_alignment import DEFAULT_TOLERANCE_S, beat_alignment, hit_alignment
from .rhythm import MusicEvents, music_events

#: A stretch is kept only when it raises the beat F-measure by at least this much (with no hit
#: landing worse), or lands more hits (with beat F no lower). Smaller gains are within what
#: re-tracking the same music after a stretch changes by itself.
MIN_BEAT_GAIN = 0.05


def mono(audio: np.ndarray) -> np.ndarray:
    """[S] of audio [S] or [S, C] (the channels' mean)."""
    return audio if audio.ndim == 1 else audio.mean(axis=1)


def alignment(
    audio: np.ndarray, rate: int, motion_beats: np.ndarray, hit_times: Sequence[float]
) -> tuple[MusicEvents, dict[str, Any]]:
    """Track the music events of `audio` [S] or [S, C] and score them against the motion beats
    [K] and hit times (seconds over the audio's length) -> (events, JSON-ready scores)."""
    events = music_events(mono(audio), rate)
    duration = audio.shape[0] / rate
    beats = beat_alignment(np.asarray(motion_beats, dtype=np.float64), events.beats, duration)
    hits = hit_alignment(np.asarray(hit_times, dtype=np.float64), events.onsets)
    return events, {
        "beat_f": round(beats.f_measure, 4),
        "beat_chance_f": round(beats.chance_f_measure, 4),
        "hits_landed": hits.landed,
        "hits": hits.n_hits,
        "hit_tolerance_s": hits.tolerance_s,
        "hit_offsets_s": [None if o is None else round(o, 4) for o in hits.offsets_s],
    }


def verdict(before: dict[str, Any], after: dict[str, Any], min_gain: float = MIN_BEAT_GAIN) -> tuple[bool, str]:
    """(keep, why not): keep the stretched music only when it measured better than the untouched
    and, for a beat lock, better than chance (music beats at random phase at the music's tempo)."""
    gain = after["beat_f"] - before["beat_f"]
    landed = after["hits_landed"] - before["hits_landed"]
    above_chance = after["beat_f"] > after["beat_chance_f"]
    if (gain >= min_gain and above_chance and landed >= 0) or (landed > 0 and gain >= 0):
        return True, ""
    text = f"beat F {before['beat_f']:.2f} -> {after['beat_f']:.2f}"
    if before["hits"]:
        text += f", hits landed {before['hits_landed']} -> {after['hits_landed']} of {before['hits']}"
    if gain >= min_gain and not above_chance:
        return False, (
            f"the stretched music aligned no better than chance ({text}, chance {after['beat_chance_f']:.2f}: "
            "the music's beat is too weak to lock to); left as it was"
        )
    return (
        False,
        f"the stretched music aligned no better ({text}, a lock needs +{min_gain:.2f} F or more hits); left as it was",
    )


def report(before: dict[str, Any], after: dict[str, Any], beats_after: np.ndarray) -> dict[str, Any]:
    """The measure as `sync`'s OUT.json and a take's report keep it."""
    return {
        "music_beats_after": [round(float(t), 4) for t in beats_after],
        "alignment": {"beat_tolerance_s": DEFAULT_TOLERANCE_S, "before": before, "after": after},
    }
