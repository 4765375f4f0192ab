"""The music of a video strip: one sound strip ("the music strip") and every take ever made for it.

Owns: finding a video strip's (or a timeline range's) music strip, the takes list kept on it, putting a take on the timeline
in place of another (swap), and auditioning a take solo.

A music strip carries two id properties: `expotion` (the metadata of the take it plays, plus its own
`key`, which stays the same whatever take it plays) and `expotion_takes` (every take made for it:
the takes of each scoring and regeneration, newest last, each with its file, frames, prompt, seed,
model and what the service reported, e.g. precision and beat lock). Re-scoring a video strip or
regenerating its music adds takes and swaps the first new one in; older takes stay in the list (and
their WAVs in the audio folder) to be auditioned and swapped in again. Id properties undo with the
strip. Main thread only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import bpy

from expotion_protocol.errors import ExpotionError

from . import vse

TAKES_PROP = "expotion_takes"
AUDITION_PROP = "expotion_audition"  # scene property while a take is auditioned solo
#: Keys of the take metadata that describe the strip, not the take (kept across swaps).
STRIP_KEYS = ("key",)


class TakeError(ExpotionError, ValueError):
    """A take cannot be put on the timeline (file gone, no room)."""


def meta(strip: Any) -> dict[str, Any] | None:
    """The Expotion metadata of a strip as a plain dict (None for other strips)."""
    data = strip.get(vse.META_PROP) if strip is not None else None
    return data.to_dict() if data is not None and hasattr(data, "to_dict") else None


def is_music(strip: Any) -> bool:
    return strip is not None and strip.type == "SOUND" and strip.get(vse.META_PROP) is not None


def takes_of(strip: Any) -> list[dict[str, Any]]:
    """Every take of a music strip, oldest first (a strip from before take lists: its own take)."""
    stored = strip.get(TAKES_PROP)
    if stored is not None:
        return [t.to_dict() if hasattr(t, "to_dict") else dict(t) for t in stored]
    current = meta(strip)
    return [dict(current, take_id=current.get("take_id") or current.get("key", ""))] if current else []


def current_take_id(strip: Any) -> str:
    data = meta(strip) or {}
    return str(data.get("take_id") or data.get("key", ""))


def set_takes(strip: Any, takes: Iterable[dict[str, Any]]) -> None:
    strip[TAKES_PROP] = [dict(t) for t in takes]


def active_music(scene: bpy.types.Scene | None) -> Any | None:
    """The scene's active strip when it is an Expotion music strip, else None."""
    ed = vse.editor(scene) if scene is not None else None
    strip = getattr(ed, "active_strip", None) if ed is not None else None
    return strip if is_music(strip) else None


def music_strips(scene: bpy.types.Scene, video: Any) -> list[Any]:
    """Music strips made for `video` (by its key and name), the one that plays first."""
    key = video.get(vse.KEY_PROP)
    if not key:
        return []
    found = [s for s in vse.all_strips(scene) if is_music(s) and s[vse.META_PROP].get("source_key") == key]
    named = [s for s in found if s[vse.META_PROP].get("source_name") == video.name]
    return sorted(named or found, key=lambda s: (s.mute, s.channel))


def music_strip(scene: bpy.types.Scene, video: Any) -> Any | None:
    strips = music_strips(scene, video)
    return strips[0] if strips else None


def timeline_music(scene: bpy.types.Scene, start: int, end: int) -> Any | None:
    """The music strip made for the timeline range [start, end) (`expotion.score_timeline`), if any."""
    found = [
        s for s in vse.all_strips(scene) if is_music(s) and list(s[vse.META_PROP].get("timeline") or ()) == [start, end]
    ]
    return min(found, key=lambda s: (s.mute, s.channel)) if found else None


def find_by_key(scene: bpy.types.Scene, key: str) -> Any | None:
    return next((s for s in vse.all_strips(scene) if is_music(s) and s[vse.META_PROP].get("key") == key), None)


def take_file(take: dict[str, Any]) -> str:
    return os.path.abspath(bpy.path.abspath(str(take.get("file", ""))))


def stored_path(path: str) -> str:
    """How a file is written into the .blend: relative to it once it is saved."""
    return bpy.path.relpath(path) if bpy.data.filepath else path


