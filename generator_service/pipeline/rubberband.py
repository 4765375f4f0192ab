"""Time-stretching through Rubber Band's command-line tool (`rubberband`, Debian's `rubberband-cli`).

`stretch_to_map` runs one offline stretch whose local ratio follows a key-frame map (source sample
-> target sample), the same call `pyrubberband.timemap_stretch` makes, but owned here: audio goes
through 32-bit float WAV files at 12 dB below full scale (pyrubberband writes 16-bit PCM, and the
tool clips its output at 0 dBFS: loud music and a stretch's peaks come back intact), the tool's own
error text reaches the user, and a missing tool is a `RubberBandError` with the install line. Runs in the calling thread; one subprocess per call.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import ExpotionError

logger = logging.getLogger(__name__)

#: The tool's name on PATH.
BINARY = "rubberband"
#: R2 ("fast", crisp transients; the CLI's default) or R3 ("fine", smoother, several times slower).
Engine = Literal["fast", "fine"]
_ENGINE_FLAG = {"fast": "--fast", "fine": "--fine"}
#: The tool clips its output at 0 dBFS: audio goes in scaled to this peak and comes out scaled back.
HEADROOM_PEAK = 0.25


class RubberBandError(ExpotionError, RuntimeError):
    """Rubber Band's command-line tool is missing or failed."""

    hint = (
        "Install Rubber Band's command-line tool: `apt-get install rubberband-cli` (Debian/Ubuntu), "
        "`brew install rubberband` (macOS), or put `rubberband` on PATH."
    )


def find_rubberband() -> str:
    """The path of the `rubberband` tool, or RubberBandError with the install line."""
    path = shutil.which(BINARY)
    if path is None:
        raise RubberBandError(f"Rubber Band's command-line tool `{BINARY}` was not found on PATH")
    return path


def stretch_to_map(
    audio: np.ndarray, sample_rate: int, time_map: Sequence[tuple[int, int]], *, engine: Engine = "fast"
) -> np.ndarray:
    """Stretch `audio` [S] or [S, C] so that source sample `s` lands on target sample `t` for every
    `(s, t)` in `time_map` -> float32 audio of the same channel layout, about `time_map[-1][1]` samples.

    `time_map` is strictly increasing in both columns, starts at (0, 0) and ends at (S, T): the
    overall ratio is T / S and between key frames Rubber Band stretches linearly.
    """
    import soundfile as sf

    binary = find_rubberband()
    pairs = np.asarray(time_map, dtype=np.int64)
    frames = np.asarray(audio, dtype=np.float32)
    _check_map(pairs, frames.shape[0])
    peak = float(np.max(np.abs(frames), initial=0.0))
    gain = HEADROOM_PEAK / peak if peak > 0 else 1.0  # the tool clips its output at 0 dBFS
    with tempfile.TemporaryDirectory(prefix="expotion-rb-") as tmp:
        src, dst, keys = Path(tmp) / "in.wav", Path(tmp) / "out.wav", Path(tmp) / "map.txt"
        sf.write(src, frames * np.float32(gain), sample_rate, subtype="FLOAT")
        keys.write_text("".join(f"{s} {t}\n" for s, t in pairs))
        ratio = float(pairs[-1, 1]) / float(pairs[-1, 0])
        cmd = [
            binary,
            "--quiet",
            _ENGINE_FLAG[engine],
            "--time",
            repr(ratio),
            "--timemap",
            str(keys),
            str(src),
            str(dst),
        ]
        logger.debug("running %s", " ".join(cmd))
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not dst.exists():
            detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise RubberBandError(f"`{BINARY}` failed (exit {done.returncode}): {' | '.join(detail) or 'no output'}")
        out, _ = sf.read(dst, dtype="float32", always_2d=True)
    out /= np.float32(gain)
    return out[:, 0] if frames.ndim == 1 else out


def _check_map(pairs: np.ndarray, n_source: int) -> None:
    if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.shape[0] < 2:
        raise ValueError(f"time_map: expected [K >= 2, 2] (source, target) pairs, got {pairs.shape}")
    if tuple(pairs[0]) != (0, 0) or pairs[-1, 0] != n_source:
        raise ValueError(f"time_map: must run from (0, 0) to ({n_source}, T), got {pairs[0]} .. {pairs[-1]}")
    if np.any(np.diff(pairs, axis=0) <= 0):
        raise ValueError("time_map: source and target samples must both increase strictly")
