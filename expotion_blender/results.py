"""Apply a finished job to the timeline: sound strips for its takes, or the replacement of one.

Owns: where the music goes (the video strip's first visible frame *now*, the first channels above it
that are free over its length), the metadata stored on the sound strips, and atomicity: either every
take of a job is placed or none is. Main thread only.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import replace
from typing import Any

import bpy

from . import vse
from .jobs import JobRequest, JobState

log = logging.getLogger(__name__)
NO_PERSON_NOTE = "No person was found in the clip: the music follows the prompt only."


def metadata(request: JobRequest, state: JobState, take: int) -> dict[str, Any]:
    """The id properties kept on a scored sound strip (what `expotion.regenerate` reads back)."""
    result = state.result
    if result is None:
        raise ValueError(f"job {state.job_id} has no result to describe")
    params = request.params
    return {
        "key": uuid.uuid4().hex, "job_id": state.job_id, "take": take, "takes": result.takes,
        "prompt": params.prompt, "prompt_used": result.prompt_used, "auto_prompt": params.auto_prompt,
        "seed": int(result.seeds[take] if take < len(result.seeds) else params.seed),
        "guidance": params.guidance, "model": result.model, "adapter": result.adapter or "",
        "service_version": result.version, "untrained": result.untrained, "visual": result.visual,
        "source_key": request.target.strip_key, "source_name": request.target.strip_name,
        "source_start_s": params.start, "duration_s": params.duration or 0.0,
    }


def _fail(state: JobState, message: str, hint: str = "") -> JobState:
    log.warning("%s: %s", state.label, message)
    return replace(state, status="failed", error=message, hint=hint)


def apply(request: JobRequest, state: JobState) -> JobState:
    """Place a succeeded job's takes; returns the state, marked failed if placing was impossible."""
    if state.status != "succeeded" or state.result is None:
        return state
    target = request.target
    scene = bpy.data.scenes.get(target.scene)
    kept = f"The music is kept in {os.path.dirname(state.take_paths[0])}." if state.take_paths else ""
    if scene is None:
        return _fail(state, f"scene '{target.scene}' no longer exists", kept)
    if target.replace_key:
        return _replace(scene, request, state, kept)
    video = vse.find_strip(scene, target.strip_key, target.strip_name)
    if video is None:
        return _fail(state, f"video strip '{target.strip_name}' was deleted while its music was generated", kept)
    start, end = vse.visible_range(video)
    frames = target.frames
    channel = vse.free_channels(scene, start, start + frames, video.channel, len(state.take_paths))
    if channel is None:
        return _fail(state, f"no {len(state.take_paths)} free channels above '{video.name}'", kept)
    _place(scene, request, state, start, channel)
    note = NO_PERSON_NOTE if state.result.visual == "null" else ""
    if end - start != frames:
        note = (note + " " if note else "") + (
            f"'{video.name}' is now {end - start} frames long; the music keeps the {frames} frames it was made for.")
    return replace(state, hint=note)


def _place(scene: bpy.types.Scene, request: JobRequest, state: JobState, start: int, channel: int) -> list[Any]:
    """Create one sound strip per take on consecutive channels; on error remove what was made."""
    made: list[Any] = []
    try:
        for take, path in enumerate(state.take_paths):
            name = f"{request.target.strip_name} music" + (f" {take + 1}" if len(state.take_paths) > 1 else "")
            strip = vse.new_sound(scene, name, bpy.path.relpath(path) if bpy.data.filepath else path,
                                  channel + take, start, request.target.frames)
            made.append(strip)
            strip.mute = take > 0
            strip[vse.META_PROP] = metadata(request, state, take)
    except (RuntimeError, TypeError, ValueError):
        for strip in made:
            vse.remove(scene, strip)
        raise
    return made


def _replace(scene: bpy.types.Scene, request: JobRequest, state: JobState, kept: str) -> JobState:
    """Regeneration: the new take takes the old strip's channel, start, name and mute state."""
    old = next((s for s in vse.all_strips(scene)
                if s.get(vse.META_PROP) and s[vse.META_PROP].get("key") == request.target.replace_key), None)
    if old is None:
        return _fail(state, "the strip being regenerated was deleted meanwhile", kept)
    start, _ = vse.visible_range(old)
    channel, name, mute = old.channel, old.name, old.mute
    frames = request.target.frames
    if not vse.channel_is_free(scene, channel, start, start + frames, ignore=(old,)):
        return _fail(state, f"channel {channel} has no room for {frames} frames at frame {start}", kept)
    take = metadata(request, state, 0)
    take["key"] = request.target.replace_key  # the strip keeps its identity and take number
    take["take"], take["takes"] = old[vse.META_PROP].get("take", 0), old[vse.META_PROP].get("takes", 1)
    vse.remove(scene, old)
    strip = vse.new_sound(scene, name, bpy.path.relpath(state.take_paths[0]) if bpy.data.filepath
                          else state.take_paths[0], channel, start, frames)
    strip.name, strip.mute = name, mute
    strip[vse.META_PROP] = take
    return state


def analysis_summary(data: dict[str, Any]) -> str:
    """One line for the panel from `POST /v1/analyze`."""
    face = (data.get("face") or {}).get("coverage")
    person = (data.get("person") or {}).get("coverage")
    tempo = (data.get("motion") or {}).get("tempo_bpm")
    parts = []
    if isinstance(person, (int, float)):
        parts.append("no person" if person == 0 else f"person {person:.0%}")
    if isinstance(face, (int, float)):
        parts.append(f"face {face:.0%}")
    if isinstance(tempo, (int, float)) and tempo > 0:
        parts.append(f"~{tempo:.0f} BPM")
    return ", ".join(parts)
