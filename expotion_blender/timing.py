"""Frame <-> second arithmetic for scene frame rates, including NTSC rates (29.97 = 30/1.001).

Owns: the mapping of a movie strip's visible frame range to seconds in its source file, and the
decision whether that mapping is a plain offset (so the service may read the file itself).
Imports no `bpy`: callers pass plain numbers read from the strip.
"""

from __future__ import annotations

from dataclasses import dataclass

# Movie fps is stored as float32 by Blender (29.970029830932617 for 30000/1001).
FPS_MATCH_TOLERANCE = 1e-5


def scene_fps(fps: int, fps_base: float) -> float:
    """Exact scene rate: `render.fps / render.fps_base`."""
    if fps <= 0 or fps_base <= 0:
        raise ValueError(f"scene frame rate {fps}/{fps_base} is not positive")
    return fps / fps_base


def frames_to_seconds(frames: float, fps: int, fps_base: float) -> float:
    return frames * fps_base / fps


@dataclass(frozen=True)
class StripTiming:
    """What a movie strip shows, in scene frames. Source frame `content_trim_start` sits at timeline
    frame `content_start` (Blender's content trim drops the frames before it from the content)."""

    content_start: float
    visible_start: int
    visible_end: int  # exclusive
    movie_fps: float
    fps: int
    fps_base: float
    plain: bool = True  # no reverse/strobe/retiming: source time is a pure offset
    content_frames: int | None = None  # content length, trimmed frames excluded (None: unknown, assume it covers)
    content_trim_start: int = 0  # source frames dropped before the content

    @property
    def frames(self) -> int:
        return self.visible_end - self.visible_start

    @property
    def duration_s(self) -> float:
        """Length on the timeline in seconds: the length the music must have."""
        return frames_to_seconds(self.frames, self.fps, self.fps_base)

    @property
    def rates_match(self) -> bool:
        rate = scene_fps(self.fps, self.fps_base)
        return abs(self.movie_fps - rate) <= FPS_MATCH_TOLERANCE * rate

    @property
    def source_addressable(self) -> bool:
        """True when `source_start_s` + `duration_s` describe exactly what the timeline shows.

        Blender shows movie frames one per scene frame; if the movie's rate differs from the
        scene's, or the strip is reversed/strobed/retimed, only a rendered proxy is exact.
        """
        inside = self.visible_start >= self.content_start and (
            self.content_frames is None or self.visible_end <= self.content_start + self.content_frames
        )
        return self.plain and self.rates_match and inside

    @property
    def source_start_s(self) -> float:
        """Second in the source file shown at the first visible frame (valid if addressable)."""
        return frames_to_seconds(
            self.visible_start - self.content_start + self.content_trim_start, self.fps, self.fps_base
        )
