"""The melody condition's chroma measured: `python -m generator_service bench chroma [--seconds S]`
prints the cost of `model/chroma.py`'s `melody_chroma` per audio second, for references at the
melody model's rate (mono, no resampling) and at the usual recording rates in stereo (mixed down
and resampled to 32 kHz); noise input, the minimum of `repeats` runs after one warm-up."""

from __future__ import annotations

import timeit

import numpy as np

from . import table

#: (rate, channels) of the references measured.
CASES = ((32_000, 1), (44_100, 2), (48_000, 2))


def run(seconds: float | None = None, repeats: int = 5) -> str:
    from ..model.chroma import melody_chroma

    seconds = seconds or 30.0
    rng = np.random.default_rng(0)
    rows = []
    for rate, channels in CASES:
        audio = rng.standard_normal((channels, round(rate * seconds))).astype(np.float32)
        audio = audio[0] if channels == 1 else audio
        frames = melody_chroma(audio, rate).shape[1]  # warm-up
        best = min(timeit.repeat(lambda a=audio, r=rate: melody_chroma(a, r), number=1, repeat=repeats))
        rows.append([f"{rate} Hz x{channels}", frames, 1000 * best / seconds, seconds / best])
    head = f"melody chroma of {seconds:g} s of reference audio; min of {repeats} runs"
    return head + "\n" + table(["reference", "chroma frames", "ms per audio s", "x real time"], rows)
