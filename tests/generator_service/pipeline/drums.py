"""Constructed music with known beats: a synthesized drum kit at a chosen tempo and phase.

Kick on every beat, a snare on the off-beats of a four-beat bar (beats 2 and 4), closed hi-hat on
the eighths; `tonal=True` swaps snare and hat for pitched toms (no noise: every sample-to-sample
jump of the result is a property of the waveform, so a discontinuity stands out). Deterministic.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest


def _kick(sr: int) -> np.ndarray:
    t = np.arange(int(0.25 * sr)) / sr
    phase = 2 * np.pi * (55 * t + 100 * 0.03 * (1 - np.exp(-t / 0.03)))  # 155 Hz falling to 55 Hz
    return 0.8 * np.sin(phase) * np.exp(-t / 0.12)


def _snare(sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.2 * sr)) / sr
    return 0.25 * rng.normal(0, 1, t.size) * np.exp(-t / 0.05) + 0.3 * np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.06)


def _hat(sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.05 * sr)) / sr
    noise = rng.normal(0, 1, t.size)
    return 0.08 * np.diff(noise, prepend=0.0) * np.exp(-t / 0.012)  # first difference: high-passed


def _tom(sr: int, hz: float) -> np.ndarray:
    t = np.arange(int(0.15 * sr)) / sr
    return 0.3 * np.sin(2 * np.pi * hz * t) * np.exp(-t / 0.04)


def drum_track(
    bpm: float, seconds: float, *, first_beat_s: float = 0.0, sr: int = 32_000, tonal: bool = False, seed: int = 0
) -> np.ndarray:
    """[S] float32 peaking at 0.9: a kick on every beat from `first_beat_s` (every 60 / bpm s),
    snare (or a tom) on beats 2 and 4, hi-hat (or a high tom) on every eighth."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(round(seconds * sr)))
    beat = 60.0 / bpm
    kick, snare = _kick(sr), (_tom(sr, 190.0) if tonal else _snare(sr, rng))
    for k, start in enumerate(np.arange(first_beat_s, seconds, beat / 2)):
        sounds = [_tom(sr, 420.0) if tonal else _hat(sr, rng)]
        if k % 2 == 0:
            sounds.append(kick)
        if k % 4 == 2:
            sounds.append(snare)
        i = int(round(start * sr))
        for sound in sounds:
            seg = out[i : i + sound.size]
            seg += sound[: seg.size]
    return (out * (0.9 / np.abs(out).max())).astype(np.float32)  # peak -1 dBFS


def beat_times(bpm: float, seconds: float, first_beat_s: float) -> np.ndarray:
    """The kicks' times [B] of `drum_track`."""
    return np.arange(first_beat_s, seconds, 60.0 / bpm)


def require_rubberband() -> None:
    """Rubber Band's tool must be on PATH: CI installs it, so its absence fails the test; a local
    run may skip instead with EXPOTION_SKIP_RUBBERBAND=1 (the skip names the reason)."""
    import os

    if shutil.which("rubberband") is not None:
        return
    reason = "Rubber Band's `rubberband` tool is not on PATH (apt-get install rubberband-cli)"
    if os.environ.get("EXPOTION_SKIP_RUBBERBAND") == "1":
        pytest.skip(reason + "; skipped because EXPOTION_SKIP_RUBBERBAND=1")
    pytest.fail(reason + "; set EXPOTION_SKIP_RUBBERBAND=1 to skip these tests locally", pytrace=False)
