"""Video probing and the frame-sampling entry point: what the pipeline asks of the user's video.

Times are **clip seconds**: 0.0 is the presentation time of the video stream's first frame
(`VideoInfo.start_time` in the file's own timeline, usually 0; e.g. 1.4 s in many MPEG-TS files).
Ranges are half-open `[start, end)`. `iter_sampled_frames` yields, for each target time
`start + i / fps`, the frame a player would show at that time, upright and downscaled.

Opening the file is pipeline/video_container.py, the decoding behind `iter_sampled_frames`
pipeline/frame_sampling.py. Every problem with the file or the range raises `VideoError` naming the file. `av` is imported
inside the functions that need it, so importing this module is cheap.
Thread rule: none; each call opens and closes its own container.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import ConfigError, VideoError
from ..progress import CancelToken
from .frame_sampling import sample_frames
from .frames import SampledFrame
from .video_container import (
    check_file,
    clockwise,
    ffmpeg_reason,
    open_container,
    stored_display_size,
    stream_origin,
    video_stream,
)


@dataclass(frozen=True)
class VideoInfo:
    """What `probe_video` learned about a file's (first) video stream.

    `duration` is in seconds from the first frame to the end of the last one. `width`/`height` are
    the display size: sample aspect ratio applied, then rotation (a 1920x1080 phone clip shot
    portrait reads 1080x1920). `rotation` is the **clockwise** turn, in degrees (0/90/180/270), that
    the stored pixels need to display upright — the legacy `rotate` tag's convention; portrait phone
    clips read 90. (FFmpeg's display matrix and PyAV's `VideoFrame.rotation` count counter-clockwise:
    there the same clip reads -90.) `frame_count` is None when the container does not say and no
    scan counted it. `start_time` is the first frame's presentation time in the file's timeline.
    """

    path: Path
    duration: float
    fps: float
    width: int
    height: int
    rotation: int
    codec: str
    frame_count: int | None
    has_audio: bool
    start_time: float


def probe_video(path: str | Path) -> VideoInfo:
    """Read a video's stream facts without decoding it (one frame is decoded, for the rotation)."""
    path = Path(path)
    check_file(path)
    with open_container(path) as container:
        stream = video_stream(container, path)
        origin = stream_origin(container, stream)
        first, scan = _first_frame_and_scan(container, stream, path, need_scan=not stream.duration)
        fps = _average_fps(stream, scan)
        duration = _duration(stream, scan, origin)
        if not duration > 0:
            raise VideoError(f"{path}: the video stream has zero duration")
        rotation = clockwise(first.rotation)
        width, height = _display_size(stream, rotation)
        frame_count = stream.frames or (scan[2] if scan else None) or None
        if not fps and frame_count:
            fps = frame_count / duration
        return VideoInfo(
            path=path,
            duration=duration,
            fps=fps,
            width=width,
            height=height,
            rotation=rotation,
            codec=stream.codec_context.name,
            frame_count=frame_count,
            has_audio=bool(container.streams.audio),
            start_time=float(origin),
        )


def resolve_range(info: VideoInfo, start: float | None, end: float | None) -> tuple[float, float]:
    """The `[start, end)` clip-seconds range to use; None means the clip's start / end.

    `end` may pass the clip's end by at most half a frame (rounding in an editor) and is clamped.
    """
    lo = 0.0 if start is None else float(start)
    hi = info.duration if end is None else float(end)
    name = info.path
    if math.isnan(lo) or math.isnan(hi) or math.isinf(lo):
        raise VideoError(f"{name}: range [{lo}, {hi}) s is not a pair of numbers")
    if lo < 0:
        raise VideoError(f"{name}: range start {lo:.3f} s is negative")
    if lo >= hi:
        raise VideoError(f"{name}: range start {lo:.3f} s is not before range end {hi:.3f} s")
    if lo >= info.duration:
        raise VideoError(f"{name}: range start {lo:.3f} s lies at or after the clip end {info.duration:.3f} s")
    if hi > info.duration + 0.5 / info.fps:
        raise VideoError(f"{name}: range end {hi:.3f} s lies past the clip end {info.duration:.3f} s")
    return lo, min(hi, info.duration)


