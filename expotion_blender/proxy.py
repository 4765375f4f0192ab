"""Render a small proxy clip of exactly what a movie strip — or a range of the edit — shows, for
upload to the service.

Owns: a temporary scene with copies of the movie strips (`Picture`: one strip over its visible
range, or every movie strip of a timeline range on its own channel, so the top one shows, cuts
included), rendered over that range at the scene's frame rate (so its duration is the range's
timeline length, whatever the movies' own rates), then removed. Only movie strips are copied:
effects, images and text over them are not part of the proxy. Two ways, both on the main thread
(Blender renders only there):
- `render_proxy`: the whole range in one blocking call to an H.264 MP4 (headless runs);
- `ProxyRender`: one JPEG frame per `step()` (~8 ms at 640x360 on this machine's CPU, with the
  "Standard" view transform), so an interactive Score renders from timer ticks with
  a progress bar and can be cancelled, Blender drawing and taking input in between; the frames are
  wrapped into an MJPEG AVI on the worker thread when the job is sent (`avi`, `jobs.submit`).
The copy in the temporary scene is what is rendered, so editing the strip meanwhile does not mix
two versions into one proxy; an undo or file load that removes the temporary scene aborts the render.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import bpy

from expotion_protocol.errors import ExpotionError

from . import avi, vse

log = logging.getLogger(__name__)
JPEG_QUALITY = 85


class ProxyError(ExpotionError, RuntimeError):
    """The proxy could not be rendered."""

    hint = "Press Score again."


def proxy_size(strip: Any, max_height: int) -> tuple[int, int]:
    """Source size scaled down to at most `max_height` rows, both sides even."""
    el = strip.elements[0]
    w, h = el.orig_width, el.orig_height
    scale = min(1.0, max_height / h)
    return max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2)


@dataclass(frozen=True)
class Picture:
    """What a proxy shows: copies of `strips` (movie strips, each on its own channel with its own
    timing) over timeline frames [start, end), rendered at `resolution` x `percentage` %. A
    `composite` keeps the scene's resolution and each strip's placement in the frame (transform,
    crop, blending) and scales the whole frame down by the percentage; a single strip's proxy is
    its source picture, scaled down."""

    strips: tuple[Any, ...]
    start: int
    end: int
    resolution: tuple[int, int]
    percentage: int = 100
    composite: bool = False

    @property
    def size(self) -> tuple[int, int]:
        """The rendered frame size (Blender's: resolution x percentage // 100)."""
        return (self.resolution[0] * self.percentage // 100, self.resolution[1] * self.percentage // 100)

    @classmethod
    def of_strip(cls, strip: Any, max_height: int) -> Picture:
        """One strip over its visible range, at its source's aspect."""
        return cls((strip,), *vse.visible_range(strip), proxy_size(strip, max_height))

    @classmethod
    def of_range(cls, scene: bpy.types.Scene, strips: Sequence[Any], start: int, end: int, max_height: int) -> Picture:
        """The movie `strips` as the edit composes them over [start, end): the scene's frame, scaled
        to at most `max_height` rows (both sides even, as H.264 needs)."""
        width, height = scene.render.resolution_x, scene.render.resolution_y
        pct = max(1, min(100, 100 * max_height // height))
        while pct > 1 and (width * pct // 100 % 2 or height * pct // 100 % 2):
            pct -= 1
        return cls(tuple(strips), start, end, (width, height), pct, composite=True)


def _copy_scene(scene: bpy.types.Scene, picture: Picture) -> bpy.types.Scene:
    """A temporary scene showing copies of the picture's strips over its range, at `scene`'s frame rate."""
    tmp = bpy.data.scenes.new(f"expotion-proxy-{uuid.uuid4().hex[:8]}")
    try:
        tmp.render.fps, tmp.render.fps_base = scene.render.fps, scene.render.fps_base
        for i, strip in enumerate(picture.strips):
            # made on a channel of its own, trimmed, then moved to the original's: untrimmed copies
            # of strips back to back on one channel would overlap (and Blender would move one)
            copy = vse.new_movie(tmp, f"proxy-{i}", strip.filepath, vse.MAX_CHANNEL - i, int(vse.content_start(strip)))
            vse.copy_movie_look(strip, copy)
            if picture.composite:
                vse.copy_placement(strip, copy)
            copy.channel = strip.channel
        tmp.frame_start, tmp.frame_end = picture.start, picture.end - 1
        render = tmp.render
        render.resolution_x, render.resolution_y = picture.resolution
        render.resolution_percentage = picture.percentage
        render.use_file_extension = True
        # The source's pixels as they are: "Standard" is sRGB in, sRGB out. The default view
        # transform (AgX in 5.x) changes colour and contrast, and costs ~4x the render time.
        tmp.view_settings.view_transform = "Standard"
    except (RuntimeError, TypeError, ValueError):
        bpy.data.scenes.remove(tmp)
        raise
    return tmp


def _render(tmp: bpy.types.Scene) -> None:
    """Render `tmp`'s frame range (a window in the context when there is one: the UI's timers have none)."""
    wm = bpy.context.window_manager
    windows = list(getattr(wm, "windows", ()))
    if windows:
        with bpy.context.temp_override(window=windows[0]):
            bpy.ops.render.render(animation=True, scene=tmp.name)
    else:
        bpy.ops.render.render(animation=True, scene=tmp.name)


def render_proxy(scene: bpy.types.Scene, strip: Any, max_height: int, picture: Picture | None = None) -> str:
    """Render the strip's visible range (or `picture`) to a temporary MP4 and return its path (blocking)."""
    picture = picture or Picture.of_strip(strip, max_height)
    start, end = picture.start, picture.end
    tmp = _copy_scene(scene, picture)
    try:
        vse.set_video_output(tmp.render)
        tmp.render.filepath = os.path.join(tempfile.gettempdir(), f"expotion-proxy-{uuid.uuid4().hex[:8]}-")
        _render(tmp)
        path = bpy.path.abspath(tmp.render.frame_path(frame=start))
    finally:
        bpy.data.scenes.remove(tmp)
    if not os.path.isfile(path):
        raise ProxyError(f"Blender did not write the proxy {path}")
    log.info("proxy of %s: %s (%d frames)", getattr(strip, "name", f"frames {start}-{end}"), path, end - start)
    return path


class ProxyRender:
    """The strip's visible range (or `picture`) rendered one JPEG frame per `step()`; `finish()` -> the frames."""

    def __init__(self, scene: bpy.types.Scene, strip: Any, max_height: int, picture: Picture | None = None) -> None:
        picture = picture or Picture.of_strip(strip, max_height)
        self.start, self.end = picture.start, picture.end
        self.rate = avi.exact_rate(scene.render.fps, scene.render.fps_base)
        self.folder = tempfile.mkdtemp(prefix="expotion-proxy-")
        tmp = _copy_scene(scene, picture)
        tmp.render.image_settings.file_format = "JPEG"
        tmp.render.image_settings.quality = JPEG_QUALITY
        tmp.render.filepath = os.path.join(self.folder, "f-")
        self.size = picture.size
        self.scene_name = tmp.name
        self.paths: list[str] = []

    @property
    def total(self) -> int:
        return self.end - self.start

    @property
    def done(self) -> int:
        return len(self.paths)

    def step(self) -> bool:
        """Render the next frame -> True once every frame is rendered."""
        tmp = bpy.data.scenes.get(self.scene_name)
        if tmp is None:
            raise ProxyError("the proxy render was interrupted (an undo or a file load removed its scene)")
        frame = self.start + self.done
        tmp.frame_start = tmp.frame_end = frame
        _render(tmp)
        path = bpy.path.abspath(tmp.render.frame_path(frame=frame))
        if not os.path.isfile(path):
            raise ProxyError(f"Blender did not write proxy frame {frame} ({path})")
        self.paths.append(path)
        return self.done >= self.total

    def finish(self) -> avi.FrameSequence:
        """The rendered frames (the temporary scene is removed; the frames stay until sent)."""
        self._remove_scene()
        return avi.FrameSequence(tuple(self.paths), self.size[0], self.size[1], self.rate)

    def abort(self) -> None:
        """Stop: remove the temporary scene and every frame rendered so far."""
        self._remove_scene()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _remove_scene(self) -> None:
        tmp = bpy.data.scenes.get(self.scene_name)
        if tmp is not None:
            bpy.data.scenes.remove(tmp)
