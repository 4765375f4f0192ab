"""Apply a finished job to the timeline: sound strips for its takes, or the replacement of one.

Owns: where the music goes (the video strip's first visible frame when placing starts, the first
channels above it that are free over its length), the metadata stored on the sound strips, and
atomicity: either every take of a job is placed or none is.

Placing is split into steps of one new sound strip each (`Placement.step`), the timer doing one step
per tick, so a job with several takes never holds the UI in one go: Blender's `strips.new_sound` takes
~1 ms for the 24-bit takes `wavfile` stores, but ~15 ms for a 16-bit WAV (5.0 and 5.2), and a slow
disk adds to either. The job's undo step is pushed by the runtime a tick later. Strips made by earlier
steps are found again by their metadata key at every step, never held across ticks (an undo in
between frees them); if one is gone, the channel was filled meanwhile, or Blender fails, the job's
strips are removed again and the job fails with the reason. Main thread only.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import bpy

from . import vse
from .jobs import JobRequest, JobState
from .protocol import ExpotionError

log = logging.getLogger(__name__)
NO_PERSON_NOTE = "No person was found in the clip: the music follows the prompt only."


class PlacementError(ExpotionError, RuntimeError):
    """The timeline does not (or no longer) allow placing a job's music."""


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
        "guidance": params.guidance, "visual_guidance": params.visual_guidance, "model": result.model, "adapter": result.adapter or "",
        "service_version": result.version, "untrained": result.untrained, "visual": result.visual,
        "source_key": request.target.strip_key, "source_name": request.target.strip_name,
        "source_start_s": params.start, "duration_s": params.duration or 0.0,
    }


def _fail(state: JobState, message: str, hint: str = "") -> JobState:
    log.warning("%s: %s", state.label, message)
    return replace(state, status="failed", error=message, hint=hint)


def _file(path: str) -> str:
    return bpy.path.relpath(path) if bpy.data.filepath else path


