"""The beat lock measured: `python -m generator_service bench beatlock [--seconds S]` prints
- `run`: its cost as a multiple of real time: constructed drums at 32 kHz, 5 % off the tempo of a
  2 Hz performer and off phase, with a cut every 10 s; music analysis, the plan, Rubber Band, and
  the whole lock (one warm-up lock on 5 s runs first; each stage the minimum over `repeats` runs);
- `run_cost`: one take's lock in a fresh process, cold (its imports and first call: what a CLI
  run pays) and warm (the next take);
- `run_real_music`: beat F before -> after against ground-truth motion beats on real recorded
  music (`real_music.CASES`), with chance level and what the lock did.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
        ["music events (beat_tracking)", _best(lambda: music_events(music[:used], sr), repeats)],
        ["plan (dynamic programming)", _best(lambda: plan_time_map(events, motion, hits, 0.08), repeats)],
        ["stretch (Rubber Band R2)", _best(lambda: stretch_to_map(music[:used], sr, keys), repeats)],
        ["whole lock", _best(lambda: lock_to_performer(music, sr, motion, hits, duration_s=seconds), repeats)],
    ]
    head = (
        f"beat lock of {seconds:g} s of {sr // 1000} kHz drums (5 % off a 2 Hz performer, off phase, "
        f"a cut every 10 s); min of {repeats} runs; x real time = music seconds / wall seconds"
    )
    return head + "\n" + table(["stage", "wall s", "x real time"], [[n, w, seconds / w] for n, w in rows])


#: One take's lock in a fresh process: 8 s of drums at 32 kHz (the demo's length and rate); the
#: three timings go to the JSON file named by its argument.
_COST_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from generator_service.bench.beatlock import _drums
from generator_service.pipeline.beatlock import lock_to_performer
music, motion = _drums(126.0, 13.0, 32000), np.arange(0.45, 8.0, 0.5)
t1 = time.perf_counter()
lock_to_performer(music, 32000, motion, duration_s=8.0)
t2 = time.perf_counter()
lock_to_performer(music, 32000, motion, duration_s=8.0)
t3 = time.perf_counter()
open(sys.argv[1], "w").write(json.dumps([t1 - t0, t2 - t1, t3 - t2]))
"""


def run_cost(repeats: int = 3) -> str:
    """Cold and warm lock of one 8 s take, each in a fresh interpreter (the minimum of `repeats`)."""
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        timings = Path(tmp) / "timings.json"
        for _ in range(repeats):
            subprocess.run([sys.executable, "-c", _COST_SCRIPT, str(timings)], capture_output=True, check=True)
            runs.append(json.loads(timings.read_text()))
    setup, cold, warm = (min(r[i] for r in runs) for i in range(3))
    rows = [
        ["imports (numpy + the lock's modules) and the test music", setup],
        ["first take's lock (cold: what a CLI run pays)", cold],
        ["next take's lock (warm)", warm],
    ]
    head = f"beat lock of one 8 s take at 32 kHz in a fresh process; min of {repeats} processes"
    return head + "\n" + table(["", "wall s"], rows)


def run_real_music() -> str:
    """Beat F (+-70 ms) before -> after on the real-music cases, against the ground-truth bob."""
    from .real_music import CASES, PIECES, TOLERANCE_S, lock_case

    rows = []
    for name, off, _ in CASES:
        case = lock_case(name, off)
        res = case.result
        layout = "mono" if case.audio.ndim == 1 else f"{case.audio.shape[1]} ch"
        what = "locked" if res.locked else "untouched: " + res.reason.split(" (")[0].split(":")[0]
        rows.append(
            [
                f"{name} ({PIECES[name].beat} beat, {case.rate / 1000:g} kHz {layout})",
                f"{off:+.0%}",
                case.chance_f,
                case.f_before,
                case.f_after,
                what,
            ]
        )
    head = (
        "beat lock on real music against ground-truth motion beats (a bob at the music's tempo x (1 + off), "
        f"15 ms jitter); beat F-measure +-{TOLERANCE_S * 1000:.0f} ms; chance = the bob at random phase; "
        "stretch bound +-8 %"
    )
    return head + "\n" + table(["music", "off", "chance F", "F before", "F after", "lock"], rows)


if __name__ == "__main__":
    from ..console import say

    say(run(float(sys.argv[1]) if len(sys.argv) > 1 else None))
