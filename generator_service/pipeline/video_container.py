"""Opening the user's video with PyAV: the file checks, FFmpeg's errors as `VideoError` naming the
file, the video stream, its time origin, and the rotation and aspect conventions (clockwise turns;
sample aspect ratio applied to the width). `av` is imported inside the functions."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import VideoError


def check_file(path: Path) -> None:
    if not path.exists():
        raise VideoError(f"{path}: file not found")
    if path.is_dir():
        raise VideoError(f"{path}: is a directory, not a video file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: file is empty (0 bytes)")


def open_container(path: Path) -> Any:
    import av

    try:
        return av.open(str(path), "r")
    except av.error.FFmpegError as err:
        raise VideoError(f"{path}: not a readable media file ({ffmpeg_reason(err)})") from err


def ffmpeg_reason(err: Exception) -> str:
    """FFmpeg's own words for an error, without the repeated file name."""
    return str(getattr(err, "strerror", None) or err)


def video_stream(container: Any, path: Path) -> Any:
    """The first real video stream (cover art in audio files does not count)."""
    from av.stream import Disposition

    for stream in container.streams.video:
        if not stream.disposition & Disposition.attached_pic:
            return stream
    kinds = ", ".join(s.type for s in container.streams) or "none"
    raise VideoError(f"{path}: has no video stream (streams: {kinds})")


def stream_origin(container: Any, stream: Any) -> Fraction:
    """The first frame's time in the file's timeline (exact seconds)."""
    if stream.start_time is not None:
        return stream.start_time * stream.time_base
    if container.start_time is not None:
        return Fraction(container.start_time, 1_000_000)
    return Fraction(0)


def clockwise(counter_clockwise: float) -> int:
    """PyAV/FFmpeg's counter-clockwise display rotation -> our clockwise 0/90/180/270."""
    return int(round(-counter_clockwise / 90.0)) % 4 * 90


def stored_display_size(width: int, height: int, sar: Fraction | None) -> tuple[int, int]:
    if sar and sar > 0 and sar != 1:
        width = max(1, round(width * sar))
    return width, height
