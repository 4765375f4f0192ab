"""Reading a recording's music: finding its audio source and decoding it to float at one rate.

A recording's music is a sibling audio file with the video's stem (`.wav .flac .mp3 .ogg`, any case;
it wins when present) or else the video's own audio track. `decode_audio` decodes with PyAV and
resamples with `av.AudioResampler` to float32 at the requested rate, then averages the channels to
mono (as MusicGen's training data was made), or for stereo models keeps left and right (a mono
source is used for both; channels past the second are dropped).

Timeline: sample 0 of the result is clip time 0 of the video (its first frame). For the video's own
track the audio stream's first decoded time is compared with `origin` (the video's first frame time
in the file's timeline, `VideoInfo.start_time`): audio that starts later is padded with silence at
the front, audio that starts earlier is cut. A sibling file is taken to start with the video.

Every problem raises `AudioError` naming the file. Thread rule: none; each call opens its own file.
"""

from __future__ import annotations

import glob
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExpotionError
from ..progress import CancelToken

logger = logging.getLogger(__name__)

#: Suffixes of sibling audio files, in order of preference when several exist.
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg")


class AudioError(ExpotionError, ValueError):
    """A recording's audio cannot be used: missing, unreadable or empty."""

    hint = (
        "Give every video an audio track, or put an audio file with the same name next to it "
        "(.wav, .flac, .mp3 or .ogg)."
    )


@dataclass(frozen=True)
class DecodedAudio:
    """Audio of one recording: samples [S] (mono) or [2, S] (stereo) float32 at `sample_rate`;
    `source` is the file read."""

    samples: np.ndarray
    sample_rate: int
    source: Path

    @property
    def duration(self) -> float:
        return self.samples.shape[-1] / self.sample_rate


def sibling_audio(video: Path) -> Path | None:
    """The audio file next to `video` with the same stem (suffix in any case), or None."""
    by_suffix: dict[str, Path] = {}
    for candidate in video.parent.glob(f"{glob.escape(video.stem)}.*"):
        suffix = candidate.suffix.lower()
        if candidate.stem == video.stem and suffix in AUDIO_SUFFIXES and candidate.is_file():
            by_suffix.setdefault(suffix, candidate)
    for suffix in AUDIO_SUFFIXES:
        if suffix in by_suffix:
            return by_suffix[suffix]
    return None


def decode_audio(
    path: Path,
    sample_rate: int,
    *,
    origin: float | None = None,
    cancel: CancelToken | None = None,
    channels: int = 1,
) -> DecodedAudio:
    """Decode the first audio stream of `path` -> float32 [S] (`channels` 1) or [2, S] (2) at `sample_rate`.

    `origin` (seconds, the file's timeline) is where clip time 0 lies; None: the audio's own start.
    `cancel.check()` runs at every decoded frame.
    """
    import av

    path = Path(path)
    try:
        container = av.open(str(path), "r")
    except av.error.FFmpegError as err:
        raise AudioError(f"{path}: not a readable media file ({_reason(err)})") from err
    with container:
        if not container.streams.audio:
            raise AudioError(f"{path}: has no audio stream")
        stream = container.streams.audio[0]
        chunks, first_time = _decode_resampled(container, stream, sample_rate, path, cancel, channels)
    samples = np.concatenate(chunks, axis=-1) if chunks else np.zeros((2, 0) if channels == 2 else 0, np.float32)
    if samples.size == 0:
        raise AudioError(f"{path}: the audio stream has no samples")
    if origin is not None and first_time is not None:
        samples = _shift(samples, first_time - origin, sample_rate, path)
    return DecodedAudio(np.ascontiguousarray(samples, dtype=np.float32), sample_rate, path)


def _decode_resampled(
    container: Any, stream: Any, sample_rate: int, path: Path, cancel: CancelToken | None, channels: int = 1
) -> tuple[list[np.ndarray], float | None]:
    """Decode + resample every frame -> (float32 chunks [n] or [2, n], first frame time in seconds or None)."""
    import av

    # Keep the channels and average them ourselves: FFmpeg's stereo->mono downmix scales by 1/sqrt(2)
    # per channel (+3 dB on correlated stereo); MusicGen's training data (audiocraft) used the mean.
    resampler = av.AudioResampler(format="fltp", layout=None, rate=sample_rate)
    chunks: list[np.ndarray] = []
    first_time: float | None = None
    try:
        for frame in container.decode(stream):
            if cancel is not None:
                cancel.check()
            if first_time is None and frame.pts is not None and frame.time_base is not None:
                first_time = float(frame.pts * frame.time_base)
            chunks.extend(_mix(out, channels) for out in resampler.resample(frame))
        chunks.extend(_mix(out, channels) for out in resampler.resample(None))
    except av.error.FFmpegError as err:
        raise AudioError(f"{path}: decoding the audio failed ({_reason(err)})") from err
    return chunks, first_time


def _mix(frame: Any, channels: int) -> np.ndarray:
    """A planar float frame [c, n] -> the mean of its channels [n] (`channels` 1), or left and
    right [2, n] (`channels` 2; a mono frame feeds both), float32."""
    data = np.asarray(frame.to_ndarray(), dtype=np.float32)
    if channels == 1:
        return data.mean(axis=0)
    return np.repeat(data, 2, axis=0) if data.shape[0] == 1 else data[:2]


def _shift(samples: np.ndarray, offset_s: float, sample_rate: int, path: Path) -> np.ndarray:
    """Place audio starting `offset_s` after clip time 0: pad the front (> 0) or cut it (< 0)."""
    offset = int(round(offset_s * sample_rate))
    if offset > 0:
        logger.debug("%s: audio starts %.4f s after the first video frame; padding", path, offset_s)
        return np.concatenate([np.zeros((*samples.shape[:-1], offset), np.float32), samples], axis=-1)
    if offset < 0:
        logger.debug("%s: audio starts %.4f s before the first video frame; cutting", path, -offset_s)
        return samples[..., -offset:]
    return samples


def _reason(err: Exception) -> str:
    return str(getattr(err, "strerror", None) or err)
