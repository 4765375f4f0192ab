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
_CONTENT_TRIM = (
    ("content_trim_start", "content_trim_end")
    if "content_trim_start" in _MOVIE_TYPE.bl_rna.properties.keys()
    else ("animation_offset_start", "animation_offset_end")
)
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
        return top(scene).new_effect(
            name=name, type="COLOR", channel=channel, frame_start=frame, frame_end=frame + length
        )


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
    return sorted(
        {
            f"{w.filename}:{w.lineno}: {w.message}"
            for w in _RECORDED
            if issubclass(w.category, DeprecationWarning) and EXTENSION_DIR in w.filename
        }
    )


def install() -> Any:
    result = bpy.ops.extensions.package_install_files(
        filepath=os.environ["EXPOTION_TEST_ZIP"], repo="user_default", enable_on_install=True
    )
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
    return sorted((s for s in every(scene) if s.type == "SOUND"), key=lambda s: (span(s)[0], s.channel))


def wav_samples(strip: Any) -> int:
    with wave.open(bpy.path.abspath(strip.sound.filepath), "rb") as w:
        return w.getnframes()


def describe(strip: Any) -> dict[str, Any]:
    meta = strip.get("expotion")
    start, end = span(strip)
    stored = strip.get("expotion_takes")
    return {
        "name": strip.name,
        "start": start,
        "end": end,
        "channel": strip.channel,
        "mute": strip.mute,
        "samples": wav_samples(strip),
        "file": strip.sound.filepath,
        "meta": meta.to_dict() if meta else None,
        "takes": [t.to_dict() for t in stored] if stored is not None else [],
    }


def music(scene: bpy.types.Scene) -> list[dict[str, Any]]:
    """Every Expotion music strip, described."""
    return [describe(s) for s in sounds(scene) if s.get("expotion") is not None]


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


class Reports:
    """Stands in for an operator's `report()` where the interactive path is driven by hand."""

    def __init__(self) -> None:
        self.lines: list[list[str]] = []

    def report(self, kind: set[str], text: str) -> None:
        self.lines.append([sorted(kind)[0], text])


def write_wav(path: str, seconds: float) -> str:
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(32000)
        w.writeframes(b"\0\0" * round(seconds * 32000))
    return path


def pump(ext: Any, scene: bpy.types.Scene, until: Any = None, timeout: float = 300.0) -> list[list[Any]]:
    """Call the timer callback (timers never fire in background) until no job is active or `until()`
    -> [sound strips added, work reported by the tick, seconds] per tick."""
    ticks, deadline = [], time.monotonic() + timeout
    while ext.runtime.active_count() and not (until and until()) and time.monotonic() < deadline:
        time.sleep(0.02)
        before, t0 = len(sounds(scene)), time.perf_counter()
        ext.runtime._tick()
        ticks.append([len(sounds(scene)) - before, ext.runtime.tick_log[-1][1], time.perf_counter() - t0])
    return ticks


def interactive(ext: Any, scene: bpy.types.Scene, strips: list[Any]) -> Reports:
    """What a click on Score runs in the UI (background mode forces wait=True on the operator)."""
    reports = Reports()
    settings = ext.preferences.get(bpy.context)
    items = [ext.scoring.Item(scene, s, ext.properties.params_from(scene.expotion)) for s in strips]
    ext.scoring.run_operator(reports, items, settings, wait=False)
    return reports


def states(ext: Any) -> dict[str, list[Any]]:
    return {s.label: [s.status, s.error, s.hint, s.phase] for s in ext.runtime.job_states()}


def requests_for(ext: Any, *strips: Any) -> list[Any]:
    scene, settings = bpy.context.scene, ext.preferences.get(bpy.context)
    base, path_mode = ext.properties.params_from(scene.expotion), ext.runtime.service_reads_paths()
    return [ext.snapshot.request_for(bpy.context, s, base, settings, path_mode=path_mode) for s in strips]


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
    # bpy.ops calls from Python push an undo step only when asked (positional `undo=True`), as a
    # click in the UI does.
    assert bpy.ops.expotion.score_strips("EXEC_DEFAULT", True, wait=True) == {"FINISHED"}
    placed = music(scene)
    video = {s.name: [*span(s), s.channel] for s in (a, b)}
    first_a = next(s for s in sounds(scene) if s["expotion"]["source_name"] == "A")
    old_job = first_a["expotion"]["job_id"]
    select(scene, first_a)
    assert bpy.ops.expotion.regenerate("EXEC_DEFAULT", True, wait=True, new_seed=True) == {"FINISHED"}
    regenerated = music(scene)
    bpy.ops.ed.undo()
    after_undo1 = music(bpy.context.scene)
    bpy.ops.ed.undo()
    after_undo2 = music(bpy.context.scene)
    done(
        {
            "video": video,
            "placed": placed,
            "regenerated": regenerated,
            "old_job": old_job,
            "after_undo1": after_undo1,
            "after_undo2": after_undo2,
        }
    )


