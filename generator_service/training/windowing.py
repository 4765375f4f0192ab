"""How recordings are cut into training windows: lengths, starts, the split by recording, window ids.

Pure functions of numbers and names (no I/O), shared by preparation and tests.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePosixPath

from ..errors import ConfigError


def frames_per_window(window_s: float, frame_rate: float) -> int:
    """Codec frames in one window; `ConfigError` unless window_s * frame_rate is a whole number."""
    frames = window_s * frame_rate
    if abs(frames - round(frames)) > 1e-6 or round(frames) < 1:
        raise ConfigError(
            f"window: {window_s} s is not a whole number of codec frames at {frame_rate:g} Hz "
            f"(use a multiple of {1 / frame_rate:g} s)"
        )
    return int(round(frames))


def window_starts(duration: float, window_s: float, hop_s: float, tolerance_s: float) -> tuple[list[float], float]:
    """Starts of the windows that fit in `duration` (ending at most `tolerance_s` past it) and the
    length of the dropped remainder after the last one (0 when the windows reach the end)."""
    starts: list[float] = []
    k = 0
    while k * hop_s + window_s <= duration + tolerance_s:
        starts.append(round(k * hop_s, 9))
        k += 1
    covered = starts[-1] + window_s if starts else 0.0
    remainder = max(0.0, duration - covered)
    return starts, (remainder if remainder > tolerance_s else 0.0)


def assign_split(recording: str, seed: int, test_fraction: float) -> str:
    """ "test" or "train" for a recording (its relative path), from a hash of path and seed.

    Depends on nothing else, so a recording keeps its split when the collection grows.
    """
    digest = hashlib.sha256(f"{seed}\0{recording}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2.0**64 < test_fraction else "train"


def window_id(recording: str, index: int) -> str:
    """A file-name-safe, unique id: the recording's path as a slug + a short hash + the index."""
    stem = str(PurePosixPath(recording).with_suffix(""))
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:60] or "recording"
    short = hashlib.sha1(recording.encode()).hexdigest()[:8]
    return f"{slug}-{short}-{index:04d}"
