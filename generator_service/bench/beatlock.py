"""Beat-lock cost as a multiple of real time: constructed drums at 32 kHz, 5 % off the tempo of a
2 Hz performer and off phase, with a cut every 10 s; music analysis (librosa), the plan, Rubber
Band, and the whole lock. `python -m generator_service.bench.beatlock [SECONDS]`.

The first librosa call compiles numba kernels (seconds): one warm-up lock on 5 s runs first, and
each stage is the minimum over `repeats` runs.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from . import table

SAMPLE_RATE = 32_000


def _drums(bpm: float, seconds: float, sr: int) -> np.ndarray:
    """Kick on every beat, a pitched tom on the off-beats [S] float32 (no test helpers imported)."""
    out = np.zeros(int(round(seconds * sr)))
    t = np.arange(int(0.25 * sr)) / sr
    kick = 0.8 * np.sin(2 * np.pi * (55 * t + 3.0 * (1 - np.exp(-t / 0.03)))) * np.exp(-t / 0.12)
    tom = 0.3 * np.sin(2 * np.pi * 420 * t) * np.exp(-t / 0.04)
    for k, start in enumerate(np.arange(0.3, seconds, 30.0 / bpm)):
        i = int(round(start * sr))
        sound = kick if k % 2 == 0 else tom
        seg = out[i : i + sound.size]
        seg += sound[: seg.size]
    return out.astype(np.float32)


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run(seconds: float | None = None, repeats: int = 3) -> str:
    from ..pipeline.beatlock import lock_to_performer, plan_time_map
    from ..pipeline.hits import Hit
    from ..pipeline.rhythm import music_events
    from ..pipeline.rubberband import stretch_to_map

    seconds = seconds or 60.0
    sr = SAMPLE_RATE
    music = _drums(126.0, seconds + 5.0, sr)
    motion = np.arange(0.45, seconds, 0.5)
    hits = [Hit(t, "cut") for t in np.arange(10.0, seconds, 10.0)]
    lock_to_performer(music[: 5 * sr], sr, motion[motion < 5.0], duration_s=5.0)  # warm-up (numba)
    events = music_events(music[: int((seconds / 0.92 + 0.5) * sr)], sr)
    plan = plan_time_map(events, motion, hits, 0.08)
    used = int(plan.source_time(seconds + 0.5) * sr)
    keys = [(int(s * sr), int(t * sr)) for s, t in plan.anchors if s * sr < used - 0.05 * sr]
    keys.append((used, int(float(plan(np.array([used / sr]))[0]) * sr)))
    rows = [
        ["music events (librosa)", _best(lambda: music_events(music[:used], sr), repeats)],
        ["plan (dynamic programming)", _best(lambda: plan_time_map(events, motion, hits, 0.08), repeats)],
        ["stretch (Rubber Band R2)", _best(lambda: stretch_to_map(music[:used], sr, keys), repeats)],
        ["whole lock", _best(lambda: lock_to_performer(music, sr, motion, hits, duration_s=seconds), repeats)],
    ]
    head = (
        f"beat lock of {seconds:g} s of {sr // 1000} kHz drums (5 % off a 2 Hz performer, off phase, "
        f"a cut every 10 s); min of {repeats} runs; x real time = music seconds / wall seconds"
    )
    return head + "\n" + table(["stage", "wall s", "x real time"], [[n, w, seconds / w] for n, w in rows])


if __name__ == "__main__":
    print(run(float(sys.argv[1]) if len(sys.argv) > 1 else None))
