"""The only module that knows how Blender 4.2 / 4.5 / 5.x name VSE data, plus strip placement.

Owns: `sequences` vs `strips` collections, the 5.2 timing renames (`frame_final_*` ->
`left_handle`/`right_handle`, `frame_start`/`frame_duration` -> `content_start`/`content_duration`,
`frame_offset_*` -> `*_handle_offset`, `animation_offset_*` -> `content_trim_*`; the old names warn
in 5.2), strip creation/removal, the video output switch of 5.0 (`image_settings.media_type`),
finding strips again and finding free channels, and the movie frame-rate cache.

Content trim (`animation_offset_*` before 5.2, `content_trim_*` from 5.2) drops source frames before
the content: the content (`content_start` .. + `content_duration`) begins with source frame
`trim_start`, so the source frame shown at timeline frame f is f - content_start + trim_start. Setting
the trim keeps `content_start` in 5.0 and moves it by the trim change in 5.2 (both measured by
rendering frames); `copy_movie_look` sets the start after the trim, so it holds either way.

Main thread only (all of it touches bpy data).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

import bpy

from .timing import StripTiming

log = logging.getLogger(__name__)

MAX_CHANNEL = 128
KEY_PROP = "expotion_key"  # id property identifying a strip across renames and moves
META_PROP = "expotion"  # id property group holding a scored strip's metadata

_STRIP_TYPE = getattr(bpy.types, "Strip", None) or bpy.types.Sequence
_STRIP_PROPS = set(_STRIP_TYPE.bl_rna.properties.keys())
_HANDLES = "left_handle" in _STRIP_PROPS  # 5.2+: same values under new names, the old ones deprecated
_LEFT = "left_handle" if _HANDLES else "frame_final_start"
_RIGHT = "right_handle" if _HANDLES else "frame_final_end"
_CONTENT_START = "content_start" if _HANDLES else "frame_start"
_CONTENT_FRAMES = "content_duration" if _HANDLES else "frame_duration"
_HANDLE_OFFSETS = (
    ("left_handle_offset", "right_handle_offset") if _HANDLES else ("frame_offset_start", "frame_offset_end")
)
_MOVIE_TYPE = getattr(bpy.types, "MovieStrip", None) or bpy.types.MovieSequence
_CONTENT_TRIM = (
    ("content_trim_start", "content_trim_end")
    if "content_trim_start" in _MOVIE_TYPE.bl_rna.properties.keys()
    else ("animation_offset_start", "animation_offset_end")
)
# Reading `MovieStrip.fps` opens the movie file (~25 ms each time in background mode, 5.0 and 5.2):
# the rate is cached per (file, size, mtime, stream).
_FPS_CACHE: dict[tuple[str, int, int, int], float] = {}
_FPS_CACHE_MAX = 256


def editor(scene: bpy.types.Scene, create: bool = False) -> Any:
    if scene.sequence_editor is None and create:
        scene.sequence_editor_create()
    return scene.sequence_editor


def top_strips(scene: bpy.types.Scene) -> Any:
    """The top-level strip collection that has `new_movie`/`new_sound`/`remove`."""
    ed = editor(scene, create=True)
    return ed.strips if hasattr(ed, "strips") else ed.sequences


def all_strips(scene: bpy.types.Scene) -> list[Any]:
    """Every strip, meta-strip contents included."""
    ed = editor(scene)
    if ed is None:
        return []
    return list(ed.strips_all if hasattr(ed, "strips_all") else ed.sequences_all)


def strip_named(scene: bpy.types.Scene, name: str) -> Any | None:
    return next((s for s in all_strips(scene) if s.name == name), None)


def selected_strips(scene: bpy.types.Scene) -> list[Any]:
    return [s for s in all_strips(scene) if s.select]


def is_movie(strip: Any) -> bool:
    return strip.type == "MOVIE"


def visible_range(strip: Any) -> tuple[int, int]:
    """First visible frame and the frame after the last (trims and offsets applied)."""
    return int(getattr(strip, _LEFT)), int(getattr(strip, _RIGHT))


def set_visible_end(strip: Any, end: int) -> None:
    setattr(strip, _RIGHT, int(end))


def content_start(strip: Any) -> float:
    """Timeline frame where the strip's content begins (before its handles are applied)."""
    return float(getattr(strip, _CONTENT_START))


