"""`expotion.score_all`: the batch — score the movie strips of every scene, record what failed,
save what was placed. What pipeline engineers call headless (see the README's Batch section)."""

import os

import bpy

from expotion_protocol.errors import ExpotionError

from .. import interrupt, preferences, properties, runtime, scoring, takes, vse
from . import dispatch


def batch_items(rescore: bool, all_scenes: bool, scene: bpy.types.Scene) -> tuple[list, int]:
    """Every movie strip to score -> (items, strips skipped because they have music already)."""
    items, skipped = [], 0
    for sc in bpy.data.scenes if all_scenes else [scene]:
        if vse.editor(sc) is None or sc.name.startswith("expotion-proxy-"):
            continue
        base = properties.params_from(sc.expotion)
        for strip in vse.all_strips(sc):
            if not vse.is_movie(strip):
                continue
            if not rescore and takes.music_strip(sc, strip) is not None:
                skipped += 1
                continue
            items.append(scoring.Item(sc, strip, base))
    return items, skipped


class EXPOTION_OT_score_all(bpy.types.Operator):
    """Score every movie strip without Expotion music in every scene (headless: then save and report)"""

    bl_idname = "expotion.score_all"
    bl_label = "Score All Strips"
    bl_options = {"REGISTER", "UNDO"}

    rescore: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Score Again",
        default=False,
        description="Also score strips that have music (it is replaced; older takes stay in the Takes panel)",
    )
    all_scenes: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="All Scenes", default=True, description="Every scene of the file (off: the current scene)"
    )
    save: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Save",
        default=True,
        description="Headless: save the .blend afterwards, whatever failed (what was placed is kept)",
    )
    report_path: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Report",
        default="//expotion_report.json",
        subtype="FILE_PATH",
        description="Headless: JSON file listing every strip's outcome (// = next to the .blend; empty: none)",
    )
    wait: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Wait", default=False, options={"SKIP_SAVE"}, description="Block until done (always on in background mode)"
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return dispatch.refuse(cls, dispatch.score_refusal(context, ()))

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = preferences.get(context)
        items, skipped = batch_items(self.rescore, self.all_scenes, context.scene)
        if skipped:
            self.report({"INFO"}, f"Expotion: {skipped} strip(s) already have music (Score Again to replace it)")
        if runtime.ui_mode() and not self.wait:
            return scoring.run_operator(self, items, settings, wait=False)
        return self.run_headless(settings, items)

    def run_headless(self, settings: preferences.Settings, items: list) -> set[str]:
        with interrupt.SignalStop() as stop:
            try:
                outcomes = scoring.run_headless(items, settings, stop) if items else []
            except ExpotionError as exc:  # the service: nothing was sent, nothing changed
                self.report({"ERROR"}, exc.user_text())
                return {"CANCELLED"}
            saved = self.save_file(outcomes)
        if self.report_path:
            path = scoring.write_report(self.report_path, outcomes, saved, stop.name)
            self.report({"INFO"}, f"Expotion: report in {path}")
        scoring.report(self, outcomes)
        if stop.signum is not None:
            self.report(
                {"ERROR"},
                f"Expotion: interrupted by {stop.name}; unfinished jobs were cancelled on the "
                "service" + ("; the music placed so far is saved" if saved else ""),
            )
            scoring.resend_terminate(stop)
        return {"FINISHED"}

    def save_file(self, outcomes: list) -> bool:
        """Save when asked and something was placed (a never-saved file cannot be: said so)."""
        if not self.save or not any(o.status == "succeeded" for o in outcomes):
            return False
        if not bpy.data.filepath:
            self.report({"WARNING"}, "Expotion: the file was never saved, so it is not saved now")
            return False
        bpy.ops.wm.save_mainfile()
        return os.path.exists(bpy.data.filepath)
