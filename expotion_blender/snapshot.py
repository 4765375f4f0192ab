"""Turn a movie strip + scene settings + preferences into a plain `JobRequest`.

Owns: which strips can be scored (and why not: the movie file itself is checked, by name), the
choice between sending a local path and uploading a rendered proxy, which music strip the result
replaces (a strip scored before gets its music replaced, not a second strip), and where results
are saved. `plan()` is the cheap part (no rendering); `request_for()` adds a blocking proxy render
(headless), the interactive path renders in steps (`proxy.ProxyRender`, driven by the runtime).
Main thread only; after this, nothing downstream reads bpy data until the result is applied.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import uuid
from typing import Any

import bpy

from . import audio_folder, avi, preferences, proxy, runtime, takes, vse
from .client import is_loopback
from .jobs import JobRequest, Target
from expotion_protocol.errors import ExpotionError
from expotion_protocol.params import JobParams
from .timing import StripTiming

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


def check_strip(strip: Any) -> None:
    """Raise `StripError` (naming the strip and its file) unless `strip` is a movie Expotion can send."""
    if not vse.is_movie(strip):
        raise StripError(f"'{strip.name}' is a {strip.type.lower()} strip, not a movie")
    problem = vse.movie_problem(strip)
    if problem:
        raise StripError(f"'{strip.name}': {problem}", MISSING_HINT)
    if vse.is_retimed(strip):
        raise StripError(f"'{strip.name}' has retiming keys, which Expotion cannot send yet",
                         "Remove the retiming (Strip > Retiming > Reset) or render the strip to a new movie.")


@dataclasses.dataclass(frozen=True)
class Plan:
    """A strip's request before its video is attached: a path (`needs_proxy` False) or a proxy to render."""

    label: str
    params: JobParams
    target: Target
    out_dir: str
    needs_proxy: bool


def plan(scene: bpy.types.Scene, strip: Any, base: JobParams, settings: preferences.Settings,
         replace_key: str = "", for_analysis: bool = False) -> Plan:
    """Check and snapshot one movie strip (cheap: no rendering). Its music strip, if it has one, is
    the one the result replaces."""
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
    by_path = use_path(settings, strip, timing)
    if by_path:
        params = dataclasses.replace(params, path=vse.movie_path(strip), start=max(0.0, timing.source_start_s))
    else:
        params = dataclasses.replace(params, path=None, start=0.0)
    params.validate()
    target = Target(scene=scene.name, strip_name=strip.name, strip_key=key, frame_start=timing.visible_start,
                    frames=timing.frames, channel=strip.channel, replace_key=replace_key)
    return Plan(strip.name, params, target, audio_dir(settings), needs_proxy=not by_path)


def request(plan_: Plan, settings: preferences.Settings, upload_path: str | None = None,
            upload_frames: avi.FrameSequence | None = None) -> JobRequest:
    return JobRequest(key=uuid.uuid4().hex, label=plan_.label, params=plan_.params, target=plan_.target,
                      out_dir=plan_.out_dir, service=settings.client, upload_path=upload_path,
                      upload_frames=upload_frames)


def request_in(scene: bpy.types.Scene, strip: Any, base: JobParams, settings: preferences.Settings,
               replace_key: str = "") -> JobRequest:
    """Snapshot one movie strip of `scene`, rendering its proxy now if one is needed (blocking)."""
    plan_ = plan(scene, strip, base, settings, replace_key)
    upload = proxy.render_proxy(scene, strip, settings.proxy_height) if plan_.needs_proxy else None
    return request(plan_, settings, upload_path=upload)


def request_for(context: Any, strip: Any, base: JobParams, settings: preferences.Settings,
                replace_key: str = "") -> JobRequest:
    """`request_in` for the context's scene."""
    return request_in(context.scene, strip, base, settings, replace_key)
