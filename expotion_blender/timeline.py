"""A range of the edit scored as one piece (`expotion.score_timeline`), and the hit points of any range.

Owns: which range (`scoring_range`: the preview range if set, else the span of the selected strips,
else the scene's range), which movie strip is visible at each frame (the topmost unmuted top-level
movie strip; other strip types are not looked at), the cut list (frames where the visible movie
changes, to another movie or to none), the timeline markers in a range, both as hit points on the
source clock the service expects (`expotion_protocol.params.HitPoint`: seconds from the range's
first frame plus the request's `start`), and whether one plain strip shows the whole range (it
may then go by path; `snapshot.plan_range` makes the request). Main thread only (reads bpy data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import bpy

from expotion_protocol.params import HitPoint

from . import vse
from .timing import frames_to_seconds

#: What each kind of hit asks of the music (the lock weighs strong hits above weak ones).
CUT_STRENGTH = 1.0
MARKER_STRENGTH = 1.0


@dataclass(frozen=True)
class Span:
    """Timeline frames [start, end) and where the range came from: "preview", "selection", "scene"
    (or "stored": read back from a music strip's metadata)."""

    start: int
    end: int
    source: str = "scene"

    @property
    def frames(self) -> int:
        return self.end - self.start

    @property
    def label(self) -> str:
        return f"Timeline {self.start}-{self.end - 1}"

    def key(self, scene: bpy.types.Scene) -> str:
        """The range's identity for the job list (one job per range at a time)."""
        return f"timeline:{scene.name}:{self.start}-{self.end}"


def scoring_range(scene: bpy.types.Scene) -> Span:
    """The preview range if it is on, else the span of the selected strips, else the scene's range."""
    if scene.use_preview_range:
        return Span(scene.frame_preview_start, scene.frame_preview_end + 1, "preview")
    selected = vse.selected_strips(scene)
    if selected:
        spans = [vse.visible_range(s) for s in selected]
        return Span(min(a for a, _ in spans), max(b for _, b in spans), "selection")
    return Span(scene.frame_start, scene.frame_end + 1, "scene")


def movies(scene: bpy.types.Scene, span: Span) -> list[Any]:
    """Top-level unmuted movie strips showing any frame of `span`, lowest channel first."""
    found = [s for s in vse.top_strips(scene) if vse.is_movie(s) and not s.mute]
    inside = [s for s in found if vse.visible_range(s)[0] < span.end and span.start < vse.visible_range(s)[1]]
    return sorted(inside, key=lambda s: s.channel)


def visible_movie(strips: list[Any], frame: int) -> Any | None:
    """The movie of `strips` (lowest channel first) shown at `frame`: the topmost one covering it."""
    shown = None
    for strip in strips:
        start, end = vse.visible_range(strip)
        if start <= frame < end:
            shown = strip
    return shown


def cuts(strips: list[Any], span: Span) -> list[int]:
    """Frames in (start, end) where the visible movie changes (to another movie or to none)."""
    edges = sorted({f for s in strips for f in vse.visible_range(s) if span.start < f < span.end})
    out, shown = [], visible_movie(strips, span.start)
    for frame in edges:
        now = visible_movie(strips, frame)
        if now is not shown:
            out.append(frame)
        shown = now
    return out


def markers(scene: bpy.types.Scene, span: Span) -> list[int]:
    """Frames of the timeline markers inside [start, end), in order."""
    return sorted(m.frame for m in scene.timeline_markers if span.start <= m.frame < span.end)


def hit_points(
    scene: bpy.types.Scene, span: Span, start_s: float, cut_frames: list[int], marker_frames: list[int]
) -> tuple[HitPoint, ...]:
    """Cuts and markers as hit points: seconds from the range's first frame, plus `start_s` (the
    request's `start`: where the range begins in the file the service reads)."""

    def at(frame: int) -> float:
        return round(start_s + frames_to_seconds(frame - span.start, scene.render.fps, vse.scene_fps_base(scene)), 6)

    hits = [HitPoint(at(f), "cut", CUT_STRENGTH) for f in cut_frames]
    hits += [HitPoint(at(f), "marker", MARKER_STRENGTH) for f in marker_frames]
    return tuple(sorted(hits, key=lambda h: (h.t, h.kind)))


def one_plain_strip(strips: list[Any], span: Span) -> Any | None:
    """The strip when a single movie shows every frame of the range (no cut, no gap), else None."""
    if len(strips) != 1:
        return None
    start, end = vse.visible_range(strips[0])
    return strips[0] if start <= span.start and span.end <= end else None


def why_not_scorable(scene: bpy.types.Scene) -> str:
    """Empty when the scene's scoring range shows a movie, else the reason (used by `poll`)."""
    if vse.editor(scene) is None:
        return "The scene has no sequencer strips"
    span = scoring_range(scene)
    if span.frames < 1:
        return f"The {span.source} range is empty"
    if not movies(scene, span):
        return f"No movie strip shows in the {span.source} range (frames {span.start}-{span.end - 1})"
    return ""


def marker_hits_for(scene: bpy.types.Scene, start: int, end: int, start_s: float) -> tuple[HitPoint, ...]:
    """The markers of frames [start, end) as hit points (per-strip scoring), when the panel asks for them."""
    if not scene.expotion.marker_hits:
        return ()
    span = Span(start, end)
    return hit_points(scene, span, start_s, [], markers(scene, span))