def timeline() -> None:
    """Two movie strips back to back on one channel (a cut at frame 41), a marker at frame 60 and one
    past the range: `score_timeline` headless scores the selected span 1-80 as one piece; regenerate
    makes it again in place; the interactive path scores the preview range 21-60, rendering its proxy
    one frame per tick; per-strip scoring sends the panel's lock and the markers over the strip."""
    ext = install()
    clips = ARGS["clips"]
    scene = new_scene(25, 1.0)
    scene.render.resolution_x, scene.render.resolution_y = 320, 180  # the 160x90 clips at 2x, scaled up
    a = add_movie(scene, "A", clips["c25"], 1, 1, trim_frames=(0, 35))  # frames 1-40
    b = add_movie(scene, "B", clips["c25"], 1, 41, trim_frames=(0, 35))  # frames 41-80, same channel
    for strip in (a, b):
        strip.transform.scale_x = strip.transform.scale_y = 2.0  # fill the frame (as "Scale to Fit" would)
    scene.timeline_markers.new("hit", frame=60)
    scene.timeline_markers.new("later", frame=100)
    select(scene, a, b)
    scene.expotion.prompt, scene.expotion.seed_mode, scene.expotion.seed = "drums", "FIXED", 5
    video = {s.name: [*span(s), s.channel] for s in (a, b)}
    assert bpy.ops.expotion.score_timeline("EXEC_DEFAULT", True, wait=True) == {"FINISHED"}
    placed = music(scene)
    select(scene, next(s for s in sounds(scene) if s.get("expotion") is not None))
    assert bpy.ops.expotion.regenerate("EXEC_DEFAULT", True, wait=True, new_seed=True) == {"FINISHED"}
    regenerated = music(scene)
    scene.use_preview_range = True
    scene.frame_preview_start, scene.frame_preview_end = 21, 60
    reports = Reports()
    item = ext.scoring.Item(
        scene, None, ext.properties.params_from(scene.expotion), span=ext.timeline.scoring_range(scene)
    )
    ext.scoring.run_operator(reports, [item], ext.preferences.get(bpy.context), wait=False)
    ticks = pump(ext, scene)
    preview = [m for m in music(scene) if m["meta"].get("timeline") == [21, 61]]
    scene.use_preview_range = False
    scene.expotion.beat_lock = "MOTION"
    select(scene, b)
    assert bpy.ops.expotion.score_strips("EXEC_DEFAULT", True, wait=True) == {"FINISHED"}
    per_strip = [m for m in music(scene) if m["meta"]["source_name"] == "B"]
    done(
        {
            "video": video,
            "placed": placed,
            "regenerated": regenerated,
            "preview": preview,
            "proxy_ticks": sum(1 for _, work, _ in ticks if work == "proxy"),
            "reports": reports.lines,
            "per_strip": per_strip,
            "states": states(ext),
        }
    )


def takes_browser() -> None:
    """Scoring a strip again replaces its music (one strip; older takes kept), then the takes
    browser's operators: use a take, audition one solo and stop, remove one, regenerate with the
    panel's settings and as it was."""
    ext = install()
    scene = new_scene(25, 1.0)
    a = add_movie(scene, "A", ARGS["clips"]["c25"], 1, 1)
    dialog = top(scene).new_sound(
        name="dialog", filepath=write_wav(os.path.abspath("dialog.wav"), 2.0), channel=6, frame_start=10
    )
    scene.expotion.takes, scene.expotion.prompt = 2, "first"
    scene.expotion.seed_mode, scene.expotion.seed = "FIXED", 100
    select(scene, a)
    assert bpy.ops.expotion.score_strips(wait=True) == {"FINISHED"}
    first = music(scene)
    scene.expotion.takes, scene.expotion.prompt, scene.expotion.seed = 1, "second", 200
    select(scene, a)
    assert bpy.ops.expotion.score_strips(wait=True) == {"FINISHED"}
    rescored = music(scene)
    ids = [t["take_id"] for t in rescored[0]["takes"]]
    strip = next(s for s in sounds(scene) if s.get("expotion") is not None)
    select(scene, strip)
    assert bpy.ops.expotion.take_swap(take_id=ids[1]) == {"FINISHED"}
    swapped = music(scene)
    assert bpy.ops.expotion.take_audition(take_id=ids[0]) == {"FINISHED"}
    auditioning = {
        "music": music(scene),
        "dialog_muted": dialog.mute,
        "frame": scene.frame_current,
        "state": ext.takes.audition_state(scene),
    }
    assert bpy.ops.expotion.take_audition(stop=True) == {"FINISHED"}
    stopped = {"music": music(scene), "dialog_muted": dialog.mute, "state": ext.takes.audition_state(scene)}
    assert bpy.ops.expotion.take_delete(take_id=ids[2]) == {"FINISHED"}
    refused = expect_error(bpy.ops.expotion.take_delete, "cannot be removed", take_id=ids[1])
    deleted = music(scene)
    scene.expotion.prompt, scene.expotion.seed = "third", 300
    select(scene, *[s for s in sounds(scene) if s.get("expotion") is not None])
    assert bpy.ops.expotion.regenerate(use_panel=True, wait=True) == {"FINISHED"}
    with_panel = music(scene)
    scene.expotion.prompt = "not used"
    assert bpy.ops.expotion.regenerate(use_panel=False, new_seed=False, wait=True) == {"FINISHED"}
    as_it_was = music(scene)
    done(
        {
            "first": first,
            "rescored": rescored,
            "swapped": swapped,
            "auditioning": auditioning,
            "stopped": stopped,
            "refused": refused,
            "deleted": deleted,
            "with_panel": with_panel,
            "as_it_was": as_it_was,
            "sound_strips": len(sounds(scene)),
        }
    )


