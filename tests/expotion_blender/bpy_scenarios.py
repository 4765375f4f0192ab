"""Scenarios run inside real Blender (`python -m tests.expotion_blender.bpy_scenarios NAME`), one per
process. Each installs the built zip through Blender's extension install path, enables it, does its
work with `assert`s, and prints `SCENARIO_RESULT <json>` for the pytest side.
Inputs come from the environment: EXPOTION_TEST_ZIP, EXPOTION_SERVICE_URL, EXPOTION_TEST_ARGS.
Every DeprecationWarning raised from the installed extension's files is recorded and reported under
`deprecations` (the runner fails on any): a newer Blender's deprecations show up as test failures.
The scenarios themselves reach strips through `top`/`every` (4.2 has only `sequences`) and strip
timing through `span`/`trim`/`move`/`content_trim` (5.2 renamed those properties), so they run on
every Blender the extension supports.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
import wave
from typing import Any

import bpy

MODULE = "bl_ext.user_default.expotion"
ARGS: dict[str, Any] = json.loads(os.environ.get("EXPOTION_TEST_ARGS", "{}"))
EXTENSION_DIR = os.sep + os.path.join("user_default", "expotion") + os.sep
_STRIP_TYPE = getattr(bpy.types, "Strip", None) or bpy.types.Sequence  # 4.x: Sequence
_MOVIE_TYPE = getattr(bpy.types, "MovieStrip", None) or bpy.types.MovieSequence
_NEW_NAMES = "left_handle" in _STRIP_TYPE.bl_rna.properties.keys()  # 5.2+
_SPAN = ("left_handle", "right_handle") if _NEW_NAMES else ("frame_final_start", "frame_final_end")
_TRIM = ("left_handle_offset", "right_handle_offset") if _NEW_NAMES else ("frame_offset_start", "frame_offset_end")
_MOVE = "content_start" if _NEW_NAMES else "frame_start"
_CONTENT_TRIM = (("content_trim_start", "content_trim_end") if "content_trim_start" in
                 _MOVIE_TYPE.bl_rna.properties.keys() else ("animation_offset_start", "animation_offset_end"))
_WARNINGS = warnings.catch_warnings(record=True)
_RECORDED = _WARNINGS.__enter__()  # for the whole process, one scenario per process
warnings.simplefilter("always", DeprecationWarning)


def top(scene: bpy.types.Scene) -> Any:
    """The top-level strip collection (`strips` from 4.4, `sequences` before)."""
    ed = scene.sequence_editor
    return ed.strips if hasattr(ed, "strips") else ed.sequences


def every(scene: bpy.types.Scene) -> list[Any]:
    """Every strip, meta-strip contents included."""
    ed = scene.sequence_editor
    return list(ed.strips_all if hasattr(ed, "strips_all") else ed.sequences_all)


def add_color(scene: bpy.types.Scene, name: str, channel: int, frame: int, length: int) -> Any:
    """A COLOR effect strip (5.0 takes `length`, 4.x `frame_end`)."""
    try:
        return top(scene).new_effect(name=name, type="COLOR", channel=channel, frame_start=frame, length=length)
    except TypeError:
        return top(scene).new_effect(name=name, type="COLOR", channel=channel, frame_start=frame,
                                     frame_end=frame + length)


def span(strip: Any) -> list[int]:
    """[first visible frame, frame after the last]."""
    return [getattr(strip, _SPAN[0]), getattr(strip, _SPAN[1])]


def trim(strip: Any, start: int, end: int) -> None:
    setattr(strip, _TRIM[0], start)
    setattr(strip, _TRIM[1], end)


def move(strip: Any, frame: int) -> None:
    setattr(strip, _MOVE, frame)


def content_trim(strip: Any, start: int, end: int) -> None:
    """Drop source frames before/after the content (Strip > Movie > Trim in the sidebar)."""
    setattr(strip, _CONTENT_TRIM[0], start)
    setattr(strip, _CONTENT_TRIM[1], end)


def extension_deprecations() -> list[str]:
    return sorted({f"{w.filename}:{w.lineno}: {w.message}" for w in _RECORDED
                   if issubclass(w.category, DeprecationWarning) and EXTENSION_DIR in w.filename})


def install() -> Any:
    result = bpy.ops.extensions.package_install_files(filepath=os.environ["EXPOTION_TEST_ZIP"], repo="user_default",
                                                      enable_on_install=True)
    assert result == {"FINISHED"}, result
    assert MODULE in bpy.context.preferences.addons
    return sys.modules[MODULE]


def new_scene(fps: int, base: float, name: str = "Edit") -> bpy.types.Scene:
    scene = bpy.context.scene
    scene.name = name
    scene.render.fps, scene.render.fps_base = fps, base
    scene.sequence_editor_create()
    return scene


def add_movie(scene: bpy.types.Scene, name: str, clip: str, channel: int, frame: int, trim_frames=(0, 0)) -> Any:
    strip = top(scene).new_movie(name=name, filepath=clip, channel=channel, frame_start=frame)
    trim(strip, *trim_frames)
    return strip


def select(scene: bpy.types.Scene, *strips: Any) -> None:
    for s in every(scene):
        s.select = False
    for s in strips:
        s.select = True
    if strips:
        scene.sequence_editor.active_strip = strips[0]


def sounds(scene: bpy.types.Scene) -> list[Any]:
    return sorted((s for s in every(scene) if s.type == "SOUND"),
                  key=lambda s: (span(s)[0], s.channel))


def wav_samples(strip: Any) -> int:
    with wave.open(bpy.path.abspath(strip.sound.filepath), "rb") as w:
        return w.getnframes()


def describe(strip: Any) -> dict[str, Any]:
    meta = strip.get("expotion")
    start, end = span(strip)
    return {"name": strip.name, "start": start, "end": end,
            "channel": strip.channel, "mute": strip.mute, "samples": wav_samples(strip),
            "meta": meta.to_dict() if meta else None}


def done(data: dict[str, Any]) -> None:
    data["deprecations"] = extension_deprecations()
    sys.stdout.write("SCENARIO_RESULT " + json.dumps(data) + "\n")
    sys.stdout.flush()


def expect_error(op: Any, *words: str, **kwargs: Any) -> str:
    try:
        op(**kwargs)
    except RuntimeError as exc:
        text = str(exc)
        assert all(w.lower() in text.lower() for w in words), text
        return text
    raise AssertionError(f"{op} did not fail")


# -- scenarios ---------------------------------------------------------------------------------
def score() -> None:
    """29.97 scene: a plain-offset strip (path mode) and a 25 fps strip (proxy), 2 takes, a blocker
    strip; then regenerate in place and undo both steps."""
    install()
    clips = ARGS["clips"]
    scene = new_scene(30, 1.001)
    a = add_movie(scene, "A", clips["c2997"], 2, 7, trim_frames=(5, 9))
    b = add_movie(scene, "B", clips["c25"], 1, 120, trim_frames=(3, 0))
    blocker = add_color(scene, "blk", 3, 40, 10)
    select(scene, a, b, blocker)
    scene.expotion.prompt, scene.expotion.takes = "warm piano", 2
    scene.expotion.seed_mode, scene.expotion.seed = "FIXED", 11
    bpy.ops.ed.undo_push(message="before scoring")
    t0 = time.perf_counter()
    # bpy.ops calls from Python push an undo step only when asked (positional `undo=True`), as a
    # click in the UI does.
    assert bpy.ops.expotion.score_strips("EXEC_DEFAULT", True, wait=True) == {"FINISHED"}
    score_s = time.perf_counter() - t0
    placed = [describe(s) for s in sounds(scene)]
    video = {s.name: [*span(s), s.channel] for s in (a, b)}
    first_a = next(s for s in sounds(scene) if s["expotion"]["source_name"] == "A" and s["expotion"]["take"] == 0)
    old_job = first_a["expotion"]["job_id"]
    select(scene, first_a)
    assert bpy.ops.expotion.regenerate("EXEC_DEFAULT", True, wait=True, new_seed=True) == {"FINISHED"}
    regenerated = [describe(s) for s in sounds(scene)]
    bpy.ops.ed.undo()
    after_undo1 = [describe(s) for s in sounds(bpy.context.scene)]
    bpy.ops.ed.undo()
    after_undo2 = [describe(s) for s in sounds(bpy.context.scene)]
    done({"video": video, "placed": placed, "regenerated": regenerated, "old_job": old_job,
          "after_undo1": after_undo1, "after_undo2": after_undo2, "score_s": score_s})


def score_23976() -> None:
    """23.976 scene, 23.976 clip with trims: path mode, exact samples."""
    install()
    scene = new_scene(24, 1.001)
    c = add_movie(scene, "C", ARGS["clips"]["c23976"], 1, -4, trim_frames=(9, 2))
    select(scene, c)
    assert bpy.ops.expotion.score_strips(wait=True) == {"FINISHED"}
    done({"video": [*span(c), c.channel], "placed": [describe(s) for s in sounds(scene)]})


def async_moves() -> None:
    """The worker/timer path (timers never fire in background, so `_tick` is pumped by hand):
    one strip is moved and one deleted while their jobs run."""
    ext = install()
    clips = ARGS["clips"]
    scene = new_scene(25, 1.0)
    a = add_movie(scene, "A", clips["c25"], 1, 1)
    b = add_movie(scene, "B", clips["c25"], 1, 200)
    settings = ext.preferences.get(bpy.context)
    t0 = time.perf_counter()
    requests = [ext.snapshot.request_for(bpy.context, s, ext.properties.params_from(scene.expotion), settings)
                for s in (a, b)]
    ext.runtime.submit(requests)
    submit_s = (time.perf_counter() - t0) / 2
    a.channel = 5  # moved while running
    move(a, 40)
    top(scene).remove(b)  # deleted while running
    ticks, deadline = [], time.monotonic() + 30
    while ext.runtime.active_count() and time.monotonic() < deadline:
        time.sleep(0.05)
        t = time.perf_counter()
        ext.runtime._tick()
        ticks.append(time.perf_counter() - t)
    ext.runtime._tick()
    ext.runtime.check_service_blocking(settings.client)  # the service has path mode: no proxy render
    t0 = time.perf_counter()
    path_request = ext.snapshot.request_for(bpy.context, a, ext.properties.params_from(scene.expotion), settings)
    path_snapshot_s = time.perf_counter() - t0
    assert path_request.upload_path is None and path_request.params.path
    states = {s.label: [s.status, s.error] for s in ext.runtime.job_states()}
    done({"states": states, "placed": [describe(s) for s in sounds(scene)],
          "a": [*span(a), a.channel], "submit_s": submit_s, "path_snapshot_s": path_snapshot_s,
          "tick_max_s": max(ticks), "tick_mean_s": sum(ticks) / len(ticks), "ticks": len(ticks)})


def pump(ext: Any, scene: bpy.types.Scene, until: Any = None, timeout: float = 30.0) -> list[list[Any]]:
    """Call the timer callback (timers never fire in background) until no job is active or `until()`
    -> [sound strips added, work reported by the tick, seconds] per tick."""
    ticks, deadline = [], time.monotonic() + timeout
    while ext.runtime.active_count() and not (until and until()) and time.monotonic() < deadline:
        time.sleep(0.02)
        before, t0 = len(sounds(scene)), time.perf_counter()
        ext.runtime._tick()
        ticks.append([len(sounds(scene)) - before, ext.runtime.tick_log[-1][1], time.perf_counter() - t0])
    return ticks


def requests_for(ext: Any, *strips: Any) -> list[Any]:
    scene, settings = bpy.context.scene, ext.preferences.get(bpy.context)
    return [ext.snapshot.request_for(bpy.context, s, ext.properties.params_from(scene.expotion), settings)
            for s in strips]


def async_takes() -> None:
    """The timer path with 2 strips x 2 takes: one sound strip per tick, one undo step per job."""
    ext = install()
    clips = ARGS["clips"]
    scene = new_scene(30, 1.001)
    a = add_movie(scene, "A", clips["c2997"], 1, 1, trim_frames=(2, 3))
    b = add_movie(scene, "B", clips["c2997"], 1, 120)
    scene.expotion.takes = 2
    bpy.ops.ed.undo_push(message="before scoring")
    ext.runtime.submit(requests_for(ext, a, b))
    ticks = pump(ext, scene)
    states = {s.label: [s.status, s.error] for s in ext.runtime.job_states()}
    placed = [describe(s) for s in sounds(scene)]
    bpy.ops.ed.undo()
    after_undo1 = [describe(s) for s in sounds(bpy.context.scene)]
    bpy.ops.ed.undo()
    after_undo2 = [describe(s) for s in sounds(bpy.context.scene)]
    done({"ticks": ticks, "states": states, "placed": placed, "after_undo1": after_undo1, "after_undo2": after_undo2})


def async_rollback() -> None:
    """A job's second take finds its channel taken (the user dropped a strip there between ticks),
    and another job is cancelled after its first take: neither leaves anything on the timeline."""
    ext = install()
    scene = new_scene(25, 1.0)
    a = add_movie(scene, "A", ARGS["clips"]["c25"], 1, 1)
    scene.expotion.takes = 2
    sounds_before = len(bpy.data.sounds)
    ext.runtime.submit(requests_for(ext, a))
    first = pump(ext, scene, until=lambda: len(sounds(scene)) == 1)
    take0 = sounds(scene)[0]
    start = span(take0)[0]
    add_color(scene, "dropped", take0.channel + 1, start + 5, 10)
    pump(ext, scene)
    conflict = {s.label: [s.status, s.error, s.hint] for s in ext.runtime.job_states()}
    left_after_conflict = len(sounds(scene))
    ext.runtime.clear_finished()
    (request,) = requests_for(ext, a)
    ext.runtime.submit([request])
    pump(ext, scene, until=lambda: len(sounds(scene)) == 1)
    ext.runtime.cancel(request.key)
    cancelled = [[s.status, s.error] for s in ext.runtime.job_states()]
    pump(ext, scene, timeout=2.0)
    done({"first_ticks": first, "conflict": conflict, "left_after_conflict": left_after_conflict,
          "cancelled": cancelled, "left_after_cancel": len(sounds(scene)),
          "orphan_sounds": len(bpy.data.sounds) - sounds_before})


def dead_worker() -> None:
    """A bug kills the worker thread while a job runs: the next tick fails the job with a way out;
    scoring again starts a new worker that works."""
    ext = install()
    scene = new_scene(25, 1.0)
    a = add_movie(scene, "A", ARGS["clips"]["c25"], 1, 1)
    finish = ext.jobs.finish

    def broken(*args: Any) -> Any:
        raise KeyError("simulated bug in the worker")

    ext.jobs.finish = broken  # looked up at call time on the worker thread
    ext.runtime.submit(requests_for(ext, a))
    pump(ext, scene, timeout=20.0)
    first = [[s.status, s.error, s.hint] for s in ext.runtime.job_states()]
    ext.jobs.finish = finish
    ext.runtime.clear_finished()
    ext.runtime.submit(requests_for(ext, a))
    pump(ext, scene, timeout=20.0)
    again = [[s.status, s.error] for s in ext.runtime.job_states()]
    done({"first": first, "again": again, "sounds": len(sounds(scene))})


def content_trimmed() -> None:
    """A movie strip with a content trim (source frames dropped) and handle trims, scored in path
    mode and then as an uploaded proxy, in a scene at ARGS["fps"]/1.001."""
    install()
    scene = new_scene(ARGS["fps"], 1.001)
    c = add_movie(scene, "C", ARGS["clips"][ARGS["clip"]], 1, 10)
    content_trim(c, *ARGS["content_trim"])
    trim(c, *ARGS["handles"])
    select(scene, c)
    prefs = bpy.context.preferences.addons[MODULE].preferences
    out: dict[str, Any] = {"video": span(c)}
    for transfer in ("PATH", "UPLOAD"):
        prefs.transfer = transfer
        assert bpy.ops.expotion.score_strips(wait=True) == {"FINISHED"}
    out["placed"] = [describe(s) for s in sounds(scene)]
    done(out)


def errors() -> None:
    """Service down, wrong token, failed job, no person, non-movie selection, missing file."""
    install()
    clips = ARGS["clips"]
    scene = new_scene(25, 1.0)
    a = add_movie(scene, "A", clips["c25"], 1, 1)
    prefs = bpy.context.preferences.addons[MODULE].preferences
    out: dict[str, Any] = {}
    select(scene, a)
    os.environ["EXPOTION_SERVICE_URL"] = ARGS["down_url"]
    os.environ["EXPOTION_SERVICE_URL"] = "http://10.255.255.1:8765"  # not loopback, online access is off
    assert not bpy.app.online_access
    out["offline"] = expect_error(bpy.ops.expotion.score_strips, "online access", wait=True)
    os.environ["EXPOTION_SERVICE_URL"] = ARGS["down_url"]
    out["down"] = expect_error(bpy.ops.expotion.score_strips, "cannot reach", "generator_service serve", wait=True)
    os.environ["EXPOTION_SERVICE_URL"] = ARGS["token_url"]
    prefs.token = "wrong"
    out["token"] = expect_error(bpy.ops.expotion.score_strips, "token", wait=True)
    os.environ["EXPOTION_SERVICE_URL"] = ARGS["url"]
    scene.expotion.prompt = "FAIL please"
    out["failed"] = expect_error(bpy.ops.expotion.score_strips, "generation failed", "another seed", wait=True)
    assert not sounds(scene), "a failed job must leave the timeline unchanged"
    scene.expotion.prompt = "NOPERSON"
    assert bpy.ops.expotion.score_strips(wait=True) == {"FINISHED"}
    assert len(sounds(scene)) == 1
    snd = sounds(scene)[0]
    select(scene, snd)
    out["sound_only"] = expect_error(bpy.ops.expotion.score_strips, "movie", wait=True)
    missing = add_movie(scene, "M", "/nonexistent/clip.mp4", 6, 1)
    select(scene, missing)
    out["missing"] = expect_error(bpy.ops.expotion.score_strips, "cannot be read", wait=True)
    select(scene)
    out["nothing"] = expect_error(bpy.ops.expotion.score_strips, "select", wait=True)
    assert len(sounds(scene)) == 1
    out["no_person_visual"] = snd["expotion"]["visual"]
    select(scene, a)
    assert bpy.ops.expotion.suggest_prompt() == {"FINISHED"}
    out["suggested"] = scene.expotion.prompt
    done(out)


def e2e() -> None:
    """Against the real service: a path-mode strip and a proxy-upload strip in a 29.97 scene."""
    install()
    clips = ARGS["clips"]
    scene = new_scene(30, 1.001)
    a = add_movie(scene, "A", clips["c2997"], 1, 3, trim_frames=(4, 6))
    b = add_movie(scene, "B", clips["c25"], 1, 150, trim_frames=(2, 3))
    select(scene, a, b)
    scene.expotion.prompt, scene.expotion.seed_mode = "calm strings", "FIXED"
    try:
        bpy.ops.expotion.score_strips(wait=True)
    except RuntimeError as exc:  # warnings are fine (e.g. no person in a synthetic clip), errors are not
        assert "Error" not in str(exc), exc
    video = {s.name: [*span(s), s.channel] for s in (a, b)}
    done({"video": video, "placed": [describe(s) for s in sounds(scene)]})


def reregister() -> None:
    """Disable/enable twice: classes, Scene property and worker go away and come back cleanly."""
    import addon_utils

    ext = install()
    scene = new_scene(25, 1.0)
    a = add_movie(scene, "A", ARGS["clips"]["c25"], 1, 1)
    select(scene, a)
    ext.runtime.refresh_service(ext.preferences.get(bpy.context).client)  # starts the worker
    worker = ext.runtime._worker
    for _ in range(2):
        addon_utils.disable(MODULE, default_set=True)
        assert not hasattr(bpy.types.Scene, "expotion")
        assert not hasattr(bpy.types, "EXPOTION_OT_score_strips")
        assert not hasattr(bpy.types, "SEQUENCER_PT_expotion")
        assert worker is None or not worker.is_alive()
        addon_utils.enable(MODULE, default_set=True)
        assert hasattr(bpy.types.Scene, "expotion")
    assert bpy.ops.expotion.score_strips(wait=True) == {"FINISHED"}
    done({"sounds": len(sounds(scene))})


class CheckedLayout:
    """A stand-in for `bpy.types.UILayout` (bpy has no window to draw in) that checks every call
    against this Blender's own RNA: the function exists, each argument is one of its parameters, enum
    arguments (icons, progress types) are valid, `prop` names a real property, `operator` a
    registered operator and the properties set on it exist. Records (call, text) pairs."""

    CONTAINERS = ("row", "column", "box", "split", "column_flow", "grid_flow")

    def __init__(self, calls: list[list[str]]) -> None:
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        fn = bpy.types.UILayout.bl_rna.functions.get(name)
        assert fn is not None, f"UILayout has no {name}() in this Blender"
        params = fn.parameters

        def call(*args: Any, **kw: Any) -> Any:
            named = dict(zip(params.keys(), args), **kw)
            for key, value in named.items():
                assert key in params.keys(), f"UILayout.{name}() has no parameter {key!r}"
                param = params[key]
                if param.type == "ENUM" and isinstance(value, str):
                    assert value in {i.identifier for i in param.enum_items}, f"{name}({key}={value!r}) is not valid"
            self._calls.append([name, str(named.get("text", ""))])
            if name in self.CONTAINERS:
                return CheckedLayout(self._calls)
            if name == "prop":
                data, prop = named["data"], named["property"]
                assert prop in data.bl_rna.properties.keys(), f"{data!r} has no property {prop!r}"
            if name == "operator":
                module, op = named["operator"].split(".")
                rna = getattr(getattr(bpy.ops, module), op).get_rna_type()  # KeyError if not registered
                return CheckedProperties(rna)
            return None

        return call


class CheckedProperties:
    """The operator properties `layout.operator()` returns: only real properties can be set."""

    def __init__(self, rna: Any) -> None:
        object.__setattr__(self, "_rna", rna)

    def __setattr__(self, name: str, value: Any) -> None:
        assert name in self._rna.properties.keys(), f"{self._rna.identifier} has no property {name!r}"


class Drawn:
    """`self` of a draw() call: the checking layout, everything else from the real object."""

    def __init__(self, real: Any, layout: CheckedLayout) -> None:
        self._real, self.layout = real, layout

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def panels() -> None:
    """The sidebar panels drawn in every state they show (no service, checking, healthy untrained
    service, error; jobs active/finished/failed), through `CheckedLayout`."""
    ext = install()
    scene = new_scene(25, 1.0)
    add_movie(scene, "A", ARGS["clips"]["c25"], 1, 1)
    rt, jobs, protocol = ext.runtime, ext.jobs, ext.protocol
    panel_classes = [ext.ui.panel.SEQUENCER_PT_expotion, ext.ui.job_list.SEQUENCER_PT_expotion_jobs]
    health = protocol.Health(status="ok", version="9.9", device="cpu", model="tiny", untrained=True, queue_depth=2)
    models = protocol.Models(base_model="tiny", adapters=("mine",), untrained=True)
    services = {
        "unknown": dict(health=None, models=None, error="", checking=False),
        "checking": dict(health=None, models=None, error="", checking=True),
        "healthy": dict(health=health, models=models, error="", checking=False),
        "down": dict(health=None, models=None, error="service down at http://127.0.0.1:9", checking=False),
    }
    job_sets = {
        "none": [],
        "mixed": [jobs.JobState(key="a", label="A", status="running", phase="generate", progress=0.4, eta_s=12.0),
                  jobs.JobState(key="b", label="B", status="queued"),
                  jobs.JobState(key="c", label="C", status="failed", error="no person", hint="pick a clip"),
                  jobs.JobState(key="d", label="D", status="succeeded"),
                  jobs.JobState(key="e", label="E", status="cancelled")],
    }
    out: dict[str, Any] = {}
    for (sname, service), (jname, states) in [(s, j) for s in services.items() for j in job_sets.items()]:
        rt._service.update(service)
        rt._states.clear()
        rt._states.update({st.key: st for st in states})
        for mode in ("RANDOM", "FIXED"):
            scene.expotion.seed_mode = mode
            scene.expotion.analysis = "motion 120 bpm" if mode == "FIXED" else ""
            calls: list[list[str]] = []
            for cls in panel_classes:
                cls.draw(Drawn(None, CheckedLayout(calls)), bpy.context)
            out[f"{sname}/{jname}/{mode}"] = calls
    rt._states.clear()
    prefs = bpy.context.preferences.addons[MODULE].preferences
    calls = []
    type(prefs).draw(Drawn(prefs, CheckedLayout(calls)), bpy.context)
    rt._set_service(health, models, "")  # adapters listed: visual guidance goes with an adapter only
    settings = scene.expotion
    settings.visual_guidance = 3.0
    visual = []
    for adapter in ("mine", "NONE"):
        settings.adapter = adapter
        visual.append(ext.properties.params_from(settings).visual_guidance)
    done({"drawn": out, "preferences": calls, "visual_guidance": visual})


if __name__ == "__main__":
    globals()[sys.argv[1]]()
