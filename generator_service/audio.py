"""Audio files: reading music (any rate and channel count), exact-length WAV writing (atomic,
disk-full safe) and muxing music into a video."""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import ExpotionError

logger = logging.getLogger(__name__)


class OutputError(ExpotionError, OSError):
    """The result could not be written (disk full, no permission, missing folder)."""

    hint = "Free some disk space or choose another output folder; nothing was overwritten."


class MusicFileError(ExpotionError, ValueError):
    """The music file cannot be read."""

    hint = "Give a WAV, FLAC, OGG, MP3 or AIFF file (convert others, e.g. `ffmpeg -i IN.m4a OUT.wav`)."


def read_music(path: Path) -> tuple[np.ndarray, int]:
    """A music file -> (float32 audio [S] (mono) or [S, C], its sample rate)."""
    import soundfile as sf

    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise MusicFileError(f"music {path}: cannot be read ({err})") from err
    if audio.shape[0] == 0:
        raise MusicFileError(f"music {path}: has no samples")
    return (audio[:, 0] if audio.shape[1] == 1 else audio), int(rate)


def exact_num_samples(duration_s: float, sample_rate: int) -> int:
    """The sample count every result has: round(duration * sample_rate)."""
    return int(round(duration_s * sample_rate))


def fit_length(audio: np.ndarray, num_samples: int) -> np.ndarray:
    """Trim (or zero-pad) the last axis to exactly `num_samples`."""
    if audio.shape[-1] >= num_samples:
        return audio[..., :num_samples]
    pad = [(0, 0)] * (audio.ndim - 1) + [(0, num_samples - audio.shape[-1])]
    return np.pad(audio, pad)


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Write float audio, mono [S] or channels-first [C, S] (stereo models), as 16-bit PCM WAV,
    atomically: a failed write leaves no file and never clobbers an earlier result."""
    import soundfile as sf

    path = Path(path)
    if not path.parent.is_dir():
        raise OutputError(f"cannot write {path}: folder {path.parent} does not exist")
    clipped = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    if clipped.ndim == 2:
        clipped = clipped.T  # soundfile takes frames first: [S, C]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".wav")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are ordinary files
    try:
        sf.write(tmp, clipped, sample_rate, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        Path(tmp).unlink(missing_ok=True)
        reason = "the disk is full" if getattr(exc, "errno", None) == errno.ENOSPC else str(exc)
        raise OutputError(f"cannot write {path}: {reason}") from exc
    return path


def mux_audio(video: Path, wav: Path, out: Path) -> Path:
    """Copy `video`'s video stream and add `wav` as an AAC track -> `out` (MP4)."""
    import av

    with av.open(str(video)) as src, av.open(str(wav)) as aud, av.open(str(out), "w") as dst:
        vin = src.streams.video[0]
        vout = dst.add_stream_from_template(vin)
        ain = aud.streams.audio[0]
        aout = dst.add_stream("aac", rate=ain.rate)
        for packet in src.demux(vin):
            if packet.dts is None:
                continue
            packet.stream = vout
            dst.mux(packet)
        for frame in aud.decode(ain):
            frame.pts = None
            for packet in aout.encode(frame):
                dst.mux(packet)
        for packet in aout.encode(None):
            dst.mux(packet)
    return out