def replace_temp() -> None:
    """A temp track under two movie strips: Replace Temp Track per strip headless puts each strip's
    music on the temp's channel, the temp moved up and muted (kept), the melody sent with the second
    heard at each strip's start; A/B from the Takes panel; regenerate follows the temp again; the
    range as one piece; a temp that does not play under the movie is refused naming it."""
    install()
    scene = new_scene(25, 1.0)
    a = add_movie(scene, "A", ARGS["clips"]["c25"], 1, 1, trim_frames=(10, 0))  # frames 11-75
    b = add_movie(scene, "B", ARGS["clips"]["c25"], 1, 101)  # frames 101-175
    temp = top(scene).new_sound(
        name="temp", filepath=write_wav(os.path.abspath("temp.wav"), 8.0), channel=2, frame_start=1
    )  # frames 1-200
    blocker = add_color(scene, "blk", 3, 150, 10)  # the temp cannot move to channel 3: it goes to 4
    scene.expotion.prompt, scene.expotion.seed_mode, scene.expotion.seed = "strings", "FIXED", 7
    select(scene, a, b, temp)
    bpy.ops.ed.undo_push(message="before replacing")
    assert bpy.ops.expotion.replace_temp_track("EXEC_DEFAULT", True, wait=True) == {"FINISHED"}
    per_strip = {"music": music(scene), "temp": [temp.channel, temp.mute, *span(temp)], "blocker": blocker.channel}
    strip_a = next(s for s in sounds(scene) if (s.get("expotion") or {}).get("source_name") == "A")
    select(scene, strip_a)
    assert bpy.ops.expotion.temp_ab(temp_plays=True) == {"FINISHED"}
    hear_temp = [temp.mute, strip_a.mute]
    assert bpy.ops.expotion.temp_ab(temp_plays=False) == {"FINISHED"}
    hear_music = [temp.mute, strip_a.mute]
    assert bpy.ops.expotion.regenerate("EXEC_DEFAULT", True, wait=True, new_seed=True) == {"FINISHED"}
    regenerated = [m for m in music(scene) if m["meta"]["source_name"] == "A"]
    bpy.ops.ed.undo()
    bpy.ops.ed.undo()
    scene = bpy.context.scene
    temp_after_undo = [[s.channel, s.mute] for s in sounds(scene) if s.name == "temp"]
    music_after_undo = music(scene)
    a, b, temp = (vse_named(scene, n) for n in ("A", "B", "temp"))
    select(scene, a, b, temp)
    assert bpy.ops.expotion.replace_temp_track("EXEC_DEFAULT", True, wait=True, scope="TIMELINE") == {"FINISHED"}
    one_piece = music(scene)
    late = top(scene).new_sound(
        name="late", filepath=write_wav(os.path.abspath("late.wav"), 2.0), channel=7, frame_start=60
    )
    temp.select = False
    select(scene, a, late)
    refused = expect_error(bpy.ops.expotion.replace_temp_track, "late", "frame 11", wait=True)
    done(
        {
            "per_strip": per_strip,
            "hear_temp": hear_temp,
            "hear_music": hear_music,
            "regenerated": regenerated,
            "temp_after_undo": temp_after_undo,
            "music_after_undo": music_after_undo,
            "one_piece": one_piece,
            "refused": refused,
            "late_muted": late.mute,
        }
    )


def vse_named(scene: bpy.types.Scene, name: str) -> Any:
    return next(s for s in every(scene) if s.name == name)


def missing_after_save() -> None:
    """A movie file deleted after the .blend was saved: scoring and regenerating are refused naming
    the file, and the timeline and the audio folder stay as they were."""
    import shutil

    install()
    mine = os.path.abspath("mine.mp4")
    shutil.copy(ARGS["clips"]["c25"], mine)
    scene = new_scene(25, 1.0)
    a = add_movie(scene, "A", mine, 1, 1)
    bpy.context.preferences.addons[MODULE].preferences.transfer = "UPLOAD"
    bpy.ops.wm.save_as_mainfile(filepath=os.path.abspath("proj.blend"))
    select(scene, a)
    assert bpy.ops.expotion.score_strips(wait=True) == {"FINISHED"}
    bpy.ops.wm.save_mainfile()
    before = music(scene)
    files_before = sorted(os.listdir("expotion_audio"))
    os.remove(mine)
    bpy.ops.wm.open_mainfile(filepath=os.path.abspath("proj.blend"))
    scene = bpy.context.scene
    a = next(s for s in every(scene) if s.name == "A")
    select(scene, a)
    scored = expect_error(bpy.ops.expotion.score_strips, mine, "does not exist", wait=True)
    select(scene, *[s for s in sounds(scene) if s.get("expotion") is not None])
    regenerated = expect_error(bpy.ops.expotion.regenerate, mine, "does not exist", wait=True, new_seed=True)
    done(
        {
            "before": before,
            "after": music(scene),
            "score_error": scored,
            "regenerate_error": regenerated,
            "files_before": files_before,
            "files_after": sorted(os.listdir("expotion_audio")),
        }
    )


def unsaved_follows_save() -> None:
    """Music scored in a never-saved file moves next to it on Save As (a job finishing after the
    save too), with relative paths that survive moving the project; 'open audio folder' opens it."""
    import shutil

    ext = install()
    clips = ARGS["clips"]
    scene = new_scene(25, 1.0)
    a = add_movie(scene, "A", clips["c25"], 1, 1)
    b = add_movie(scene, "B", clips["c25"], 1, 200)
    select(scene, a)
    assert bpy.ops.expotion.score_strips(wait=True) == {"FINISHED"}
    unsaved = music(scene)
    held = bpy.path.abspath(unsaved[0]["file"])
    interactive(ext, scene, [b])  # still running when the file is saved
    project = os.path.abspath("project")
    os.makedirs(project)
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(project, "edit.blend"))
    pump(ext, scene)
    bpy.ops.wm.save_mainfile()
    saved = music(scene)
    audio = ext.snapshot.audio_dir(ext.preferences.get(bpy.context))
    assert bpy.ops.expotion.open_audio_folder() == {"FINISHED"}
    moved = os.path.abspath("moved")
    shutil.move(project, moved)
    bpy.ops.wm.open_mainfile(filepath=os.path.join(moved, "edit.blend"))
    reopened = [
        [s.sound.filepath, os.path.isfile(bpy.path.abspath(s.sound.filepath))] for s in sounds(bpy.context.scene)
    ]
    done(
        {
            "unsaved": unsaved,
            "held_exists_after_save": os.path.exists(held),
            "held": held,
            "unsaved_root": ext.audio_folder.unsaved_root(),
            "saved": saved,
            "audio_dir": audio,
            "states": states(ext),
            "reopened": reopened,
        }
    )


def not_ready() -> None:
    """A service that answers but cannot run a job (weights missing): Score is refused with the
    service's hint before anything is rendered or sent, and disabled in the UI with that reason."""
    ext = install()
    scene = new_scene(25, 1.0)
    a = add_movie(scene, "A", ARGS["clips"]["c25"], 1, 1)
    select(scene, a)
    headless = expect_error(bpy.ops.expotion.score_strips, "not ready", *ARGS["words"], wait=True)
    ext.runtime.ui_mode = lambda: True  # as in the UI
    disabled = expect_error(bpy.ops.expotion.score_strips, "not ready", *ARGS["words"])
    calls: list[list[str]] = []
    ext.ui.panel.SEQUENCER_PT_expotion.draw(Drawn(None, CheckedLayout(calls)), bpy.context)
    done({"headless": headless, "disabled": disabled, "drawn": calls, "sounds": len(sounds(scene))})


