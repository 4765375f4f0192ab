"""Putting a job's music under its clip's picture: an MP4 for clients that insert a movie strip and
a sound strip from one file (the contract face, api/contract.py).

The picture is stream-copied (not re-encoded) when the MP4 muxer can carry its codec (H.264, HEVC,
MPEG-4, AV1, VP9, MJPEG...); otherwise — a still image, a codec MP4 cannot hold — it is encoded once
with H.264 at the clip's own frame times. The music (the job's WAV, exactly the clip's length) is
encoded to AAC and interleaved with the picture by time. The file is written beside its destination
and renamed into place, so a reader never sees half an MP4.
Thread rule: blocking (decoding, encoding, file I/O); call from a worker thread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import VideoError

logger = logging.getLogger(__name__)

#: Samples per AAC frame.
AAC_FRAME = 1024


def mux_music(clip: Path, music: Path, out: Path) -> Path:
    """Write `out` (MP4): the picture of `clip` and the audio of `music` (a WAV) -> `out`."""
    import av

    tmp = out.with_name(f".{out.name}.part")
    try:
        try:
            _write(clip, music, tmp, copy=True)
        except (av.FFmpegError, ValueError) as exc:  # the MP4 muxer cannot carry this picture codec
            logger.info("re-encoding the picture of %s for MP4 (%s)", clip.name, exc)
            _write(clip, music, tmp, copy=False)
        os.replace(tmp, out)
    except av.FFmpegError as exc:
        raise VideoError(
            f"could not put the music under the clip's picture: {exc}", "The clip may be damaged; upload it again."
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _audio_frames(music: Path, rate: int) -> Iterator[Any]:
    """The WAV as AAC-sized float frames, mono, with their pts in samples."""
    import av
    import numpy as np
    import soundfile as sf

    data, sr = sf.read(str(music), dtype="float32", always_2d=True)
    if sr != rate:
        raise ValueError(f"music at {sr} Hz, expected {rate} Hz")
    mono = np.ascontiguousarray(data.mean(axis=1, dtype=np.float32)[None, :])
    for start in range(0, mono.shape[1], AAC_FRAME):
        frame = av.AudioFrame.from_ndarray(mono[:, start : start + AAC_FRAME], format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        yield frame


def _write(clip: Path, music: Path, tmp: Path, *, copy: bool) -> None:
    import av
    import soundfile as sf

    rate = sf.info(str(music)).samplerate
    with av.open(str(clip)) as source, av.open(str(tmp), "w", format="mp4") as target:
        if not source.streams.video:
            raise VideoError(f"{clip.name} has no picture to put the music under")
        vin = source.streams.video[0]
        vout = target.add_stream_from_template(vin) if copy else _h264_stream(vin, target)
        audio = target.add_stream("aac", rate=rate, layout="mono")
        pictures = _copied(source, vin, vout) if copy else _encoded(source, vin, vout)
        frames = _audio_frames(music, rate)
        pending = next(frames, None)
        for packet, seconds in pictures:
            while pending is not None and pending.pts / rate <= seconds:  # interleave by time
                target.mux(audio.encode(pending))
                pending = next(frames, None)
            target.mux(packet)
        while pending is not None:
            target.mux(audio.encode(pending))
            pending = next(frames, None)
        target.mux(audio.encode(None))


def _copied(source: Any, vin: Any, vout: Any) -> Iterator[tuple[Any, float]]:
    """The clip's picture packets, unchanged, and their time in seconds."""
    start = vin.start_time or 0
    for packet in source.demux(vin):
        if packet.dts is None:  # the demuxer's flush packet
            continue
        seconds = float(((packet.pts if packet.pts is not None else packet.dts) - start) * vin.time_base)
        packet.stream = vout
        yield packet, seconds


def _h264_stream(vin: Any, target: Any) -> Any:
    """An H.264 stream for the clip's pictures (even sizes, yuv420p, millisecond times)."""
    vout = target.add_stream("libx264", rate=vin.average_rate or vin.guessed_rate or 25)
    width, height = vin.codec_context.width, vin.codec_context.height
    vout.width, vout.height, vout.pix_fmt = width + width % 2, height + height % 2, "yuv420p"
    vout.time_base = Fraction(1, 1000)
    return vout


def _encoded(source: Any, vin: Any, vout: Any) -> Iterator[tuple[Any, float]]:
    """The clip's pictures encoded at their own times."""
    start = vin.start_time or 0
    for frame in source.decode(vin):
        seconds = float(((frame.pts or 0) - start) * vin.time_base) if frame.pts is not None else 0.0
        picture = frame.reformat(width=vout.width, height=vout.height, format="yuv420p")
        picture.pts, picture.time_base = round(seconds * 1000), Fraction(1, 1000)
        for packet in vout.encode(picture):
            yield packet, seconds
    for packet in vout.encode(None):
        yield packet, float("inf")