def content_trim(strip: Any) -> tuple[int, int]:
    """Source frames dropped before and after the content (0, 0 for strips that have no trim)."""
    return int(getattr(strip, _CONTENT_TRIM[0], 0)), int(getattr(strip, _CONTENT_TRIM[1], 0))


def content_frames(strip: Any) -> int:
    """Length of the content in frames (for a sound strip: of its file, however far the handles reach)."""
    return int(getattr(strip, _CONTENT_FRAMES))


def is_retimed(strip: Any) -> bool:
    """Any retiming key at all (an unretimed strip has none): conservative, a proxy is then used."""
    return len(getattr(strip, "retiming_keys", ()) or ()) > 0


def scene_fps_base(scene: bpy.types.Scene) -> float:
    """`render.fps_base` is float32 (1.001 reads 1.0010000467); NTSC bases are exact decimals."""
    return round(scene.render.fps_base, 6)


def movie_fps(strip: Any) -> float:
    """The movie's own frame rate (0.0 when unknown), read from Blender once per file version."""
    path = bpy.path.abspath(strip.filepath)
    try:
        stat = os.stat(path)
    except OSError:
        return float(getattr(strip, "fps", 0.0))
    key = (path, stat.st_size, stat.st_mtime_ns, int(getattr(strip, "stream_index", 0)))
    if key not in _FPS_CACHE:
        if len(_FPS_CACHE) >= _FPS_CACHE_MAX:
            _FPS_CACHE.clear()
        _FPS_CACHE[key] = float(getattr(strip, "fps", 0.0))
    return _FPS_CACHE[key]


def movie_timing(scene: bpy.types.Scene, strip: Any) -> StripTiming:
    start, end = visible_range(strip)
    plain = not (
        getattr(strip, "use_reverse_frames", False) or getattr(strip, "strobe", 1.0) > 1.0 or is_retimed(strip)
    )
    return StripTiming(
        content_start=content_start(strip),
        visible_start=start,
        visible_end=end,
        movie_fps=movie_fps(strip),
        fps=scene.render.fps,
        fps_base=scene_fps_base(scene),
        plain=plain,
        content_frames=content_frames(strip),
        content_trim_start=content_trim(strip)[0],
    )


def movie_path(strip: Any) -> str:
    """Absolute path of a movie strip's file."""
    return os.path.abspath(bpy.path.abspath(strip.filepath))


def movie_problem(strip: Any) -> str:
    """Why the strip's movie cannot be read (empty when it can).

    The file itself is checked: a missing or broken file still yields a (1-frame) strip whose
    element has no size, but a file that vanished after the .blend was saved keeps the size stored
    in the .blend (and renders black frames)."""
    path = movie_path(strip)
    try:
        with open(path, "rb") as fh:
            if not fh.read(1):
                return f"the movie file {path} is empty"
    except FileNotFoundError:
        return f"the movie file {path} does not exist"
    except OSError as exc:
        return f"the movie file {path} cannot be read: {exc.strerror or exc}"
    elements = getattr(strip, "elements", None)
    if not elements or elements[0].orig_width <= 0 or elements[0].orig_height <= 0:
        return f"Blender cannot read the movie file {path}"
    return ""


def movie_is_readable(strip: Any) -> bool:
    return not movie_problem(strip)


def new_movie(scene: bpy.types.Scene, name: str, path: str, channel: int, frame: int) -> Any:
    return top_strips(scene).new_movie(name=name, filepath=path, channel=channel, frame_start=frame)


def new_sound(scene: bpy.types.Scene, name: str, path: str, channel: int, frame: int, frames: int) -> Any:
    """A sound strip of exactly `frames` frames at `frame` on `channel`, whose file is that long too.

    Costs ~1 ms of main-thread time for a 24-bit WAV, ~15 ms for a 16-bit one (Blender 5.0 and 5.2;
    see `wavfile`). A file Blender cannot read still gives a strip (1 frame of content whose handle
    can be dragged anywhere): such a strip is removed again and `ValueError` raised. Blender moves a
    strip that overlaps another one up a channel when its handle is set (the caller checks channels).
    """
    strip = top_strips(scene).new_sound(name=name, filepath=path, channel=channel, frame_start=frame)
    set_visible_end(strip, frame + frames)
    got = content_frames(strip)
    if got != frames or visible_range(strip) != (frame, frame + frames):
        remove(scene, strip, drop_sound=True)
        raise ValueError(f"Blender read {got} frames of sound from {path}, expected {frames}")
    return strip