def auto_check() -> None:
    """The interactive Score: the job is listed at once; the service is checked first, so a service
    that is down fails the job without rendering a proxy, and the first Score after start uses path
    mode when the service offers it. The panel re-checks a stale state by itself."""
    ext = install()
    scene = new_scene(25, 1.0)
    a = add_movie(scene, "A", ARGS["clips"]["c25"], 1, 1)
    rendered: list[str] = []
    original = ext.proxy.ProxyRender

    class Counting(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any) -> None:
            rendered.append("proxy")
            super().__init__(*args)

    ext.proxy.ProxyRender = Counting
    os.environ["EXPOTION_SERVICE_URL"] = ARGS["down_url"]
    down_reports = interactive(ext, scene, [a])
    at_once = states(ext)
    pump(ext, scene)
    down = states(ext)
    ext.runtime.clear_finished()
    os.environ["EXPOTION_SERVICE_URL"] = ARGS["url"]
    up_reports = interactive(ext, scene, [a])
    pump(ext, scene)
    up = states(ext)
    ext.runtime._service.checked_at -= 3600  # long ago: the panel asks again when drawn
    calls: list[list[str]] = []
    ext.runtime.ui_mode = lambda: True  # as in the UI, where the panel is drawn
    ext.ui.panel.SEQUENCER_PT_expotion.draw(Drawn(None, CheckedLayout(calls)), bpy.context)
    rechecking = ext.runtime.service_state()["checking"]
    deadline = time.monotonic() + 20
    while ext.runtime.service_state()["checking"] and time.monotonic() < deadline:
        time.sleep(0.02)
        ext.runtime._tick()
    os.environ["EXPOTION_SERVICE_URL"] = "http://10.255.255.1:8765"  # not this machine; online access is off
    ext.ui.panel.SEQUENCER_PT_expotion.draw(Drawn(None, CheckedLayout([])), bpy.context)
    remote_checked = ext.runtime.service_state()["checking"]
    done(
        {
            "down_reports": down_reports.lines,
            "at_once": at_once,
            "down": down,
            "up_reports": up_reports.lines,
            "remote_checked_without_online_access": remote_checked,
            "up": up,
            "rendered": len(rendered),
            "rechecking": rechecking,
            "fresh_after": ext.runtime.service_fresh(ARGS["url"]),
            "sounds": len(sounds(scene)),
        }
    )


def busy() -> None:
    """While a strip's job runs, Score for that strip is disabled with the reason (no double submit);
    cancelling it cancels the job on the service."""
    ext = install()
    scene = new_scene(25, 1.0)
    a = add_movie(scene, "A", ARGS["clips"]["c25"], 1, 1)
    scene.expotion.prompt = "SLOW"
    interactive(ext, scene, [a])
    pump(ext, scene, until=lambda: ext.runtime.job_states()[0].status in ("queued", "running"))
    select(scene, a)
    refused = expect_error(bpy.ops.expotion.score_strips, "already scoring", "'A'", wait=True)
    ext.runtime.cancel("")
    pump(ext, scene, timeout=300)
    cancelled = states(ext)
    assert bpy.ops.expotion.clear_jobs() == {"FINISHED"}
    done({"refused": refused, "states": cancelled, "after_clear": states(ext)})


def proxy_steps() -> None:
    """The interactive proxy: rendered one frame per timer tick with progress, sent as an MJPEG AVI
    of exactly the visible range; a second render cancelled halfway leaves no scene, no frames and
    sends nothing."""
    import tempfile

    ext = install()
    scene = new_scene(ARGS["fps"], 1.001)
    c = add_movie(scene, "C", ARGS["clips"][ARGS["clip"]], 1, 10)
    content_trim(c, *ARGS["content_trim"])
    trim(c, *ARGS["handles"])
    bpy.context.preferences.addons[MODULE].preferences.transfer = "UPLOAD"
    select(scene, c)
    ext.runtime.ui_mode = lambda: True  # the operators as a click in the UI runs them
    assert bpy.ops.expotion.score_strips() == {"FINISHED"}  # returns at once: nothing rendered yet
    at_once = states(ext)
    phases: list[str] = []
    ticks = []
    deadline = time.monotonic() + 120
    while ext.runtime.active_count() and time.monotonic() < deadline:
        t0 = time.perf_counter()
        ext.runtime._tick()
        ticks.append([ext.runtime.tick_log[-1][1], time.perf_counter() - t0])
        phases.append(ext.runtime.job_states()[0].phase)
        time.sleep(0.005)
    first = states(ext)
    ext.runtime.clear_finished()
    before = set(os.listdir(tempfile.gettempdir()))
    interactive(ext, scene, [c])
    pump(ext, scene, until=lambda: "rendering proxy 5/" in ext.runtime.job_states()[0].phase)
    folders = [f for f in set(os.listdir(tempfile.gettempdir())) - before if f.startswith("expotion-proxy-")]
    ext.runtime.cancel("")
    pump(ext, scene, timeout=300)
    left = [f for f in folders if os.path.exists(os.path.join(tempfile.gettempdir(), f))]
    cancelled = states(ext)
    ext.runtime.clear_finished()
    assert bpy.ops.expotion.suggest_prompt() == {"FINISHED"}  # its proxy goes the same way
    analysing = scene.expotion.analysis
    deadline = time.monotonic() + 60
    while scene.expotion.analysis == analysing and time.monotonic() < deadline:
        ext.runtime._tick()
        time.sleep(0.005)
    done(
        {
            "video": span(c),
            "ticks": ticks,
            "phases": phases,
            "at_once": at_once,
            "first": first,
            "cancelled": cancelled,
            "folders_during": folders,
            "folders_left": left,
            "music": music(scene),
            "temp_scenes": [s.name for s in bpy.data.scenes if s.name.startswith("expotion-proxy-")],
            "analysing": analysing,
            "analysis": scene.expotion.analysis,
            "prompt": scene.expotion.prompt,
            "jobs_after_analysis": states(ext),
        }
    )


