"""Turn selected strips + scene settings + preferences into plain `JobRequest`s.

Owns: which strips can be scored (and why not), the choice between sending a local path and
uploading a rendered proxy, and where results are saved. Main thread only; after this, nothing
downstream reads bpy data until the result is applied.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import uuid
from typing import Any

import bpy

from . import preferences, proxy, runtime, vse
from .client import is_loopback
from .jobs import JobRequest, Target
from .protocol import ExpotionError, JobParams
from .timing import StripTiming

log = logging.getLogger(__name__)


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
    """Absolute folder for generated music (the temp folder when the .blend is unsaved)."""
    folder = settings.audio_dir or "//expotion_audio/"
    if folder.startswith("//") and not bpy.data.filepath:
        return os.path.join(tempfile.gettempdir(), "expotion_audio")
    return os.path.abspath(bpy.path.abspath(folder))


def use_path(settings: preferences.Settings, strip: Any, timing: StripTiming) -> bool:
    """Send a local path + range (True) or upload a proxy of exactly the visible range (False)."""
    if settings.transfer == "UPLOAD":
        return False
    if settings.transfer == "PATH":
        if not timing.source_addressable:
            raise StripError(f"'{strip.name}' plays at {timing.movie_fps:.3f} fps in a "
                             f"{timing.fps / timing.fps_base:.3f} fps scene or is retimed/reversed",
                             "Set 'Send video as' to Automatic or Upload proxy.")
        return True
    health = runtime.service_state()["health"]
    return bool(timing.source_addressable and health is not None and health.path_mode
                and is_loopback(settings.client.base_url))


def request_for(context: bpy.types.Context, strip: Any, base: JobParams, settings: preferences.Settings,
                replace_key: str = "") -> JobRequest:
    """Snapshot one movie strip (rendering its proxy if needed) into a request."""
    scene = context.scene
    if not vse.is_movie(strip):
        raise StripError(f"'{strip.name}' is a {strip.type.lower()} strip, not a movie")
    if not vse.movie_is_readable(strip):
        raise StripError(f"the movie of '{strip.name}' cannot be read: {strip.filepath}",
                         "Fix the file path (File > External Data > Find Missing Files).")
    if vse.is_retimed(strip):
        raise StripError(f"'{strip.name}' has retiming keys, which Expotion cannot send yet",
                         "Remove the retiming (Strip > Retiming > Reset) or render the strip to a new movie.")
    timing = vse.movie_timing(scene, strip)
    if timing.frames < 1:
        raise StripError(f"'{strip.name}' shows no frames")
    key = strip.get(vse.KEY_PROP) or uuid.uuid4().hex
    strip[vse.KEY_PROP] = key
    params = dataclasses.replace(base, duration=timing.duration_s, end=None)
    upload = None
    if use_path(settings, strip, timing):
        params = dataclasses.replace(params, path=os.path.abspath(bpy.path.abspath(strip.filepath)),
                                     start=max(0.0, timing.source_start_s))
    else:
        params = dataclasses.replace(params, path=None, start=0.0)
        upload = proxy.render_proxy(scene, strip, settings.proxy_height)
    params.validate()
    target = Target(scene=scene.name, strip_name=strip.name, strip_key=key, frame_start=timing.visible_start,
                    frames=timing.frames, channel=strip.channel, replace_key=replace_key)
    return JobRequest(key=uuid.uuid4().hex, label=strip.name, params=params, target=target,
                      out_dir=audio_dir(settings), service=settings.client, upload_path=upload)
