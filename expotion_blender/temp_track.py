"""The temp track: borrowed music an edit was cut to, which `expotion.replace_temp_track` replaces with
original music that follows its melody (a melody model on the service, `facebook/musicgen-melody`).

Owns: which selected sound strip is the temp (`selected_temp`, and why there is none), what of it
plays under a range (`melody_for`: its file and the second of that file heard at the range's first
frame), making room where it was (`make_room`: the temp moves up a channel and is muted, not deleted;
the music strip takes its place) and the A/B switch between the two (`play`). The temp is found
again by its key (`vse.KEY_PROP`), so renaming or moving it between the click and the result is
fine; where it first sat is kept on it (`HOME_PROP`), so several strips scored against one temp
all go to that channel. Main thread only.

Where the temp's sound is: source second = (frame - content start + content trim) / scene fps +
`sound_offset` (Blender plays a sound strip's file from its content start, after the trimmed
frames, shifted by the strip's sound offset). Retimed temps are refused, as for movies.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import bpy

from expotion_protocol.errors import ExpotionError

from . import vse
from .jobs import TempRef
from .timing import frames_to_seconds

#: Id property on a temp strip: the channel it sat on before its first replacement.
HOME_PROP = "expotion_temp_home"
PACKED_HINT = "Unpack it (File > External Data > Unpack Resources) so the service can read the file."


class TempError(ExpotionError, ValueError):
    """The temp track cannot be used as it is."""


def find(scene: bpy.types.Scene, temp: TempRef) -> Any | None:
    """The temp's sound strip (by key, then name), None when it is gone."""
    strip = vse.find_strip(scene, temp.key, temp.name)
    return strip if strip is not None and strip.type == "SOUND" else None


@dataclass(frozen=True)
class Melody:
    """The temp's file and the second of it that plays at the range's first frame."""

    path: str
    start_s: float


def why_no_temp(scene: bpy.types.Scene) -> str:
    """Empty when exactly one sound strip is selected besides the movies, else the reason."""
    sounds = [s for s in vse.selected_strips(scene) if s.type == "SOUND"]
    if not sounds:
        return "Select the temp track (a sound strip) together with the movie strips"
    if len(sounds) > 1:
        return f"Select one sound strip as the temp track ({len(sounds)} are selected)"
    return ""


def selected_temp(scene: bpy.types.Scene) -> TempRef:
    """The one selected sound strip, given a key if it has none (`TempError` when there is not one)."""
    reason = why_no_temp(scene)
    if reason:
        raise TempError(reason, "Select one movie strip (or several) and the temp's sound strip, then try again.")
    strip = next(s for s in vse.selected_strips(scene) if s.type == "SOUND")
    if not strip.get(vse.KEY_PROP):
        strip[vse.KEY_PROP] = uuid.uuid4().hex
    return TempRef(str(strip[vse.KEY_PROP]), strip.name)


def sound_path(strip: Any) -> str:
    """Absolute path of a sound strip's file."""
    return os.path.abspath(bpy.path.abspath(strip.sound.filepath))


def melody_for(scene: bpy.types.Scene, temp: TempRef, first_frame: int, frames: int) -> Melody:
    """What of the temp plays under timeline frames [first_frame, first_frame + frames); `TempError`
    naming the temp when it cannot be sent (gone, packed, missing file, retimed, not under the range)."""
    strip = find(scene, temp)
    if strip is None:
        raise TempError(f"the temp track '{temp.name}' was deleted", "Select the temp's sound strip again.")
    if strip.sound is None or getattr(strip.sound, "packed_file", None) is not None:
        raise TempError(f"the temp track '{strip.name}' is packed into the .blend", PACKED_HINT)
    path = sound_path(strip)
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        raise TempError(
            f"the temp track's file {path} does not exist or is empty",
            "Fix the file path (File > External Data > Find Missing Files) or restore the file.",
        )
    if vse.is_retimed(strip):
        raise TempError(
            f"the temp track '{strip.name}' has retiming keys, which Expotion cannot follow",
            "Remove the retiming (Strip > Retiming > Reset) or render the temp to a new file.",
        )
    start, end = vse.visible_range(strip)
    if not (start <= first_frame < end):
        raise TempError(
            f"the temp track '{strip.name}' (frames {start}-{end - 1}) does not play at frame {first_frame}, "
            f"where the music starts",
            "Move the temp under the movie strip, or select the temp that plays there.",
        )
    fps, base = scene.render.fps, vse.scene_fps_base(scene)
    into = first_frame - vse.content_start(strip) + vse.content_trim(strip)[0]
    start_s = frames_to_seconds(into, fps, base) + float(getattr(strip, "sound_offset", 0.0))
    return Melody(path, round(max(0.0, start_s), 6))


def home_channel(strip: Any) -> int:
    """The channel the temp sat on before it was first moved aside."""
    return int(strip.get(HOME_PROP, strip.channel))


def make_room(scene: bpy.types.Scene, temp: TempRef, start: int, end: int, ignore: tuple[Any, ...]) -> int | None:
    """Mute the temp and, when it sits on its home channel over [start, end), move it to the lowest
    free channel above (its whole length) -> the home channel if the music can take it now, else
    None (the temp is gone, or no channel is free for it: the music goes where it normally would).
    `ignore`: strips the music replaces (the old music strip). Undone with the placement's step."""
    strip = find(scene, temp)
    if strip is None:
        return None
    home = home_channel(strip)
    strip.mute = True
    skip = (*ignore, strip)
    if strip.channel == home:
        t0, t1 = vse.visible_range(strip)
        overlaps = t0 < end and start < t1
        if overlaps:
            above = vse.free_channels(scene, t0, t1, home, 1, skip)
            if above is None:
                return None
            strip[HOME_PROP] = home
            strip.channel = above
    return home if vse.channel_is_free(scene, home, start, end, skip) else None


@contextmanager
def aside(scene: bpy.types.Scene, temp: TempRef, start: int, end: int, ignore: tuple[Any, ...]) -> Iterator[int | None]:
    """`make_room`, undone if the placement in the `with` block fails (the temp back as it was)."""
    strip = find(scene, temp)
    before = None if strip is None else (strip.channel, strip.mute, strip.get(HOME_PROP))
    try:
        yield make_room(scene, temp, start, end, ignore)
    except BaseException:
        if strip is not None and before is not None:
            strip.channel, strip.mute = before[0], before[1]
            if before[2] is None and HOME_PROP in strip:
                del strip[HOME_PROP]
        raise


def play(scene: bpy.types.Scene, music: Any, temp: TempRef, *, temp_plays: bool) -> Any:
    """A/B: the temp plays and the music is muted (`temp_plays`), or the other way round -> the temp."""
    strip = find(scene, temp)
    if strip is None:
        raise TempError(f"the temp track '{temp.name}' is no longer in the edit")
    strip.mute = not temp_plays
    music.mute = temp_plays
    return strip


def of_music(meta: dict[str, Any] | None) -> TempRef | None:
    """The temp a music strip's take replaced (from its metadata), if any."""
    temp = (meta or {}).get("temp") or {}
    return TempRef(str(temp["key"]), str(temp.get("name", ""))) if temp.get("key") else None