def file_changes() -> None:
    """A save while a proxy renders: the temporary scene is not saved and the render starts again, so
    the job still gets its whole proxy. Opening another file while a job runs: its music does not go
    into the file now open."""
    ext = install()
    scene = new_scene(25, 1.0)
    a = add_movie(scene, "A", ARGS["clips"]["c25"], 1, 1)
    bpy.context.preferences.addons[MODULE].preferences.transfer = "UPLOAD"
    interactive(ext, scene, [a])
    pump(ext, scene, until=lambda: "rendering proxy 5/" in ext.runtime.job_states()[0].phase)
    bpy.ops.wm.save_as_mainfile(filepath=os.path.abspath("during.blend"), copy=True)  # (copy: readable below)
    with bpy.data.libraries.load(os.path.abspath("during.blend")) as (data_from, _):
        saved_scenes = list(data_from.scenes)
    phase_after_save = ext.runtime.job_states()[0].phase
    pump(ext, scene, timeout=300)
    first = states(ext)
    ext.runtime.clear_finished()
    interactive(ext, scene, [a])
    pump(ext, scene, until=lambda: ext.runtime.job_states()[0].status in ("queued", "running"), timeout=300)
    ext.runtime.ui_mode = lambda: True  # in the UI, opening a file has the service checked again
    bpy.ops.wm.open_mainfile(filepath=os.path.abspath("during.blend"))
    checked_on_load = ext.runtime.service_state()["checking"]
    pump(ext, bpy.context.scene, timeout=300)
    done(
        {
            "saved_scenes": saved_scenes,
            "phase_after_save": phase_after_save,
            "first": first,
            "second": states(ext),
            "music_in_reopened": music(bpy.context.scene),
            "checked_on_load": checked_on_load,
        }
    )


def batch_setup() -> None:
    """Install the extension as a user would (preferences saved) and write edit.blend: scene One with
    a good strip; scene Two with a strip whose movie was deleted after saving and a good strip."""
    import shutil

    install()
    bpy.ops.wm.save_userpref()
    clips = ARGS["clips"]
    one = new_scene(25, 1.0, "One")
    add_movie(one, "A", clips["c25"], 1, 1)
    doomed = os.path.abspath("doomed.mp4")
    shutil.copy(clips["c25"], doomed)
    two = bpy.data.scenes.new("Two")
    two.render.fps, two.render.fps_base = 25, 1.0
    two.sequence_editor_create()
    add_movie(two, "B", doomed, 1, 1)
    add_movie(two, "C", clips["c25"], 1, 200)
    bpy.ops.wm.save_as_mainfile(filepath=os.path.abspath("edit.blend"))
    os.remove(doomed)
    done({"doomed": doomed})


def run_literally() -> None:
    """Run ARGS["code"] as written (a README recipe) in this fresh, bare bpy process -> whether it
    raised RuntimeError (and its text), then what edit.blend holds now."""
    error = ""
    try:
        exec(compile(ARGS["code"], "README", "exec"), {})
    except RuntimeError as exc:
        error = str(exc)
    inspect_blend(error)


def inspect_blend(error: str = "") -> None:
    """What edit.blend (in the working folder) holds: music per scene, and the batch report."""
    bpy.ops.wm.open_mainfile(filepath=os.path.abspath("edit.blend"))
    report = None
    if os.path.exists("expotion_report.json"):
        with open("expotion_report.json") as fh:
            report = json.load(fh)
    found = {
        sc.name: [
            [
                s.name,
                s.get("expotion").to_dict()["source_name"],
                os.path.isfile(bpy.path.abspath(s.sound.filepath)),
                s.sound.filepath,
            ]
            for s in sounds(sc)
            if s.get("expotion") is not None
        ]
        for sc in bpy.data.scenes
        if sc.sequence_editor
    }
    done({"error": error, "music": found, "report": report})


def batch_interrupt() -> None:
    """`expotion.score_all` over scene One (a quick job) and scene Two (a job that never ends): the
    test interrupts it with ARGS["signal"] once One's music is downloaded."""
    ext = install()
    clips = ARGS["clips"]
    one = new_scene(25, 1.0, "One")
    add_movie(one, "A", clips["c25"], 1, 1)
    two = bpy.data.scenes.new("Two")
    two.render.fps, two.render.fps_base = 25, 1.0
    two.sequence_editor_create()
    add_movie(two, "B", clips["c25"], 1, 1)
    two.expotion.prompt = "SLOW"
    bpy.ops.wm.save_as_mainfile(filepath=os.path.abspath("edit.blend"))
    sys.stdout.write("SCENARIO_READY\n")
    sys.stdout.flush()
    error = ""
    try:
        bpy.ops.expotion.score_all()
    except RuntimeError as exc:
        error = str(exc)
    done({"error": error, "states": states(ext)})


def async_takes() -> None:
    """The timer path with 2 strips x 2 takes: one sound strip per job, its undo step a tick later."""
    ext = install()
    clips = ARGS["clips"]
    scene = new_scene(30, 1.001)
    a = add_movie(scene, "A", clips["c2997"], 1, 1, trim_frames=(2, 3))
    b = add_movie(scene, "B", clips["c2997"], 1, 120)
    scene.expotion.takes = 2
    bpy.ops.ed.undo_push(message="before scoring")
    ext.runtime.submit(requests_for(ext, a, b))
    ticks = pump(ext, scene)
    placed = music(scene)
    bpy.ops.ed.undo()
    after_undo1 = music(bpy.context.scene)
    bpy.ops.ed.undo()
    after_undo2 = music(bpy.context.scene)
    done(
        {
            "ticks": ticks,
            "states": states(ext),
            "placed": placed,
            "after_undo1": after_undo1,
            "after_undo2": after_undo2,
        }
    )


def async_undone() -> None:
    """The user undoes between the tick that placed a job's strip and the tick that confirms it: the
    job fails saying so and keeps its WAVs; nothing is left on the timeline."""
    ext = install()
    scene = new_scene(25, 1.0)
    bpy.ops.ed.undo_push(message="empty")  # undo needs a step before the one it goes back to
    a = add_movie(scene, "A", ARGS["clips"]["c25"], 1, 1)
    bpy.ops.ed.undo_push(message="before scoring")
    sounds_before = len(bpy.data.sounds)
    ext.runtime.submit(requests_for(ext, a))
    first = pump(ext, scene, until=lambda: len(sounds(scene)) == 1)
    bpy.ops.ed.undo()
    scene = bpy.context.scene
    pump(ext, scene)
    done(
        {
            "first_ticks": first,
            "states": states(ext),
            "left": len(sounds(scene)),
            "orphan_sounds": len(bpy.data.sounds) - sounds_before,
        }
    )


