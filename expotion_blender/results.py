"""Apply a finished job to the timeline: its music strip, new or in place of the video strip's music.

Owns: where the music goes (the video strip's first visible frame when it is placed, or a timeline
range's first frame; the channel of the music it replaces when that is free, else the first free
channel above the video, or above the range's top movie channel), the metadata of each take (with
the beat lock's report and the hit points, each with its timeline frame), and the rule that a video
strip (or a timeline range) has one music strip: scoring it again or regenerating
its music swaps the new take in and keeps the older ones in the strip's takes list (`takes`), so
music never stacks up unmuted. Every take of a job goes into the list; the first one plays.

A job's placement is one step (one `strips.new_sound`, ~1 ms for the 24-bit takes `wavfile` stores),
done by a timer tick; the job's undo step is pushed by the runtime a tick later, after `confirm()`
has checked the strip is still there (an undo in between removes it). If the video strip is gone,
no channel is free, or Blender fails, nothing is changed and the job fails with the reason; its
WAVs stay in the audio folder. Main thread only.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

import bpy

from expotion_protocol.errors import ExpotionError
from expotion_protocol.shapes import JobResult

from . import audio_folder, takes, temp_track, vse
from .jobs import JobRequest, JobState

log = logging.getLogger(__name__)
NO_PERSON_NOTE = "No person was found in the clip: the music follows the prompt only."
TEMP_NOT_MOVED = "The temp track is muted; no channel was free to move it aside, so the music sits above the video."


class PlacementError(ExpotionError, RuntimeError):
    """The timeline does not (or no longer) allow placing a job's music."""


def id_safe(value: Any) -> Any:
    """JSON data as Blender id properties take it: None dropped from objects and NaN in number
    lists, a list of strings joined into one string."""
    if isinstance(value, dict):
        return {str(k): id_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, str) for v in value):
            return "; ".join(value)
        return [float("nan") if v is None else id_safe(v) for v in value if not isinstance(v, str)]
    return value


def hit_frames(request: JobRequest) -> list[dict[str, Any]]:
    """The hit points sent, each with its timeline frame and its time from the range's first frame."""
    params, target = request.params, request.target
    per_second = target.frames / params.duration if params.duration else 0.0
    return [
        {
            "frame": target.frame_start + round((h.t - params.start) * per_second),
            "kind": h.kind,
            "t": round(h.t - params.start, 6),
            "strength": h.strength,
        }
        for h in params.hits
    ]


def metadata(request: JobRequest, state: JobState, take: int, path: str) -> dict[str, Any]:
    """The id properties describing one take (on the music strip that plays it and in its takes list;
    what `expotion.regenerate` reads back)."""
    result = state.result
    if result is None:
        raise ValueError(f"job {state.job_id} has no result to describe")
    params = request.params
    timeline = {"timeline": list(request.target.timeline)} if request.target.timeline else {}
    return (
        timeline
        | {
            "key": "",
            "take_id": uuid.uuid4().hex[:12],
            "job_id": state.job_id,
            "take": take,
            "takes": result.takes,
            "file": takes.stored_path(path),
            "frames": request.target.frames,
            "created": time.time(),
            "prompt": params.prompt,
            "prompt_used": result.prompt_used,
            "auto_prompt": params.auto_prompt,
            "seed": int(result.seeds[take] if take < len(result.seeds) else params.seed),
            "guidance": params.guidance,
            "visual_guidance": params.visual_guidance,
            "model": result.model,
            "adapter": result.adapter or "",
            "service_version": result.version,
            "untrained": result.untrained,
            "visual": result.visual,
            "details": dict(result.details),
            "source_key": request.target.strip_key,
            "source_name": request.target.strip_name,
            "source_start_s": params.start,
            "duration_s": params.duration or 0.0,
            "lock_mode": params.beat_lock or "auto",
            "hits": hit_frames(request),
            "lock": id_safe(result.lock[take]) if take < len(result.lock) else {},
        }
        | temp_metadata(request, result, take)
    )


def temp_metadata(request: JobRequest, result: JobResult, take: int) -> dict[str, Any]:
    """For music that replaces a temp track: the temp (found again by key for A/B) and how closely
    this take follows its melody, as the service measured it (`melody`: similarity, chance, follows)."""
    temp = request.target.temp
    if temp is None:
        return {}
    block = dict(result.melody or {})
    per_take = block.pop("takes", None) or []
    measured = per_take[take] if take < len(per_take) else {}
    return {
        "temp": {"key": temp.key, "name": temp.name, "start_s": request.params.melody_start},
        "melody": id_safe(block | {"take": measured}) if block else {},
    }


def _fail(state: JobState, message: str, hint: str = "") -> JobState:
    log.warning("%s: %s", state.label, message)
    return replace(state, status="failed", error=message, hint=hint)


