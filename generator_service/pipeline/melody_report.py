"""How closely a take follows its melody, measured on the take itself.

Both the take and the temp span under it are turned into per-frame chroma power (model/chroma.py
`chroma_energy`, the melody extractor's recipe without its one-hot step, the whole length at once).
`chroma_similarity` is the mean cosine of the two 12-bin vectors over the frames where the temp
sounds (a frame of silence in the take counts 0). `chance` is the same figure against the temp
rotated by 1..11 pitch classes (the same rhythm and contour in every other key: what any music
with this take's harmony scores against a melody it does not follow), their mean; `chance_max` the
highest of them. `follows` is set only from the measure: the similarity beats every rotation and
the chance mean by at least `FOLLOW_MARGIN`. Runs in the calling thread (CPU).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..model.chroma import ChromaSettings
    from .melody_input import MelodyTemp

#: How far above the rotated-temp chance a take's similarity must be before it is said to follow.
FOLLOW_MARGIN = 0.1
#: Temp frames quieter than this fraction of its loudest frame have no melody to follow.
_SILENT = 1e-4
MEASURE = (
    "mean per-frame cosine of 12-bin chroma power, take vs the temp span under it; "
    "chance: the temp rotated by 1..11 pitch classes"
)


def _chroma(audio: np.ndarray, rate: int, settings: ChromaSettings) -> np.ndarray:
    from ..model.chroma import chroma_energy

    whole = replace(settings, chunk_length=int(np.ceil(audio.shape[-1] / rate)) + 1)
    return chroma_energy(audio, rate, settings=whole).double().numpy()


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Mean cosine of rows of a and b [T, 12]."""
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(np.mean(np.sum(a * b, axis=1) / np.maximum(norms, 1e-12)))


def follow_measure(
    take: np.ndarray, rate: int, temp: np.ndarray, temp_rate: int, settings: ChromaSettings
) -> dict[str, Any]:
    """Take [S] or [C, S] at `rate`, temp span [n] at `temp_rate` (the same duration) -> the
    measure of the module docstring (JSON-ready)."""
    music = _chroma(take if take.ndim == 1 else take.mean(axis=0), rate, settings)
    melody = _chroma(temp, temp_rate, settings)
    frames = min(len(music), len(melody))
    music, melody = music[:frames], melody[:frames]
    energy = melody.sum(axis=1)
    sounding = energy > _SILENT * max(float(energy.max(initial=0.0)), 1e-30)
    if not sounding.any():
        return {"chroma_similarity": None, "chance": None, "chance_max": None, "frames": 0, "follows": False}
    music, melody = music[sounding], melody[sounding]
    similarity = _similarity(music, melody)
    rotated = [_similarity(music, np.roll(melody, k, axis=1)) for k in range(1, 12)]
    chance, chance_max = float(np.mean(rotated)), float(np.max(rotated))
    follows = similarity > chance_max and similarity - chance >= FOLLOW_MARGIN
    return {
        "chroma_similarity": round(similarity, 4),
        "chance": round(chance, 4),
        "chance_max": round(chance_max, 4),
        "frames": int(sounding.sum()),
        "follows": bool(follows),
    }


def melody_block(
    temp: MelodyTemp, takes: list[np.ndarray], rate: int, duration_s: float, settings: ChromaSettings
) -> dict[str, Any]:
    """The result's `melody` block: the temp used, the measure, and each take's figures."""
    span = temp.span(0.0, duration_s)
    reports = [follow_measure(take, rate, span, temp.rate, settings) for take in takes]
    return temp.describe(duration_s) | {
        "measure": MEASURE,
        "follow_margin": FOLLOW_MARGIN,
        "follows": all(r["follows"] for r in reports),
        "takes": reports,
    }
