"""Video probing and frame sampling with PyAV: the only module that opens the user's video.

Times are **clip seconds**: 0.0 is the presentation time of the video stream's first frame
(`VideoInfo.start_time` in the file's own timeline, usually 0; e.g. 1.4 s in many MPEG-TS files).
Ranges are half-open `[start, end)`. `iter_sampled_frames` yields, for each target time
`start + i / fps`, the frame a player would show at that time, upright and downscaled.

Every problem with the file or the range raises `VideoError` naming the file. `av` is imported
inside the functions that need it, so importing this module is cheap.
Thread rule: none; each call opens and closes its own container.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, VideoError
from ..progress import CancelToken
from .frames import SampledFrame

logger = logging.getLogger(__name__)

#: Slack for comparing frame times with target times (float targets vs exact rational pts).
TIME_EPS = 1e-4
#: Codecs whose decoder can leave out non-reference frames (FFmpeg's skip_frame=NONREF) ...
SKIP_CODECS = frozenset({"h264", "hevc"})
#: ... in containers that give every packet its presentation time.
SKIP_CONTAINERS = ("mov", "mp4", "matroska")
#: Packets read ahead of the decoder to learn that a frame is needed by no target.
SKIP_LOOKAHEAD = 8


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
    _check_file(path)
    with _open(path) as container:
        stream = _video_stream(container, path)
        origin = _origin(container, stream)
        first, scan = _first_frame_and_scan(container, stream, path, need_scan=not stream.duration)
        fps = _average_fps(stream, scan)
        duration = _duration(stream, scan, origin)
        if not duration > 0:
            raise VideoError(f"{path}: the video stream has zero duration")
        rotation = _clockwise(first.rotation)
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
    allows it (non-reference frames; see `_UnsampledSkipper`): the same frames come out, and 25 fps
    x264 video sampled at 10 fps decodes ~30% fewer frames. False decodes every frame.
    """
    path = Path(path)
    if max_side < 1:
        raise ConfigError(f"max_side {max_side} must be at least 1 pixel")
    if not (math.isfinite(start) and math.isfinite(end) and start >= 0):
        raise VideoError(f"{path}: range [{start!r}, {end!r}) s must be finite with a non-negative start")
    count = sample_count(start, end, fps)  # validates fps
    _check_file(path)
    targets = [start + i / fps for i in range(count)]
    return _sample(path, targets, max_side, cancel, skip_unsampled)


# -- probing helpers ---------------------------------------------------------------------------


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoError(f"{path}: file not found")
    if path.is_dir():
        raise VideoError(f"{path}: is a directory, not a video file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: file is empty (0 bytes)")


def _open(path: Path) -> Any:
    import av

    try:
        return av.open(str(path), "r")
    except av.error.FFmpegError as err:
        raise VideoError(f"{path}: not a readable media file ({_reason(err)})") from err


def _reason(err: Exception) -> str:
    """FFmpeg's own words for an error, without the repeated file name."""
    return str(getattr(err, "strerror", None) or err)


def _video_stream(container: Any, path: Path) -> Any:
    """The first real video stream (cover art in audio files does not count)."""
    from av.stream import Disposition

    for stream in container.streams.video:
        if not stream.disposition & Disposition.attached_pic:
            return stream
    kinds = ", ".join(s.type for s in container.streams) or "none"
    raise VideoError(f"{path}: has no video stream (streams: {kinds})")


def _origin(container: Any, stream: Any) -> Fraction:
    """The first frame's time in the file's timeline (exact seconds)."""
    if stream.start_time is not None:
        return stream.start_time * stream.time_base
    if container.start_time is not None:
        return Fraction(container.start_time, 1_000_000)
    return Fraction(0)


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
        raise VideoError(f"{path}: cannot read the video stream ({_reason(err)})") from err
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


def _clockwise(counter_clockwise: float) -> int:
    """PyAV/FFmpeg's counter-clockwise display rotation -> our clockwise 0/90/180/270."""
    return int(round(-counter_clockwise / 90.0)) % 4 * 90


def _display_size(stream: Any, rotation: int) -> tuple[int, int]:
    """(width, height) as displayed: sample aspect ratio, then rotation, applied."""
    width, height = _stored_display_size(
        stream.codec_context.width, stream.codec_context.height, stream.sample_aspect_ratio
    )
    return (height, width) if rotation in (90, 270) else (width, height)


def _stored_display_size(width: int, height: int, sar: Fraction | None) -> tuple[int, int]:
    if sar and sar > 0 and sar != 1:
        width = max(1, round(width * sar))
    return width, height


# -- sampling ----------------------------------------------------------------------------------


