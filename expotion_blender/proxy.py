"""Render a small proxy clip of exactly what a movie strip shows, for upload to the service.

Owns: a temporary scene with a copy of the strip, rendered over the strip's visible range at the
scene's frame rate (so its duration is the strip's timeline length, whatever the movie's own rate),
then removed. Two ways, both on the main thread (Blender renders only there):
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
from typing import Any

import bpy

from . import avi, vse
from expotion_protocol.errors import ExpotionError

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


def _copy_scene(scene: bpy.types.Scene, strip: Any, max_height: int) -> bpy.types.Scene:
    """A temporary scene showing a copy of `strip` over its visible range, at `scene`'s frame rate."""
    start, end = vse.visible_range(strip)
    tmp = bpy.data.scenes.new(f"expotion-proxy-{uuid.uuid4().hex[:8]}")
    try:
        tmp.render.fps, tmp.render.fps_base = scene.render.fps, scene.render.fps_base
        copy = vse.new_movie(tmp, "proxy", strip.filepath, 1, int(vse.content_start(strip)))
        vse.copy_movie_look(strip, copy)
        tmp.frame_start, tmp.frame_end = start, end - 1
        render = tmp.render
        render.resolution_x, render.resolution_y = proxy_size(strip, max_height)
        render.resolution_percentage = 100
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


def render_proxy(scene: bpy.types.Scene, strip: Any, max_height: int) -> str:
    """Render the strip's visible range to a temporary MP4 and return its path (blocking)."""
    start, end = vse.visible_range(strip)
    tmp = _copy_scene(scene, strip, max_height)
    try:
        vse.set_video_output(tmp.render)
        tmp.render.filepath = os.path.join(tempfile.gettempdir(), f"expotion-proxy-{uuid.uuid4().hex[:8]}-")
        _render(tmp)
        path = bpy.path.abspath(tmp.render.frame_path(frame=start))
    finally:
        bpy.data.scenes.remove(tmp)
    if not os.path.isfile(path):
        raise ProxyError(f"Blender did not write the proxy {path}")
    log.info("proxy of %s: %s (%d frames)", strip.name, path, end - start)
    return path


class ProxyRender:
    """The strip's visible range rendered one JPEG frame per `step()`; `finish()` -> the frames."""

    def __init__(self, scene: bpy.types.Scene, strip: Any, max_height: int) -> None:
        self.start, self.end = vse.visible_range(strip)
        self.rate = avi.exact_rate(scene.render.fps, scene.render.fps_base)
        self.folder = tempfile.mkdtemp(prefix="expotion-proxy-")
        tmp = _copy_scene(scene, strip, max_height)
        tmp.render.image_settings.file_format = "JPEG"
        tmp.render.image_settings.quality = JPEG_QUALITY
        tmp.render.filepath = os.path.join(self.folder, "f-")
        self.size = (tmp.render.resolution_x, tmp.render.resolution_y)
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