def async_moves() -> None:
    """The worker/timer path (timers never fire in background, so `_tick` is pumped by hand):
    one strip is moved and one deleted while their jobs run."""
    ext = install()
    clips = ARGS["clips"]
    scene = new_scene(25, 1.0)
    a = add_movie(scene, "A", clips["c25"], 1, 1)
    b = add_movie(scene, "B", clips["c25"], 1, 200)
    ext.runtime.submit(requests_for(ext, a, b))
    a.channel = 5  # moved while running
    move(a, 40)
    top(scene).remove(b)  # deleted while running
    ticks = pump(ext, scene)
    ext.runtime._tick()
    done(
        {
            "states": states(ext),
            "placed": music(scene),
            "a": [*span(a), a.channel],
            "tick_max_s": max(t[2] for t in ticks),
        }
    )


def score_23976() -> None:
    """23.976 scene, 23.976 clip with trims: path mode, exact samples."""
    install()
    scene = new_scene(24, 1.001)
    c = add_movie(scene, "C", ARGS["clips"]["c23976"], 1, -4, trim_frames=(9, 2))
    select(scene, c)
    assert bpy.ops.expotion.score_strips(wait=True) == {"FINISHED"}
    done({"video": [*span(c), c.channel], "placed": music(scene)})


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
    pump(ext, scene, timeout=120.0)
    first = [[s.status, s.error, s.hint] for s in ext.runtime.job_states()]
    ext.jobs.finish = finish
    ext.runtime.clear_finished()
    ext.runtime.submit(requests_for(ext, a))
    pump(ext, scene, timeout=120.0)
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
    out["placed"] = music(scene)
    done(out)


def errors() -> None:
    """Service down, wrong token, failed job, no person, non-movie selection, missing file; a strip
    that cannot be scored does not stop the others."""
    install()
    clips = ARGS["clips"]
    scene = new_scene(25, 1.0)
    a = add_movie(scene, "A", clips["c25"], 1, 1)
    prefs = bpy.context.preferences.addons[MODULE].preferences
    out: dict[str, Any] = {}
    select(scene, a)
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
    good = add_movie(scene, "G", clips["c25"], 8, 300)
    scene.expotion.prompt = "fine"
    select(scene, missing, good)
    out["missing"] = expect_error(bpy.ops.expotion.score_strips, "/nonexistent/clip.mp4", "does not exist", wait=True)
    out["good_scored_anyway"] = [s.get("expotion")["source_name"] for s in sounds(scene)]
    select(scene)
    out["nothing"] = expect_error(bpy.ops.expotion.score_strips, "select", wait=True)
    out["no_person_visual"] = snd["expotion"]["visual"]
    select(scene, a)
    assert bpy.ops.expotion.suggest_prompt() == {"FINISHED"}
    out["suggested"] = scene.expotion.prompt
    done(out)


def e2e() -> None:
    """Against the real service: a path-mode strip and a proxy-upload strip in a 29.97 scene, headless;
    then B again through the interactive path (proxy rendered in steps, sent as an MJPEG AVI)."""
    ext = install()
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
    headless = music(scene)
    interactive(ext, scene, [b])
    pump(ext, scene, timeout=300)
    done({"video": video, "placed": headless, "interactive": states(ext), "after": music(scene)})


