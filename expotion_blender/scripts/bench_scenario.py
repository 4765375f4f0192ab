"""Main-thread cost of the Expotion extension, measured INSIDE Blender's Python (the `bpy` module).

Run by `generator_service.bench.blender` as `python expotion_blender/scripts/bench_scenario.py` with a bpy interpreter, in
a process with its own BLENDER_USER_RESOURCES. Inputs: EXPOTION_BENCH_ARGS (JSON: `zip`, `clips`,
`tick_interval_s`, `timeout_s`) and EXPOTION_SERVICE_URL. Prints `BENCH_BLENDER <json>` with raw
seconds; the caller makes the table. Standard library + bpy only.

What is measured, per transfer mode (local path, then uploaded proxy):
1. the operator call: in background mode `expotion.score_strips` always blocks (`wait=True`), so
   this runs the steps its `execute()` runs for an interactive click (poll, preference snapshot,
   `snapshot.request_for` per selected strip, `dispatch.run(wait=False)`), with every
   `proxy.render_proxy` call timed on its own;
2. the timer: `runtime._tick` pumped by hand (timers never fire in background) until every job has
   ended and its music is placed; each tick is timed and labelled with the work it reports in
   `runtime.tick_log` ("strip": one new sound strip, "undo": a job's undo push, "" nothing placed).
   Every `vse.new_sound` call is timed on its own too (Blender's part of a "strip" tick).
   After each tick the view layer is evaluated, as Blender's window manager does after every timer
   callback in the UI; that time is Blender's, not the tick's, and is reported apart. The scene is
   evaluated once before the first tick for the same reason (in the UI that happened long before).
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
    result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
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


def select_only(ext: Any, scene: bpy.types.Scene, strips: list[Any]) -> None:
    for strip in ext.vse.all_strips(scene):
        strip.select = False
    for strip in strips:
        strip.select = True
    scene.sequence_editor.active_strip = strips[0]


def time_new_sound(ext: Any) -> list[float]:
    """Wrap `vse.new_sound` (looked up by `results` at call time) -> list of seconds per call."""
    calls: list[float] = []
    original = ext.vse.new_sound

    def timed(*args: Any) -> Any:
        t0 = time.perf_counter()
        strip = original(*args)
        calls.append(time.perf_counter() - t0)
        return strip

    ext.vse.new_sound = timed
    return calls


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
    path_mode = ext.runtime.service_reads_paths()
    requests = [ext.snapshot.request_for(context, strip, base, settings, path_mode=path_mode) for strip in movies]
    reports = _Reports()
    if ext.operators.dispatch.run(reports, settings, requests, wait=False) != {"FINISHED"}:
        raise RuntimeError("; ".join(reports.lines))
    return time.perf_counter() - t0


def pump(ext: Any, interval_s: float, timeout_s: float) -> tuple[list[tuple[float, float, str]], list[float]]:
    """Call the timer callback until no job is active -> ((wall seconds, this thread's CPU seconds,
    work) per tick, seconds of the view layer evaluation after each tick that changed the timeline).
    CPU time tells a tick that worked long from one that waited (for a CPU or for the GIL)."""
    ticks: list[tuple[float, float, str]] = []
    evaluations: list[float] = []
    view_layer = bpy.context.view_layer
    deadline = time.monotonic() + timeout_s
    while ext.runtime.active_count():
        if time.monotonic() > deadline:
            raise RuntimeError(f"jobs still running after {timeout_s:.0f} s")
        time.sleep(interval_s)
        t0, c0 = time.perf_counter(), time.thread_time()
        ext.runtime._tick()
        ticks.append((time.perf_counter() - t0, time.thread_time() - c0, ext.runtime.tick_log[-1][1]))
        t0 = time.perf_counter()
        view_layer.update()
        if ticks[-1][2]:
            evaluations.append(time.perf_counter() - t0)
    return ticks, evaluations


def run_mode(
    ext: Any,
    scene: bpy.types.Scene,
    movies: list[Any],
    transfer: str,
    args: dict,
    renders: list[tuple[float, int]],
    new_sound: list[float],
) -> dict[str, Any]:
    """Score every movie strip with `transfer` (PATH or UPLOAD) -> raw timings (`renders` and
    `new_sound` are the lists the timing wrappers fill; this mode's part is reported)."""
    bpy.context.preferences.addons[MODULE].preferences.transfer = transfer
    select_only(ext, scene, movies)
    bpy.context.view_layer.update()
    first_render, first_sound = len(renders), len(new_sound)
    call_s = score_interactive(ext, bpy.context)
    ticks, evaluations = pump(ext, args["tick_interval_s"], args["timeout_s"])
    states = [(s.label, s.status, s.error) for s in ext.runtime.job_states()]
    failed = [s for s in states if s[1] != "succeeded"]
    if failed:
        raise RuntimeError(f"jobs did not succeed: {failed}")
    ext.runtime.clear_finished()
    return {
        "call_s": call_s,
        "renders": renders[first_render:],
        "ticks": ticks,
        "new_sound": new_sound[first_sound:],
        "evaluations": evaluations,
        "jobs": len(states),
    }


def main() -> dict[str, Any]:
    args = json.loads(os.environ["EXPOTION_BENCH_ARGS"])
    ext = install(args["zip"])
    scene, movies = make_scene(ext, args["clips"])
    prefs = bpy.context.preferences.addons[MODULE].preferences
    out = {
        "blender": bpy.app.version_string,
        "python": sys.version.split()[0],
        "fps": FPS,
        "strips": len(movies),
        "proxy_height": prefs.proxy_height,
        "proxy_size": list(ext.proxy.proxy_size(movies[0], prefs.proxy_height)),
        "source_size": [movies[0].elements[0].orig_width, movies[0].elements[0].orig_height],
    }
    renders, new_sound = time_renders(ext), time_new_sound(ext)
    for transfer in ("PATH", "UPLOAD"):
        out[transfer.lower()] = run_mode(ext, scene, movies, transfer, args, renders, new_sound)
    return out


if __name__ == "__main__":
    sys.stdout.write("BENCH_BLENDER " + json.dumps(main()) + "\n")
