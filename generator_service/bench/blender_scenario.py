"""Main-thread cost of the Expotion extension, measured INSIDE Blender's Python (the `bpy` module).

Run by `generator_service.bench.blender` as `python blender_scenario.py` with a bpy interpreter, in
a process with its own BLENDER_USER_RESOURCES. Inputs: EXPOTION_BENCH_ARGS (JSON: `zip`, `clips`,
`tick_interval_s`, `timeout_s`) and EXPOTION_SERVICE_URL. Prints `BENCH_BLENDER <json>` with raw
seconds; the caller makes the table. Standard library + bpy only.

What is measured, per transfer mode (local path, then uploaded proxy):
1. the operator call: in background mode `expotion.score_strips` always blocks (`wait=True`), so
   this runs the steps its `execute()` runs for an interactive click (poll, preference snapshot,
   `snapshot.request_for` per selected strip, `dispatch.run(wait=False)`), with every
   `proxy.render_proxy` call timed on its own;
2. the timer: `runtime._tick` pumped by hand (timers never fire in background) until every job has
   ended; each tick is timed and flagged when it placed sound strips.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import bpy

MODULE = "bl_ext.user_default.expotion"
FPS = 25


class _Reports:
    """Stands in for the operator's `report()` (what the user would see in the status bar)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def report(self, kind: set[str], text: str) -> None:
        self.lines.append(f"{sorted(kind)[0]}: {text}")


def install(zip_path: str) -> Any:
    """Install and enable the built zip through Blender's own extension path -> the package."""
    result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default",
                                                      enable_on_install=True)
    if result != {"FINISHED"} or MODULE not in sys.modules:
        raise RuntimeError(f"installing {zip_path} failed: {result}")
    return sys.modules[MODULE]


def make_scene(ext: Any, clips: list[str]) -> tuple[bpy.types.Scene, list[Any]]:
    """A 25 fps scene with one movie strip per clip, end to end on channel 1 (through the extension's
    `vse`, which knows the Blender version's names)."""
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    movies, frame = [], 1
    for i, clip in enumerate(clips):
        movie = ext.vse.new_movie(scene, f"clip{i}", clip, 1, frame)
        if not ext.vse.movie_is_readable(movie):
            raise RuntimeError(f"Blender cannot read {clip}")
        frame = ext.vse.visible_range(movie)[1]
        movies.append(movie)
    return scene, movies


def select_only(scene: bpy.types.Scene, strips: list[Any]) -> None:
    for strip in scene.sequence_editor.strips_all:
        strip.select = False
    for strip in strips:
        strip.select = True
    scene.sequence_editor.active_strip = strips[0]


def time_renders(ext: Any) -> list[tuple[float, int]]:
    """Wrap `proxy.render_proxy` (looked up by `snapshot` at call time) -> list of (seconds, frames)."""
    renders: list[tuple[float, int]] = []
    original = ext.proxy.render_proxy

    def timed(scene: Any, strip: Any, max_height: int) -> str:
        start, end = ext.vse.visible_range(strip)
        t0 = time.perf_counter()
        path = original(scene, strip, max_height)
        renders.append((time.perf_counter() - t0, end - start))
        return path

    ext.proxy.render_proxy = timed
    return renders


def score_interactive(ext: Any, context: Any) -> float:
    """The steps of `score_strips.execute()` for a click (wait=False) -> seconds on this thread."""
    t0 = time.perf_counter()
    if not ext.operators.score_strips.EXPOTION_OT_score_strips.poll(context):
        raise RuntimeError("expotion.score_strips is disabled for this selection")
    settings = ext.preferences.get(context)
    movies = [s for s in ext.vse.selected_strips(context.scene) if ext.vse.is_movie(s)]
    base = ext.properties.params_from(context.scene.expotion)
    requests = [ext.snapshot.request_for(context, strip, base, settings) for strip in movies]
    reports = _Reports()
    if ext.operators.dispatch.run(reports, settings, requests, wait=False) != {"FINISHED"}:
        raise RuntimeError("; ".join(reports.lines))
    return time.perf_counter() - t0


def sound_count(scene: bpy.types.Scene) -> int:
    return sum(1 for s in scene.sequence_editor.strips_all if s.type == "SOUND")


def pump(ext: Any, scene: bpy.types.Scene, interval_s: float, timeout_s: float) -> list[tuple[float, bool]]:
    """Call the timer callback until no job is active -> (seconds, placed strips) per tick."""
    ticks: list[tuple[float, bool]] = []
    deadline = time.monotonic() + timeout_s
    while ext.runtime.active_count():
        if time.monotonic() > deadline:
            raise RuntimeError(f"jobs still running after {timeout_s:.0f} s")
        time.sleep(interval_s)
        before = sound_count(scene)
        t0 = time.perf_counter()
        ext.runtime._tick()
        ticks.append((time.perf_counter() - t0, sound_count(scene) > before))
    return ticks


def run_mode(ext: Any, scene: bpy.types.Scene, movies: list[Any], transfer: str, args: dict) -> dict[str, Any]:
    """Score every movie strip with `transfer` (PATH or UPLOAD) -> raw timings."""
    bpy.context.preferences.addons[MODULE].preferences.transfer = transfer
    select_only(scene, movies)
    renders = time_renders(ext)
    call_s = score_interactive(ext, bpy.context)
    ticks = pump(ext, scene, args["tick_interval_s"], args["timeout_s"])
    states = [(s.label, s.status, s.error) for s in ext.runtime.job_states()]
    failed = [s for s in states if s[1] != "succeeded"]
    if failed:
        raise RuntimeError(f"jobs did not succeed: {failed}")
    ext.runtime.clear_finished()
    return {"call_s": call_s, "renders": renders, "ticks": ticks, "jobs": len(states)}


def main() -> dict[str, Any]:
    args = json.loads(os.environ["EXPOTION_BENCH_ARGS"])
    ext = install(args["zip"])
    scene, movies = make_scene(ext, args["clips"])
    prefs = bpy.context.preferences.addons[MODULE].preferences
    out = {"blender": bpy.app.version_string, "python": sys.version.split()[0], "fps": FPS,
           "strips": len(movies), "proxy_height": prefs.proxy_height,
           "proxy_size": list(ext.proxy.proxy_size(movies[0], prefs.proxy_height)),
           "source_size": [movies[0].elements[0].orig_width, movies[0].elements[0].orig_height]}
    for transfer in ("PATH", "UPLOAD"):
        out[transfer.lower()] = run_mode(ext, scene, movies, transfer, args)
    return out


if __name__ == "__main__":
    sys.stdout.write("BENCH_BLENDER " + json.dumps(main()) + "\n")
