"""Turn a movie strip — or a range of the edit (`timeline`) — + scene settings + preferences into a
plain `JobRequest`.

Owns: which strips can be scored (and why not: the movie file itself is checked, by name), the
choice between sending a local path and uploading a rendered proxy, the hit points sent (a range's
cuts; the timeline markers when the panel's "Markers as Hits" is on), which music strip the result
replaces (a strip or range scored before gets its music replaced, not a second strip), and where
results are saved. `plan()` is the cheap part (no rendering); `request_for()` adds a blocking proxy render
(headless), the interactive path renders in steps (`proxy.ProxyRender`, driven by the runtime).
With a temp track (`expotion.replace_temp_track`), the request carries the temp as the melody: its
file (uploaded) and the second heard at the range's start (`temp_track.melody_for`).
What it needs to know about the service (whether it reads local paths) is passed in: it reads bpy
data and preferences, never the runtime's state. Main thread only; after this, nothing downstream reads bpy data until the result is applied.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import uuid
from typing import Any

import bpy

from expotion_protocol.errors import ExpotionError
from expotion_protocol.params import JobParams

from . import audio_folder, avi, preferences, proxy, takes, temp_track, timeline, vse
from .client import is_loopback
from .jobs import JobRequest, Target, TempRef
from .timing import StripTiming, frames_to_seconds

log = logging.getLogger(__name__)
MISSING_HINT = "Fix the file path (File > External Data > Find Missing Files) or restore the file."


class StripError(ExpotionError, ValueError):
    """A strip cannot be scored as it is."""


def remove_file(path: str | None) -> None:
    if path and os.path.exists(path):
        os.remove(path)


def why_not_scorable(scene: bpy.types.Scene) -> str:
    """Empty when the selection can be scored, else the reason (used by `poll`)."""
    if vse.editor(scene) is None:
        return "The scene has no sequencer strips"
    selected = vse.selected_strips(scene)
    if not selected:
        return "Select one or more movie strips"
    if not any(vse.is_movie(s) for s in selected):
        return "Only movie strips can be scored; the selection has none"
    return ""


def audio_dir(settings: preferences.Settings) -> str:
    """Absolute folder for generated music (a holding folder while the .blend is unsaved, whose
    files move next to the .blend when it is saved: `audio_folder`)."""
    return audio_folder.audio_dir(settings.audio_dir)


def use_path(settings: preferences.Settings, strip: Any, timing: StripTiming, *, path_mode: bool) -> bool:
    """Send a local path + range (True) or upload a proxy of exactly the visible range (False).
    `path_mode`: the service, as last checked, reads local paths (its health's `path_mode`)."""
    if settings.transfer == "UPLOAD":
        return False
    if settings.transfer == "PATH":
        if not timing.source_addressable:
            raise StripError(
                f"'{strip.name}' plays at {timing.movie_fps:.3f} fps in a "
                f"{timing.fps / timing.fps_base:.3f} fps scene or is retimed/reversed",
                "Set 'Send video as' to Automatic or Upload proxy.",
            )
        return True
    return timing.source_addressable and path_mode and is_loopback(settings.client.base_url)


def check_strip(strip: Any) -> None:
    """Raise `StripError` (naming the strip and its file) unless `strip` is a movie Expotion can send."""
    if not vse.is_movie(strip):
        raise StripError(f"'{strip.name}' is a {strip.type.lower()} strip, not a movie")
    problem = vse.movie_problem(strip)
    if problem:
        raise StripError(f"'{strip.name}': {problem}", MISSING_HINT)
    if vse.is_retimed(strip):
        raise StripError(
            f"'{strip.name}' has retiming keys, which Expotion cannot send yet",
            "Remove the retiming (Strip > Retiming > Reset) or render the strip to a new movie.",
        )


@dataclasses.dataclass(frozen=True)
class Plan:
    """A request before its video is attached: a path (`needs_proxy` False) or a proxy to render
    (`picture`; None: the strip's own visible range)."""

    label: str
    params: JobParams
    target: Target
    out_dir: str
    needs_proxy: bool
    picture: proxy.Picture | None = None
    melody_upload: str | None = None  # the temp track's file, uploaded as the melody


def with_temp(
    scene: bpy.types.Scene, temp: TempRef | None, params: JobParams, first_frame: int, frames: int
) -> tuple[JobParams, str | None]:
    """`params` following the temp's melody under the range -> (params, the temp's file to upload).
    The temp is always uploaded, even when the video goes by path: the service reads paths only
    under its media root, which a temp from a music library is seldom in (API users may name one
    in `params.melody_path`)."""
    if temp is None:
        return params, None
    melody = temp_track.melody_for(scene, temp, first_frame, frames)
    return dataclasses.replace(params, melody_path=None, melody_start=melody.start_s).validate(), melody.path


def plan(
    scene: bpy.types.Scene,
    strip: Any,
    base: JobParams,
    settings: preferences.Settings,
    replace_key: str = "",
    for_analysis: bool = False,
    *,
    path_mode: bool,
    temp: TempRef | None = None,
) -> Plan:
    """Check and snapshot one movie strip (cheap: no rendering). Its music strip, if it has one, is
    the one the result replaces. `path_mode`: the service reads local paths (`use_path`)."""
    check_strip(strip)
    timing = vse.movie_timing(scene, strip)
    if timing.frames < 1:
        raise StripError(f"'{strip.name}' shows no frames")
    key = strip.get(vse.KEY_PROP) or uuid.uuid4().hex
    strip[vse.KEY_PROP] = key
    if not replace_key and not for_analysis:
        music = takes.music_strip(scene, strip)
        replace_key = str(music[vse.META_PROP].get("key", "")) if music is not None else ""
    params = dataclasses.replace(base, duration=timing.duration_s, end=None)
    by_path = use_path(settings, strip, timing, path_mode=path_mode)
    if by_path:
        params = dataclasses.replace(params, path=vse.movie_path(strip), start=max(0.0, timing.source_start_s))
    else:
        params = dataclasses.replace(params, path=None, start=0.0)
    if scene.expotion.marker_hits and not for_analysis:
        span = timeline.Span(timing.visible_start, timing.visible_end)
        params = dataclasses.replace(
            params, hits=timeline.hit_points(scene, span, params.start, [], timeline.markers(scene, span))
        )
    params.validate()
    params, melody_upload = with_temp(scene, temp, params, timing.visible_start, timing.frames)
    target = Target(
        scene=scene.name,
        strip_name=strip.name,
        strip_key=key,
        frame_start=timing.visible_start,
        frames=timing.frames,
        channel=strip.channel,
        replace_key=replace_key,
        temp=temp,
    )
    return Plan(strip.name, params, target, audio_dir(settings), needs_proxy=not by_path, melody_upload=melody_upload)


def plan_range(
    scene: bpy.types.Scene,
    span: timeline.Span,
    base: JobParams,
    settings: preferences.Settings,
    replace_key: str = "",
    *,
    path_mode: bool,
    temp: TempRef | None = None,
) -> Plan:
    """Snapshot a range of the edit scored as one piece (cheap: no rendering): its cuts (and markers)
    as hits, by path when one plain strip shows all of it, else a proxy of the movie strips as the
    edit composes them. A range scored before gets its music replaced."""
    strips = timeline.movies(scene, span)
    if not strips:
        raise StripError(
            f"no movie strip shows in frames {span.start}-{span.end - 1}",
            "Put a movie strip in the range, or set the preview range over one.",
        )
    for strip in strips:
        check_strip(strip)
    if not replace_key:
        music = takes.timeline_music(scene, span.start, span.end)
        replace_key = str(music[vse.META_PROP].get("key", "")) if music is not None else ""
    single = timeline.one_plain_strip(strips, span)
    timing = (
        None
        if single is None
        else dataclasses.replace(vse.movie_timing(scene, single), visible_start=span.start, visible_end=span.end)
    )
    by_path = timing is not None and use_path(settings, single, timing, path_mode=path_mode)
    start_s = max(0.0, timing.source_start_s) if by_path and timing is not None else 0.0
    marks = timeline.markers(scene, span) if scene.expotion.marker_hits else []
    params = dataclasses.replace(
        base,
        start=start_s,
        end=None,
        duration=frames_to_seconds(span.frames, scene.render.fps, vse.scene_fps_base(scene)),
        path=vse.movie_path(single) if by_path else None,
        hits=timeline.hit_points(scene, span, start_s, timeline.cuts(strips, span), marks),
    ).validate()
    params, melody_upload = with_temp(scene, temp, params, span.start, span.frames)
    target = Target(
        scene=scene.name,
        strip_name=span.label,
        strip_key=span.key(scene),
        frame_start=span.start,
        frames=span.frames,
        channel=max(s.channel for s in strips),
        replace_key=replace_key,
        timeline=(span.start, span.end),
        temp=temp,
    )
    picture = None if by_path else proxy.Picture.of_range(scene, strips, span.start, span.end, settings.proxy_height)
    return Plan(
        span.label,
        params,
        target,
        audio_dir(settings),
        needs_proxy=not by_path,
        picture=picture,
        melody_upload=melody_upload,
    )


def request(
    plan_: Plan,
    settings: preferences.Settings,
    upload_path: str | None = None,
    upload_frames: avi.FrameSequence | None = None,
) -> JobRequest:
    return JobRequest(
        key=uuid.uuid4().hex,
        label=plan_.label,
        params=plan_.params,
        target=plan_.target,
        out_dir=plan_.out_dir,
        service=settings.client,
        upload_path=upload_path,
        upload_frames=upload_frames,
        melody_upload=plan_.melody_upload,
    )


def request_in(
    scene: bpy.types.Scene,
    strip: Any,
    base: JobParams,
    settings: preferences.Settings,
    replace_key: str = "",
    *,
    path_mode: bool,
    temp: TempRef | None = None,
) -> JobRequest:
    """Snapshot one movie strip of `scene`, rendering its proxy now if one is needed (blocking)."""
    plan_ = plan(scene, strip, base, settings, replace_key, path_mode=path_mode, temp=temp)
    upload = proxy.render_proxy(scene, strip, settings.proxy_height) if plan_.needs_proxy else None
    return request(plan_, settings, upload_path=upload)


def request_in_range(
    scene: bpy.types.Scene,
    span: timeline.Span,
    base: JobParams,
    settings: preferences.Settings,
    replace_key: str = "",
    *,
    path_mode: bool,
    temp: TempRef | None = None,
) -> JobRequest:
    """Snapshot a range of `scene`, rendering its proxy now if one is needed (blocking: headless runs)."""
    plan_ = plan_range(scene, span, base, settings, replace_key, path_mode=path_mode, temp=temp)
    upload = proxy.render_proxy(scene, None, settings.proxy_height, plan_.picture) if plan_.needs_proxy else None
    return request(plan_, settings, upload_path=upload)


def request_for(
    context: Any, strip: Any, base: JobParams, settings: preferences.Settings, replace_key: str = "", *, path_mode: bool
) -> JobRequest:
    """`request_in` for the context's scene."""
    return request_in(context.scene, strip, base, settings, replace_key, path_mode=path_mode)