def _sample(
    path: Path, targets: list[float], max_side: int, cancel: CancelToken | None, skip_unsampled: bool
) -> Iterator[SampledFrame]:
    """The generator behind `iter_sampled_frames`: decode forward, pick one frame per target."""
    if not targets:
        return
    with _open(path) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        origin = _origin(container, stream)
        fallback_step = 1.0 / float(stream.average_rate or stream.guessed_rate or 25)
        picker = _Picker(targets, max_side, fallback_step, path, stream.sample_aspect_ratio)
        skip = targets if skip_unsampled and _can_skip(container, stream) else None
        for frame, time in _decoded(container, stream, path, origin, targets[0], skip):
            if cancel is not None:
                cancel.check()
            for sample in picker.push(frame, time):
                yield sample
                if cancel is not None:  # several samples can share one frame (fps above the source's)
                    cancel.check()
            if picker.done:
                return
        yield from picker.finish()


def _decoded(
    container: Any, stream: Any, path: Path, origin: Fraction, first_target: float, skip_for: list[float] | None
):
    """Yield `(frame, clip_time)` in presentation order from the keyframe before `first_target` on.

    With `skip_for` (the sorted target times), frames none of them needs may be left out.

    A seek can land after the target (indexes hold decode times and B-frames show later; MPEG-TS
    seeks by byte estimate) or past the last keyframe: then seek again further back (1 s, 4 s,
    16 s, ... and finally the start).
    """
    back_off, attempt = 0.0, 0
    while True:
        position = max(first_target - back_off, 0.0)
        if position > TIME_EPS:
            _seek(container, stream, path, origin + position)
        elif attempt:
            _seek(container, stream, path, None)
        skipper = None if skip_for is None else _UnsampledSkipper(stream, origin, skip_for)
        frames = _frames_from_here(container, stream, path, origin, position, skipper)
        head = next(frames, None)
        if position <= TIME_EPS or (head is not None and head[1] <= first_target + TIME_EPS):
            break
        landed = "past the end" if head is None else f"at {head[1]:.3f} s"
        logger.debug("%s: seek for %.3f s landed %s; seeking further back", path, first_target, landed)
        back_off, attempt = max(1.0, 4 * back_off), attempt + 1
    if head is not None:
        yield head
        yield from frames


def _frames_from_here(
    container: Any, stream: Any, path: Path, origin: Fraction, reached: float, skipper: _UnsampledSkipper | None
):
    """Decode from the current demux position -> `(frame, clip_time)`; FFmpeg errors -> VideoError."""
    import av

    previous = None
    codec = stream.codec_context
    codec.skip_frame = "DEFAULT"
    try:
        packets = container.demux(stream)
        for packet, skip in _marked(packets) if skipper is None else skipper.marked(packets):
            codec.skip_frame = "NONREF" if skip else "DEFAULT"  # applies to this packet, threads too
            for frame in packet.decode():
                previous = reached = _frame_time(frame, origin, previous, stream)
                if skipper is not None:
                    skipper.shown = reached
                yield frame, reached
    except av.error.FFmpegError as err:
        raise VideoError(f"{path}: decoding failed at {reached:.3f} s ({_reason(err)})") from err


def _marked(packets: Iterable[Any]) -> Iterator[tuple[Any, bool]]:
    for packet in packets:
        yield packet, False


def _can_skip(container: Any, stream: Any) -> bool:
    fmt = container.format.name.split(",")
    return stream.codec_context.name in SKIP_CODECS and any(name in fmt for name in SKIP_CONTAINERS)


class _UnsampledSkipper:
    """Marks the packets whose frame no target needs, reading `SKIP_LOOKAHEAD` packets ahead.

    A frame at time p answers the targets in [p, q) where q is the next frame's time. So when a
    frame later than p is known (read before it or in the lookahead; the earliest such at q' >= q)
    and no target lies in [p, q'), the frame answers none: marked, FFmpeg skips it if no other frame
    refers to it. The frame that answers a target is never marked (every later frame lies past the
    target), and neither is any frame until one has come out of the decoder (leading pictures after
    a seek may be dropped by the decoder, and a frame that never comes out must not be the reason
    to leave out another). A packet with data but no time stops all marking for the pass.
    """

    def __init__(self, stream: Any, origin: Fraction, targets: list[float]) -> None:
        self.time_base = stream.time_base
        self.origin = origin
        self.targets = targets
        self.shown: float | None = None  # clip time of the last frame out of the decoder
        self.stopped = False
        self._known: list[float] = []  # sorted times of the packets read, past `shown`

    def marked(self, packets: Iterable[Any]) -> Iterator[tuple[Any, bool]]:
        """`(packet, skip)` in demux order."""
        window: deque[tuple[Any, float | None]] = deque()
        for packet in packets:
            time = self._time(packet)
            window.append((packet, time))
            if time is not None:
                bisect.insort(self._known, time)
            if len(window) > SKIP_LOOKAHEAD:
                yield self._mark(*window.popleft())
        while window:
            yield self._mark(*window.popleft())

    def _time(self, packet: Any) -> float | None:
        if packet.pts is None:
            self.stopped = self.stopped or bool(packet.size)
            return None
        return float(packet.pts * self.time_base - self.origin)

    def _mark(self, packet: Any, time: float | None) -> tuple[Any, bool]:
        if self.stopped or time is None or self.shown is None or time <= self.shown:
            return packet, False
        del self._known[: bisect.bisect_right(self._known, self.shown)]  # no longer "later" than anything
        later = bisect.bisect_right(self._known, time)
        if later == len(self._known):
            return packet, False
        first = bisect.bisect_left(self.targets, time - TIME_EPS)  # the first target this frame could answer
        return packet, first == len(self.targets) or self.targets[first] >= self._known[later] - TIME_EPS


