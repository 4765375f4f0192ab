"""The melody temp: a reference recording (the temp track the score replaces), read once, and the
span of it that plays under the scored range.

The music's time t (0 = the range's start) hears the temp at `start + t`. A temp that ends before
the range does loops: the part from `start` to the temp's end repeats, as MusicGen itself does
with a short melody (audiocraft's long generation indexes the melody modulo its length;
transformers repeats a short chroma to `chroma_length`), so every window gets a melody and none
gets the null one; the report says `looped`. Each generation window asks for the chroma of its own
span (pipeline/generate.py `MelodyAt`). CPU work: numpy and model/chroma.py; torch only when a
chroma is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..audio import read_music
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..model.chroma import ChromaSettings
    from .generate import MelodyAt


@dataclass(frozen=True)
class MelodyRequest:
    """A temp track to follow: `path` (what `read_music` reads: WAV, FLAC, OGG, MP3, AIFF; any rate
    and channel count) from `start` seconds into it."""

    path: Path
    start: float = 0.0

    def check(self) -> None:
        """Read the temp and validate `start` (before any model loads). Raises MusicFileError / ConfigError."""
        MelodyTemp.load(self)


@dataclass(frozen=True)
class MelodyTemp:
    """The temp from `request.start` to its end, mono `audio` [N] float32 at `rate` Hz."""

    request: MelodyRequest
    audio: np.ndarray
    rate: int

    @classmethod
    def load(cls, request: MelodyRequest) -> MelodyTemp:
        audio, rate = read_music(request.path)
        mono = audio if audio.ndim == 1 else audio.mean(axis=1)
        total = mono.shape[0] / rate
        first = round(request.start * rate)
        if request.start < 0 or first >= mono.shape[0]:
            raise ConfigError(
                f"melody_start: {request.start} s is not inside the melody's 0-{total:.3f} s",
                hint="Give --melody-start within the temp track (seconds from its beginning).",
            )
        return cls(request, np.ascontiguousarray(mono[first:], dtype=np.float32), rate)

    @property
    def seconds(self) -> float:
        """Length of the part that plays (and loops), from `start` to the temp's end."""
        return self.audio.shape[0] / self.rate

    def span(self, start_s: float, end_s: float) -> np.ndarray:
        """The temp under the music's [start_s, end_s) -> [n] (looped past the temp's end)."""
        first, stop = round(start_s * self.rate), round(end_s * self.rate)
        if stop <= first:
            raise ConfigError(f"melody span {start_s:.3f}-{end_s:.3f} s is empty")
        return self.audio[np.arange(first, stop) % self.audio.shape[0]]

    def chroma_at(self, settings: ChromaSettings) -> MelodyAt:
        """The melody by time for generation: a span of the music -> its chroma [1, T, 12]."""
        from ..model.chroma import melody_chroma

        return lambda start_s, end_s: melody_chroma(self.span(start_s, end_s), self.rate, settings=settings)

    def describe(self, duration_s: float) -> dict[str, Any]:
        """JSON-able: which temp, from where, and whether it loops under `duration_s` of music."""
        return {
            "file": str(self.request.path),
            "start": self.request.start,
            "temp_seconds": round(self.seconds, 4),
            "looped": duration_s > self.seconds + 1e-9,
        }
