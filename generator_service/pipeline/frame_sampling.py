"""Frame sampling: decoding forward from a seek and picking, for each target time, the frame a
player would show then (upright RGB, downscaled), leaving out frames no target needs where the codec
allows it. What `video.iter_sampled_frames` runs; times are clip seconds (see pipeline/video.py).
Thread rule: none; each call opens and closes its own container."""

from __future__ import annotations

import bisect
import logging
import math
from collections import deque
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import VideoError
from ..progress import CancelToken
from .frames import SampledFrame
from .video_container import clockwise, ffmpeg_reason, open_container, stored_display_size, stream_origin, video_stream

logger = logging.getLogger(__name__)

#: Slack for comparing frame times with target times (float targets vs exact rational pts).
TIME_EPS = 1e-4
#: Codecs whose decoder can leave out non-reference frames (FFmpeg's skip_frame=NONREF) ...
SKIP_CODECS = frozenset({"h264", "hevc"})
#: ... in containers that give every packet its presentation time.
SKIP_CONTAINERS = ("mov", "mp4", "matroska")
#: Packets read ahead of the decoder to learn that a frame is needed by no target.
SKIP_LOOKAHEAD = 8


def sample_frames(
    path: Path, targets: list[float], max_side: int, cancel: CancelToken | None, skip_unsampled: bool
) -> Iterator[SampledFrame]:
    """The generator behind `iter_sampled_frames`: decode forward, pick one frame per target."""
    if not targets:
        return
    with open_container(path) as container:
        stream = video_stream(container, path)
        stream.thread_type = "AUTO"
        origin = stream_origin(container, stream)
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
        raise VideoError(f"{path}: decoding failed at {reached:.3f} s ({ffmpeg_reason(err)})") from err


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
        raise VideoError(f"{path}: cannot seek to {where} ({ffmpeg_reason(err)})") from err


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
    width, height = stored_display_size(frame.width, frame.height, sar)
    scale = min(1.0, max_side / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = "AREA" if scale < 1 else None
    rgb = reformatter.reformat(frame, width=size[0], height=size[1], format="rgb24", interpolation=interpolation)
    rgb = rgb.to_ndarray()
    turns = clockwise(frame.rotation) // 90
    if turns:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=-turns))  # np.rot90 turns counter-clockwise
    return rgb