def sample_count(start: float, end: float, fps: float) -> int:
    """How many target times `start + i / fps` (i = 0, 1, ...) lie before `end`."""
    if not (math.isfinite(fps) and fps > 0):
        raise ConfigError(f"sampling fps {fps!r} must be a positive number")
    span = (end - start) * fps
    return max(0, math.ceil(span - 1e-6))


def iter_sampled_frames(
    path: str | Path,
    start: float,
    end: float,
    fps: float,
    max_side: int = 640,
    cancel: CancelToken | None = None,
    skip_unsampled: bool = True,
) -> Iterator[SampledFrame]:
    """Yield the frame shown at each target time `start + i / fps` in `[start, end)` (clip seconds).

    Seeks to the keyframe before `start` and decodes forward; the frame for time t is the last one
    with presentation time <= t (the first frame if t precedes it). `SampledFrame.time` is that
    frame's true time. Images are [H, W, 3] uint8 RGB, upright, longest side <= `max_side` (never
    upscaled). `cancel.check()` runs at every decoded frame. Raises VideoError on a decode error or
    when the file ends early, naming the time reached.

    With `skip_unsampled`, H.264/HEVC frames that no target needs are not decoded where the codec
    allows it (non-reference frames; see frame_sampling.py's `_UnsampledSkipper`): the same frames
    come out, and 25 fps x264 video sampled at 10 fps decodes ~30% fewer frames. False decodes
    every frame.
    """
    path = Path(path)
    if max_side < 1:
        raise ConfigError(f"max_side {max_side} must be at least 1 pixel")
    if not (math.isfinite(start) and math.isfinite(end) and start >= 0):
        raise VideoError(f"{path}: range [{start!r}, {end!r}) s must be finite with a non-negative start")
    count = sample_count(start, end, fps)  # validates fps
    check_file(path)
    targets = [start + i / fps for i in range(count)]
    return sample_frames(path, targets, max_side, cancel, skip_unsampled)


# -- probing helpers ---------------------------------------------------------------------------


def _first_frame_and_scan(container: Any, stream: Any, path: Path, need_scan: bool):
    """Decode the first frame; with `need_scan`, demux (not decode) every packet on the way.

    Returns `(first_frame, scan)`: scan is None or `(first_time, end_time, packet_count)`, exact
    seconds in the file's timeline.
    """
    import av

    first = None
    lo = hi = None
    count, tb = 0, stream.time_base
    rate = stream.average_rate or stream.guessed_rate
    default_duration = round(1 / (rate * tb)) if rate else 0  # for packets that do not say
    try:
        for packet in container.demux(stream):
            if first is None:
                first = next(iter(packet.decode()), None)
            if packet.pts is not None and packet.size:
                count += 1
                end = packet.pts + (packet.duration or default_duration)
                lo = packet.pts if lo is None else min(lo, packet.pts)
                hi = end if hi is None else max(hi, end)
            if first is not None and not need_scan:
                break
    except av.error.FFmpegError as err:
        raise VideoError(f"{path}: cannot read the video stream ({ffmpeg_reason(err)})") from err
    if first is None:
        raise VideoError(f"{path}: the video stream has no decodable frame")
    scan = (lo * tb, hi * tb, count) if need_scan and count else None
    return first, scan


def _average_fps(stream: Any, scan: tuple[Fraction, Fraction, int] | None) -> float:
    rate = stream.average_rate or stream.guessed_rate
    if rate:
        return float(rate)
    if scan and scan[1] > scan[0]:
        return float(scan[2] / (scan[1] - scan[0]))
    return 0.0


def _duration(stream: Any, scan: tuple[Fraction, Fraction, int] | None, origin: Fraction) -> float:
    """Seconds from the first frame to the end of the last: the stream's own duration, else a scan."""
    if stream.duration:
        return float(stream.duration * stream.time_base)
    if scan is None:
        return 0.0
    return float(scan[1] - origin)


def _display_size(stream: Any, rotation: int) -> tuple[int, int]:
    """(width, height) as displayed: sample aspect ratio, then rotation, applied."""
    width, height = stored_display_size(
        stream.codec_context.width, stream.codec_context.height, stream.sample_aspect_ratio
    )
    return (height, width) if rotation in (90, 270) else (width, height)