def _seek(container: Any, stream: Any, path: Path, file_time: float | None) -> None:
    """Seek to the keyframe at or before `file_time` (file timeline); None: the very beginning."""
    import av

    # Seeking to the first frame's own time can fail (MPEG-TS searches decode times): go far below.
    offset = -(2**62) if file_time is None else math.floor(file_time / stream.time_base)
    try:
        container.seek(offset, stream=stream, backward=True)
    except av.error.FFmpegError as err:
        where = "the start" if file_time is None else f"{file_time:.3f} s"
        raise VideoError(f"{path}: cannot seek to {where} ({_reason(err)})") from err


def _frame_time(frame: Any, origin: Fraction, previous: float | None, stream: Any) -> float:
    """A decoded frame's clip time; frames without pts follow the previous one by one frame."""
    if frame.pts is not None:
        return float(frame.pts * frame.time_base - origin)
    if previous is None:
        return 0.0
    return previous + 1.0 / float(stream.average_rate or stream.guessed_rate or 25)


class _Picker:
    """Turns frames in presentation order into one `SampledFrame` per target time."""

    def __init__(
        self, targets: list[float], max_side: int, fallback_step: float, path: Path, sar: Fraction | None
    ) -> None:
        self.targets = targets
        self.sar = sar
        self.max_side = max_side
        self.fallback_step = fallback_step
        self.path = path
        self.index = 0
        self.shown: tuple[Any, float] | None = None  # the frame on screen now and its time
        self._image_for: tuple[float, np.ndarray] | None = None
        self._reformatter: Any = None  # one scaler for the clip: FFmpeg builds its filters once

    @property
    def done(self) -> bool:
        return self.index >= len(self.targets)

    def push(self, frame: Any, time: float) -> Iterator[SampledFrame]:
        """A new frame arrives: every target before it is answered by the frame shown until now."""
        while not self.done and time > self.targets[self.index] + TIME_EPS:
            yield self._emit(*(self.shown or (frame, time)))
        self.shown = (frame, time)

    def finish(self) -> Iterator[SampledFrame]:
        """End of stream: the last frame answers the rest, unless they lie past its end (truncation)."""
        if self.shown is None:
            if self.done:
                return
            raise VideoError(
                f"{self.path}: no frame could be decoded at or after {self.targets[self.index]:.3f} s (file truncated?)"
            )
        frame, time = self.shown
        step = self.fallback_step
        if frame.duration and frame.time_base:
            step = float(frame.duration * frame.time_base)
        while not self.done:
            target = self.targets[self.index]
            if target > time + 1.5 * step:
                raise VideoError(
                    f"{self.path}: the video stream ends at {time + step:.3f} s but frames "
                    f"were asked up to {self.targets[-1]:.3f} s (file truncated?)"
                )
            yield self._emit(frame, time)

    def _emit(self, frame: Any, time: float) -> SampledFrame:
        if self._image_for is None or self._image_for[0] != time:
            if self._reformatter is None:
                from av.video.reformatter import VideoReformatter

                self._reformatter = VideoReformatter()
            self._image_for = (time, _upright_rgb(frame, self.max_side, self.sar, self._reformatter))
        sample = SampledFrame(
            index=self.index, target_time=self.targets[self.index], time=time, image=self._image_for[1]
        )
        self.index += 1
        return sample


def _upright_rgb(frame: Any, max_side: int, sar: Fraction | None, reformatter: Any) -> np.ndarray:
    """A decoded frame -> [H, W, 3] uint8 RGB, aspect and rotation applied, longest side <= max_side.

    Scaling and the YUV -> RGB conversion are one pass of FFmpeg's scaler; `reformatter` (a PyAV
    `VideoReformatter`) keeps that scaler between frames of a clip (rebuilding it costs more than
    the conversion itself at 720p).
    """
    width, height = _stored_display_size(frame.width, frame.height, sar)
    scale = min(1.0, max_side / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = "AREA" if scale < 1 else None
    rgb = reformatter.reformat(frame, width=size[0], height=size[1], format="rgb24", interpolation=interpolation)
    rgb = rgb.to_ndarray()
    turns = _clockwise(frame.rotation) // 90
    if turns:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=-turns))  # np.rot90 turns counter-clockwise
    return rgb