def remove(scene: bpy.types.Scene, strip: Any, drop_sound: bool = False) -> None:
    """Remove a top-level strip; `drop_sound` also removes its sound data-block when nothing else uses it."""
    sound = getattr(strip, "sound", None) if drop_sound else None
    top_strips(scene).remove(strip)
    if sound is not None and sound.users == 0:
        bpy.data.sounds.remove(sound)


def find_strip(scene: bpy.types.Scene, key: str, name: str) -> Any | None:
    """The strip carrying `key` (preferring the one still called `name`), else the one named `name`."""
    strips = all_strips(scene)
    keyed = [s for s in strips if key and s.get(KEY_PROP) == key]
    for strip in keyed:
        if strip.name == name:
            return strip
    if keyed:
        return keyed[0]
    return next((s for s in strips if s.name == name and not s.get(KEY_PROP)), None)


def busy_channels(scene: bpy.types.Scene, start: int, end: int, ignore: Iterable[Any] = ()) -> set[int]:
    """Channels holding a strip that shows over [start, end) (one pass over the strips)."""
    skip = {s.as_pointer() for s in ignore}
    busy: set[int] = set()
    for strip in all_strips(scene):
        if strip.channel in busy or strip.as_pointer() in skip:
            continue
        s0, s1 = visible_range(strip)
        if s0 < end and start < s1:
            busy.add(strip.channel)
    return busy


def channel_is_free(scene: bpy.types.Scene, channel: int, start: int, end: int, ignore: Iterable[Any] = ()) -> bool:
    return channel not in busy_channels(scene, start, end, ignore)


def free_channels(
    scene: bpy.types.Scene, start: int, end: int, above: int, count: int, ignore: Iterable[Any] = ()
) -> int | None:
    """Lowest channel c > `above` with c .. c+count-1 all free over [start, end); None if none."""
    busy = busy_channels(scene, start, end, ignore)
    for first in range(above + 1, MAX_CHANNEL - count + 2):
        if not busy.intersection(range(first, first + count)):
            return first
    return None


def set_video_output(render: Any) -> None:
    """Make `render` write an H.264 MP4 (5.0 added `image_settings.media_type`)."""
    settings = render.image_settings
    if hasattr(settings, "media_type"):
        settings.media_type = "VIDEO"
    settings.file_format = "FFMPEG"
    render.ffmpeg.format = "MPEG4"
    render.ffmpeg.codec = "H264"
    render.ffmpeg.audio_codec = "NONE"


def copy_movie_look(src: Any, dst: Any) -> None:
    """Copy what decides which source frame shows when (content trim and start, handle offsets,
    reverse, strobe, stream). The trim goes first: in 5.2 setting it moves the content."""
    for attr in _CONTENT_TRIM:
        setattr(dst, attr, getattr(src, attr))
    setattr(dst, _CONTENT_START, getattr(src, _CONTENT_START))
    for attr in (*_HANDLE_OFFSETS, "use_reverse_frames", "strobe", "stream_index", "use_flip_x", "use_flip_y"):
        if hasattr(src, attr):
            setattr(dst, attr, getattr(src, attr))


def copy_placement(src: Any, dst: Any) -> None:
    """Copy where and how a strip's picture sits in the frame (transform, crop, blending), for a copy
    rendered at the same scene resolution."""
    for attr in ("scale_x", "scale_y", "offset_x", "offset_y", "rotation", "origin", "filter"):
        if hasattr(src.transform, attr):
            setattr(dst.transform, attr, getattr(src.transform, attr))
    for attr in ("min_x", "max_x", "min_y", "max_y"):
        setattr(dst.crop, attr, getattr(src.crop, attr))
    dst.blend_type, dst.blend_alpha = src.blend_type, src.blend_alpha