def write_tone(path: str, seconds: float, freqs: tuple[float, ...] = (261.63, 329.63, 392.0, 523.25)) -> str:
    """A temp track: a 44.1 kHz stereo WAV of sine notes, one after another (a melody to follow)."""
    import math
    import struct

    rate, frames = 44100, round(seconds * 44100)
    note = frames // len(freqs) + 1
    with wave.open(path, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        data = bytearray()
        for i in range(frames):
            v = round(8000 * math.sin(2 * math.pi * freqs[i // note] * i / rate))
            data += struct.pack("<hh", v, v)
        w.writeframes(bytes(data))
    return path


def e2e_temp() -> None:
    """Against the real service: Replace Temp Track, headless, for one strip under a sine-melody temp.
    A melody model places the music on the temp's channel (the temp muted, moved up) with the
    service's measured `melody` block; another model fails the job naming the melody models and
    leaves the temp as it was."""
    install()
    scene = new_scene(25, 1.0)
    a = add_movie(scene, "A", ARGS["clips"]["c25"], 1, 1, trim_frames=(0, 25))  # frames 1-50
    temp = top(scene).new_sound(
        name="temp", filepath=write_tone(os.path.abspath("temp.wav"), 4.0), channel=2, frame_start=1
    )
    select(scene, a, temp)
    scene.expotion.prompt, scene.expotion.seed_mode = "calm strings", "FIXED"
    error = ""
    try:
        bpy.ops.expotion.replace_temp_track(wait=True)
    except RuntimeError as exc:
        error = str(exc)
    done({"error": error, "placed": music(scene), "temp": [temp.channel, temp.mute]})


def use_service_command() -> None:
    """The service command of ARGS in the add-on preferences, as a user would enter it."""
    bpy.context.preferences.addons[MODULE].preferences.service_command = ARGS["command"]


def service_lifecycle() -> None:
    """Start the local service from the panel's operator, score a strip against it, stop it; then
    start it again and leave it running: Blender stops it when it quits (the test checks)."""
    ext = install()
    use_service_command()
    scene = new_scene(25, 1.0)
    a = add_movie(scene, "A", ARGS["clips"]["c25"], 1, 1)
    select(scene, a)
    refused_before = expect_error(bpy.ops.expotion.score_strips, "cannot reach", wait=True)
    assert bpy.ops.expotion.start_service() == {"FINISHED"}
    proc = ext.runtime.service_process()
    started = {"pid": proc.pid, "running": proc.running, "health": ext.runtime.service_state()["health"].model}
    second_start = expect_error(bpy.ops.expotion.start_service, "running")
    assert bpy.ops.expotion.score_strips(wait=True) == {"FINISHED"}
    placed = music(scene)
    assert bpy.ops.expotion.stop_service() == {"FINISHED"}
    stopped = {"running": proc.running, "reason": proc.exit_reason(), "log": proc.log_tail()}
    assert bpy.ops.expotion.open_service_log.poll()
    assert bpy.ops.expotion.start_service() == {"FINISHED"}
    left_running = ext.runtime.service_process().pid
    done(
        {
            "refused_before": refused_before,
            "started": started,
            "second_start": second_start,
            "placed": placed,
            "stopped": stopped,
            "left_running": left_running,
            "log_path": proc.log_path,
        }
    )


def tick_until(ext: Any, until: Any, timeout: float = 600.0) -> None:
    """Call the timer callback (timers never fire in background) until `until()`."""
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        ext.runtime._tick()
        time.sleep(0.05)


def service_ui_start() -> None:
    """Start and Stop as a click in the UI runs them: both return at once; the timer checks the
    service until it answers (a Score pressed meanwhile waits for it), and sees it end after Stop."""
    ext = install()
    use_service_command()
    ext.runtime.ui_mode = lambda: True
    scene = new_scene(25, 1.0)
    a = add_movie(scene, "A", ARGS["clips"]["c25"], 1, 1)
    assert bpy.ops.expotion.start_service() == {"FINISHED"}
    at_once = {"starting": ext.runtime.process_state()["starting"], "health": ext.runtime.service_state()["health"]}
    interactive(ext, scene, [a])  # pressed while the service starts
    waiting = states(ext)
    tick_until(ext, lambda: not ext.runtime.process_state()["starting"])
    answered = ext.runtime.service_state()["health"] is not None
    tick_until(ext, lambda: not ext.runtime.active_count())
    scored = states(ext)
    assert bpy.ops.expotion.stop_service() == {"FINISHED"}
    stopping = ext.runtime.process_state()["stopping"]
    tick_until(ext, lambda: not ext.runtime.process_state()["running"] and not ext.runtime.process_state()["stopping"])
    proc = ext.runtime.service_process()
    done(
        {
            "at_once": {"starting": at_once["starting"], "health": at_once["health"] is not None},
            "waiting": waiting,
            "answered": answered,
            "scored": scored,
            "stopping": stopping,
            "stopped": [proc.running, proc.exit_reason()],
            "music": len(music(scene)),
        }
    )


def service_dies() -> None:
    """The service Blender started dies while a strip's job runs: the job fails saying so, with the
    service's log; nothing is placed and the timeline is as it was."""
    import signal

    ext = install()
    use_service_command()
    scene = new_scene(25, 1.0)
    a = add_movie(scene, "A", ARGS["clips"]["c25"], 1, 1)
    assert bpy.ops.expotion.start_service() == {"FINISHED"}
    before = [[s.name, s.type, *span(s), s.channel] for s in every(scene)]
    interactive(ext, scene, [a])
    pump(ext, scene, until=lambda: bool(ext.runtime.job_states()[0].job_id))
    submitted = states(ext)
    proc = ext.runtime.service_process()
    os.kill(proc.pid, signal.SIGKILL)
    pump(ext, scene, timeout=300)
    after = [[s.name, s.type, *span(s), s.channel] for s in every(scene)]
    calls: list[list[str]] = []
    ext.ui.job_list.SEQUENCER_PT_expotion_jobs.draw(Drawn(None, CheckedLayout(calls)), bpy.context)
    done(
        {
            "submitted": submitted,
            "states": states(ext),
            "before": before,
            "after": after,
            "log_path": proc.log_path,
            "drawn": calls,
        }
    )


def reregister() -> None:
    """Disable/enable twice: classes, Scene property, handlers and worker go away and come back cleanly."""
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
        assert not any(getattr(h, "__module__", "").startswith(MODULE) for h in bpy.app.handlers.save_pre)
        assert worker is None or not worker.is_alive()
        addon_utils.enable(MODULE, default_set=True)
        assert hasattr(bpy.types.Scene, "expotion")
    handlers = sum(getattr(h, "__module__", "").startswith(MODULE) for h in bpy.app.handlers.save_pre)
    assert bpy.ops.expotion.score_strips(wait=True) == {"FINISHED"}
    done({"sounds": len(sounds(scene)), "save_handlers": handlers})


class CheckedLayout:
    """A stand-in for `bpy.types.UILayout` (bpy has no window to draw in) that checks every call
    against this Blender's own RNA: the function exists, each argument is one of its parameters, enum
    arguments (icons, progress types) are valid, `prop` names a real property, `operator` a
    registered operator and the properties set on it exist. Records [call, text, icon, operator]."""

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
            self._calls.append(
                [name, str(named.get("text", "")), str(named.get("icon", "")), str(named.get("operator", ""))]
            )
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
    """The sidebar panels drawn in every state they show (service unknown, checking, healthy with the
    tiny model or a real one, not ready, down; jobs active/finished/failed; the takes of a music
    strip), through `CheckedLayout`."""
    ext = install()
    scene = new_scene(25, 1.0)
    a = add_movie(scene, "A", ARGS["clips"]["c25"], 1, 1)
    select(scene, a)
    scene.expotion.takes = 2
    assert bpy.ops.expotion.score_strips(wait=True) == {"FINISHED"}
    sound = next(s for s in sounds(scene) if s.get("expotion") is not None)
    import expotion_protocol.shapes as protocol  # the wheel the extension bundles, installed by Blender

    rt, jobs = ext.runtime, ext.jobs
    url = ext.preferences.get(bpy.context).client.base_url
    panel_classes = [
        ext.ui.panel.SEQUENCER_PT_expotion,
        ext.ui.takes_browser.SEQUENCER_PT_expotion_takes,
        ext.ui.job_list.SEQUENCER_PT_expotion_jobs,
    ]
    health = protocol.Health(status="ok", version="9.9", device="cpu", model="tiny", untrained=True, queue_depth=2)
    real = protocol.Health(
        status="ok",
        version="9.9",
        device="cuda:0",
        model="facebook/musicgen-small",
        model_available=False,
        hint="the first job downloads the weights",
    )
    missing = protocol.Health(
        status="ok",
        version="9.9",
        device="cpu",
        model="facebook/musicgen-small",
        ready=False,
        model_available=False,
        hint="weights not in the local cache",
    )
    models = protocol.Models(base_model="tiny", adapters=("mine",), untrained=True)
    real_models = protocol.Models(base_model="facebook/musicgen-small", licence="MusicGen weights: CC-BY-NC 4.0")
    now = time.monotonic()
    services = {
        "unknown": dict(health=None, models=None, error="", checking=False, url="", checked_at=0.0),
        "checking": dict(health=None, models=None, error="", checking=True, url="", checked_at=0.0),
        "healthy": dict(health=health, models=models, error="", checking=False, url=url, checked_at=now),
        "real": dict(health=real, models=real_models, error="", checking=False, url=url, checked_at=now),
        "not_ready": dict(health=missing, models=real_models, error="", checking=False, url=url, checked_at=now),
        "down": dict(
            health=None,
            models=None,
            error="service down at http://127.0.0.1:9",
            checking=False,
            url=url,
            checked_at=now,
        ),
    }
    result = protocol.JobResult(
        takes=2,
        sample_rate=32000,
        num_samples=1,
        duration_s=1.0,
        seeds=(1, 2),
        prompt_used="warm piano, 120 bpm, energetic",
    )
    long_error = "the movie file /very/long/path/to/some/project/footage/take_0042_final_final.mp4 does not exist"
    job_sets = {
        "none": [],
        "mixed": [
            jobs.JobState(key="a", label="A", status="running", phase="generate", progress=0.4, eta_s=12.0),
            jobs.JobState(key="b", label="B", status="pending", phase="rendering proxy 3/75", progress=0.004),
            jobs.JobState(key="c", label="C", status="failed", error=long_error, hint="Fix the file path"),
            jobs.JobState(key="d", label="D", status="succeeded", result=result),
            jobs.JobState(key="f", label="F", status="succeeded", result=result, hint=ext.results.NO_PERSON_NOTE),
            jobs.JobState(key="e", label="E", status="cancelled"),
            jobs.JobState(
                key="g",
                label="G",
                status="running",
                phase="download",
                progress=0.25,
                bytes_done=500_000_000,
                bytes_total=2_000_000_000,
            ),
        ],
    }
    out: dict[str, Any] = {}
    rt.ui_mode = lambda: False  # drawing here must not start service checks
    for (sname, service), (jname, states_) in [(s, j) for s in services.items() for j in job_sets.items()]:
        for field, value in service.items():
            setattr(rt._service, field, value)
        rt._states.clear()
        rt._states.update({st.key: st for st in states_})
        for mode in ("RANDOM", "FIXED"):
            scene.expotion.seed_mode = mode
            scene.expotion.analysis = "motion 120 bpm" if mode == "FIXED" else ""
            scene.sequence_editor.active_strip = sound if mode == "FIXED" else a
            calls: list[list[str]] = []
            for cls in panel_classes:
                if cls.poll(bpy.context) if hasattr(cls, "poll") else True:
                    cls.draw(Drawn(None, CheckedLayout(calls)), bpy.context)
            out[f"{sname}/{jname}/{mode}"] = calls
    rt._states.clear()
    process = draw_process_states(ext, url, health)
    ext.takes.audition(scene, sound, ext.takes.takes_of(sound)[1]["take_id"])
    scene.sequence_editor.active_strip = next(s for s in sounds(scene) if s.get("expotion") is not None)
    auditioning: list[list[str]] = []
    ext.ui.takes_browser.SEQUENCER_PT_expotion_takes.draw(Drawn(None, CheckedLayout(auditioning)), bpy.context)
    prefs = bpy.context.preferences.addons[MODULE].preferences
    calls = []
    type(prefs).draw(Drawn(prefs, CheckedLayout(calls)), bpy.context)
    rt._set_service(url, health, models, "")  # adapters listed: visual guidance goes with an adapter only
    settings = scene.expotion
    settings.visual_guidance = 3.0
    visual = []
    for adapter in ("mine", "NONE"):
        settings.adapter = adapter
        visual.append(ext.properties.params_from(settings).visual_guidance)
    done(
        {
            "drawn": out,
            "process": process,
            "auditioning": auditioning,
            "preferences": calls,
            "visual_guidance": visual,
            "width": ext.ui.text.DEFAULT_CHARS,
        }
    )


class StartedService:
    """Stands in for the service process Blender started (running or ended)."""

    def __init__(self, running: bool) -> None:
        self.running, self.pid, self.log_path = running, 4242, os.path.abspath("service.log")
        with open(self.log_path, "w") as fh:
            fh.write("$ expotion serve\n")


def draw_process_states(ext: Any, url: str, health: Any) -> dict[str, list[list[str]]]:
    """The service box with the service Blender started: none, starting, running, stopping, exited;
    and for a service on another machine (no Start)."""
    rt = ext.runtime
    states_ = {
        "none": (None, False, 0.0, None),
        "starting": (StartedService(True), True, 0.0, None),
        "running": (StartedService(True), False, 0.0, health),
        "stopping": (StartedService(True), False, 1e12, health),
        "exited": (StartedService(False), False, 0.0, None),
    }
    drawn: dict[str, list[list[str]]] = {}
    for name, (proc, starting, stop_by, answer) in states_.items():
        rt._local.update(proc=proc, starting=starting, stop_by=stop_by)
        rt._service.record(url, answer, None, "" if answer or starting else "service down")
        calls: list[list[str]] = []
        ext.ui.panel.draw_service(CheckedLayout(calls), bpy.context)
        drawn[name] = calls
    rt._local.update(proc=None, starting=False, stop_by=0.0)
    os.environ["EXPOTION_SERVICE_URL"] = "http://10.255.255.1:8765"
    calls = []
    ext.ui.panel.draw_service(CheckedLayout(calls), bpy.context)
    drawn["remote"] = calls
    os.environ["EXPOTION_SERVICE_URL"] = url
    return drawn


if __name__ == "__main__":
    globals()[sys.argv[1]]()