@dataclass
class Placement:
    """The timeline work for one finished job: `step()` once, `confirm()` a tick later."""

    request: JobRequest
    state: JobState
    music_key: str = ""  # key of the music strip placed or updated
    take_id: str = ""  # the take that strip plays now
    note: str = ""
    final: JobState | None = None  # set by `step()`

    @property
    def key(self) -> str:
        return self.request.key

    def step(self) -> bool:
        """Place the job's music (a job that did not succeed is finished at once) -> True."""
        if self.state.status != "succeeded" or self.state.result is None:
            self.final = self.state
            return True
        try:
            self._place(self._scene())
        except (RuntimeError, TypeError, ValueError, OSError) as exc:  # ours, or Blender refusing an edit
            message = str(exc) if isinstance(exc, ExpotionError) else f"Blender could not add the music: {exc}"
            self.final = _fail(self.state, message, self._kept())
            return True
        self.final = replace(self.state, hint=self.note)
        return True

    def confirm(self) -> JobState:
        """The final state, checked again a tick later: a strip undone meanwhile fails the job."""
        if self.final is None or self.final.status != "succeeded":
            return self.final or self.state
        scene = bpy.data.scenes.get(self.request.target.scene)
        strip = takes.find_by_key(scene, self.music_key) if scene is not None else None
        if strip is None or takes.current_take_id(strip) != self.take_id:
            return _fail(
                self.state,
                f"the music of '{self.request.target.strip_name}' was removed (undone?) before it was complete",
                self._kept(),
            )
        return self.final

    def _scene(self) -> bpy.types.Scene:
        scene = bpy.data.scenes.get(self.request.target.scene)
        if scene is None:
            raise PlacementError(f"scene '{self.request.target.scene}' no longer exists")
        return scene

    def _kept(self) -> str:
        paths = self.state.take_paths
        return f"The music is kept in {os.path.dirname(paths[0])}." if paths else ""

    def _source(self, scene: bpy.types.Scene) -> tuple[int, int, Any | None, int, str]:
        """(first frame, frame after the source now, the music it has, the channel to place above,
        what to call it): the video strip, or the timeline range."""
        target = self.request.target
        if target.timeline is not None:
            start, end = target.timeline
            return start, end, takes.timeline_music(scene, start, end), target.channel, f"frames {start}-{end - 1}"
        video = vse.find_strip(scene, target.strip_key, target.strip_name)
        if video is None:
            raise PlacementError(f"video strip '{target.strip_name}' was deleted while its music was generated")
        start, end = vse.visible_range(video)
        return start, end, takes.music_strip(scene, video), video.channel, f"'{video.name}'"

    def _place(self, scene: bpy.types.Scene) -> None:
        target = self.request.target
        start, end, music, above, what = self._source(scene)
        old = takes.find_by_key(scene, target.replace_key) if target.replace_key else None
        old = old or music
        ignore = (old,) if old is not None else ()
        if target.temp is None:
            self._put(scene, start, end, old, old.channel if old is not None else None, above, what)
            return
        with temp_track.aside(scene, target.temp, start, start + target.frames, ignore) as home:
            self._put(scene, start, end, old, home, above, what)
        if home is None and temp_track.find(scene, target.temp) is not None:
            self.note = " ".join(filter(None, [self.note, TEMP_NOT_MOVED]))

    def _put(
        self, scene: bpy.types.Scene, start: int, end: int, old: Any | None, channel: int | None, above: int, what: str
    ) -> None:
        """The new music strip on `channel` when it is free, else the first free channel above `above`."""
        target = self.request.target
        ignore = (old,) if old is not None else ()
        if channel is None or not vse.channel_is_free(scene, channel, start, start + target.frames, ignore):
            channel = vse.free_channels(scene, start, start + target.frames, above, 1, ignore)
        if channel is None:
            raise PlacementError(f"no free channel above {what}")
        paths = [audio_folder.settle(p) for p in self.state.take_paths]
        new_takes = [metadata(self.request, self.state, i, p) for i, p in enumerate(paths)]
        history = takes.takes_of(old) if old is not None else []
        music_key = str(old[vse.META_PROP].get("key")) if old is not None else uuid.uuid4().hex
        name = old.name if old is not None else f"{target.strip_name} music"
        strip = takes.put(scene, old, paths[0], target.frames, start, channel, name)
        strip[vse.META_PROP] = dict(new_takes[0], key=music_key)
        takes.set_takes(strip, history + new_takes)
        self.music_key, self.take_id = music_key, new_takes[0]["take_id"]
        notes = [NO_PERSON_NOTE] if self.state.result and self.state.result.visual == "null" else []
        if end - start != target.frames:
            notes.append(
                f"{what} is now {end - start} frames long; the music keeps the {target.frames} frames it was made for."
            )
        self.note = " ".join(notes)


def apply(request: JobRequest, state: JobState) -> JobState:
    """Place a finished job's music now (background mode); returns the final state."""
    placement = Placement(request, state)
    placement.step()
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