def put(scene: bpy.types.Scene, old: Any | None, path: str, frames: int, start: int, channel: int, name: str) -> Any:
    """A new sound strip of `frames` frames at `start` on `channel` in place of `old` (removed after
    the new one exists, so a failure leaves `old`). Blender moves a new strip up while it overlaps
    `old`; it goes back to `channel` once `old` is gone."""
    if not os.path.isfile(path):
        raise TakeError(f"the music file {path} does not exist", "It was moved or deleted outside Blender.")
    strip = vse.new_sound(scene, name, stored_path(path), channel, start, frames)
    if old is not None:
        mute = old.mute
        try:
            vse.remove(scene, old)
        except RuntimeError:  # e.g. moved into a meta strip meanwhile
            vse.remove(scene, strip, drop_sound=True)
            raise
        strip.mute = mute
    strip.channel, strip.name = channel, name
    return strip


def swap(scene: bpy.types.Scene, strip: Any, take_id: str) -> Any:
    """Put take `take_id` of music strip `strip` on the timeline in its place -> the new strip."""
    takes = takes_of(strip)
    take = next((t for t in takes if t.get("take_id") == take_id), None)
    if take is None:
        raise TakeError(f"'{strip.name}' has no take {take_id}")
    start, _ = vse.visible_range(strip)
    frames = int(take.get("frames") or vse.visible_range(strip)[1] - start)
    if not vse.channel_is_free(scene, strip.channel, start, start + frames, ignore=(strip,)):
        raise TakeError(
            f"channel {strip.channel} has no room for the {frames} frames of this take",
            "Move the strip that follows it, or the music strip to a free channel.",
        )
    key = strip[vse.META_PROP]["key"]
    new = put(scene, strip, take_file(take), frames, start, strip.channel, strip.name)
    new[vse.META_PROP] = dict(take, key=key)
    set_takes(new, takes)
    return new


def delete(strip: Any, take_id: str) -> None:
    """Remove a take from the list (not the one playing; its WAV stays in the audio folder)."""
    if take_id == current_take_id(strip):
        raise TakeError("the take that plays cannot be removed", "Swap in another take first.")
    takes = takes_of(strip)
    kept = [t for t in takes if t.get("take_id") != take_id]
    if len(kept) == len(takes):
        raise TakeError(f"'{strip.name}' has no take {take_id}")
    set_takes(strip, kept)


# -- audition -----------------------------------------------------------------------------------
def audition_state(scene: bpy.types.Scene) -> dict[str, Any] | None:
    data = scene.get(AUDITION_PROP)
    return data.to_dict() if data is not None else None


def audition(scene: bpy.types.Scene, strip: Any, take_id: str) -> Any:
    """Play take `take_id` solo: swap it in and mute every other sound strip over its range (what
    was muted and the take that played are remembered) -> the music strip."""
    state = audition_state(scene)
    if state is not None and state["strip"] != strip[vse.META_PROP]["key"]:
        stop_audition(scene, keep=False)
        state = None
    if state is None:
        start, end = vse.visible_range(strip)
        others = [
            s
            for s in vse.all_strips(scene)
            if s.type == "SOUND"
            and s != strip
            and not s.mute
            and vse.visible_range(s)[0] < end
            and start < vse.visible_range(s)[1]
        ]
        state = {
            "strip": strip[vse.META_PROP]["key"],
            "restore": current_take_id(strip),
            "muted": [s.name for s in others],
            "was_muted": strip.mute,
        }
        for other in others:
            other.mute = True
    if take_id != current_take_id(strip):
        strip = swap(scene, strip, take_id)
    strip.mute = False
    scene[AUDITION_PROP] = state
    scene.frame_current = vse.visible_range(strip)[0]
    return strip


def stop_audition(scene: bpy.types.Scene, keep: bool) -> Any | None:
    """End the audition: `keep` leaves the auditioned take in place, else the take that played
    before comes back; muted strips are unmuted -> the music strip (None if it is gone)."""
    state = audition_state(scene)
    if state is None:
        return None
    del scene[AUDITION_PROP]
    for name in state.get("muted", ()):
        other = vse.strip_named(scene, name)
        if other is not None:
            other.mute = False
    strip = find_by_key(scene, state["strip"])
    if strip is None:
        return None
    if not keep and state.get("restore") and state["restore"] != current_take_id(strip):
        strip = swap(scene, strip, state["restore"])
    strip.mute = bool(state.get("was_muted", False))
    return strip