@dataclass
class Placement:
    """The timeline work for one finished job, done one sound strip per `step()`."""

    request: JobRequest
    state: JobState
    start: int | None = None  # first frame of every take, fixed by the first step
    channel: int = 0  # channel of take 0; take i goes on channel + i
    note: str = ""
    keys: list[str] = field(default_factory=list)  # metadata keys of the strips placed so far
    final: JobState | None = None  # set by the step that placed the last strip, or that failed

    @property
    def key(self) -> str:
        return self.request.key

    @property
    def total(self) -> int:
        return 1 if self.request.target.replace_key else len(self.state.take_paths)

    def step(self) -> bool:
        """Place the next strip; True once finished (`final` set: every strip placed, or failed).

        A job that did not succeed is finished at once. On failure nothing of this job is left on the
        timeline (a replaced strip is only removed in the step that places its successor)."""
        if self.state.status != "succeeded" or self.state.result is None:
            self.final = self.state
            return True
        try:
            scene = self._scene()
            if self.request.target.replace_key:
                self._replace(scene)
            else:
                self._place_next(scene)
        except (RuntimeError, TypeError, ValueError) as exc:  # PlacementError, or Blender refusing an edit
            self.rollback()
            message = str(exc) if isinstance(exc, PlacementError) else f"Blender could not add the music: {exc}"
            self.final = _fail(self.state, message, self._kept())
            return True
        if len(self.keys) == self.total:
            self.final = replace(self.state, hint=self.note)
        return self.final is not None

    def confirm(self) -> JobState:
        """The final state, checked again a tick later: strips that vanished meanwhile (an undo) fail it."""
        if self.final is None or self.final.status != "succeeded":
            return self.final or self.state
        scene = bpy.data.scenes.get(self.request.target.scene)
        if scene is None or len(self._found(scene)) != len(self.keys):
            self.rollback()
            return _fail(self.state, f"the music of '{self.request.target.strip_name}' was removed (undone?) "
                         "before it was complete", self._kept())
        return self.final

    def rollback(self) -> None:
        """Remove every strip this job placed that is still there."""
        scene = bpy.data.scenes.get(self.request.target.scene)
        if scene is not None and self.keys and not self.request.target.replace_key:
            for strip in self._found(scene).values():
                vse.remove(scene, strip, drop_sound=True)
        self.keys.clear()

    def _scene(self) -> bpy.types.Scene:
        scene = bpy.data.scenes.get(self.request.target.scene)
        if scene is None:
            raise PlacementError(f"scene '{self.request.target.scene}' no longer exists")
        return scene

    def _kept(self) -> str:
        paths = self.state.take_paths
        return f"The music is kept in {os.path.dirname(paths[0])}." if paths else ""

    def _found(self, scene: bpy.types.Scene) -> dict[str, Any]:
        """This job's strips on the timeline, by metadata key."""
        found = {}
        for strip in vse.all_strips(scene):
            meta = strip.get(vse.META_PROP)
            if meta and meta.get("job_id") == self.state.job_id and meta.get("key") in self.keys:
                found[meta["key"]] = strip
        return found

    def _plan(self, scene: bpy.types.Scene) -> int:
        """Fix the start frame (the video strip's first visible frame now) and the first channel."""
        target = self.request.target
        video = vse.find_strip(scene, target.strip_key, target.strip_name)
        if video is None:
            raise PlacementError(f"video strip '{target.strip_name}' was deleted while its music was generated")
        start, end = vse.visible_range(video)
        channel = vse.free_channels(scene, start, start + target.frames, video.channel, self.total)
        if channel is None:
            raise PlacementError(f"no {self.total} free channels above '{video.name}'")
        self.start, self.channel = start, channel
        self.note = NO_PERSON_NOTE if self.state.result and self.state.result.visual == "null" else ""
        if end - start != target.frames:
            self.note = (self.note + " " if self.note else "") + (
                f"'{video.name}' is now {end - start} frames long; the music keeps the {target.frames} "
                "frames it was made for.")
        return start

    def _place_next(self, scene: bpy.types.Scene) -> None:
        """One take: checks first (cheap), then the one `new_sound` of this step."""
        target, take = self.request.target, len(self.keys)
        start = self._plan(scene) if self.start is None else self.start
        if take and len(self._found(scene)) != take:
            raise PlacementError(f"music strips of '{target.strip_name}' were removed while they were placed")
        channel = self.channel + take
        if not vse.channel_is_free(scene, channel, start, start + target.frames):
            raise PlacementError(f"channel {channel} was filled while the music of '{target.strip_name}' was placed")
        meta = metadata(self.request, self.state, take)
        name = f"{target.strip_name} music" + (f" {take + 1}" if self.total > 1 else "")
        strip = vse.new_sound(scene, name, _file(self.state.take_paths[take]), channel, start, target.frames)
        strip.mute = take > 0
        strip[vse.META_PROP] = meta
        self.keys.append(meta["key"])

    def _replace(self, scene: bpy.types.Scene) -> None:
        """Regeneration, in one step: the new take takes the old strip's channel, start, name, mute
        state and key. It is made before the old one is removed, so a failure leaves the old one."""
        key = self.request.target.replace_key
        old = next((s for s in vse.all_strips(scene)
                    if s.get(vse.META_PROP) and s[vse.META_PROP].get("key") == key), None)
        if old is None:
            raise PlacementError("the strip being regenerated was deleted meanwhile")
        start, _ = vse.visible_range(old)
        channel, name, mute, frames = old.channel, old.name, old.mute, self.request.target.frames
        if not vse.channel_is_free(scene, channel, start, start + frames, ignore=(old,)):
            raise PlacementError(f"channel {channel} has no room for {frames} frames at frame {start}")
        meta = metadata(self.request, self.state, 0)
        meta["key"] = key  # the strip keeps its identity and take number
        meta["take"], meta["takes"] = old[vse.META_PROP].get("take", 0), old[vse.META_PROP].get("takes", 1)
        # Blender moves the new strip up while it overlaps the old one; it goes back once that is gone.
        strip = vse.new_sound(scene, name, _file(self.state.take_paths[0]), channel, start, frames)
        try:
            vse.remove(scene, old)
        except RuntimeError:  # e.g. moved into a meta strip meanwhile
            vse.remove(scene, strip, drop_sound=True)
            raise
        strip.channel, strip.name, strip.mute = channel, name, mute
        strip[vse.META_PROP] = meta
        self.keys.append(key)


def apply(request: JobRequest, state: JobState) -> JobState:
    """Place a finished job's takes now, all steps at once (background mode); returns the final state."""
    placement = Placement(request, state)
    while not placement.step():
        pass
    return placement.confirm()


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
