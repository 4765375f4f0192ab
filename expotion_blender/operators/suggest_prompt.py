"""`expotion.suggest_prompt`: analyse the active movie strip and fill the prompt with a suggestion."""

from __future__ import annotations

import dataclasses
import uuid

import bpy

from expotion_protocol.errors import ExpotionError
from expotion_protocol.params import JobParams

from .. import preferences, preparing, results, runtime, scoring, snapshot, vse
from ..client import Client


def active_movie(context: bpy.types.Context) -> object | None:
    ed = vse.editor(context.scene) if context.scene else None
    strip = getattr(ed, "active_strip", None) if ed else None
    return strip if strip is not None and vse.is_movie(strip) else None


class EXPOTION_OT_suggest_prompt(bpy.types.Operator):
    """Analyse the performer in the active movie strip and suggest an editable prompt (tempo, energy, mood)"""

    bl_idname = "expotion.suggest_prompt"
    bl_label = "Suggest from Video"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if active_movie(context) is None:
            cls.poll_message_set("Make a movie strip active")
            return False
        return preferences.poll_network(cls, context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = preferences.get(context)
        strip = active_movie(context)
        try:
            snapshot.check_strip(strip)
            if runtime.ui_mode():  # prepared (proxy rendered in steps) and sent by the runtime
                prep = preparing.Preparation(
                    uuid.uuid4().hex,
                    f"{strip.name} (suggest)",
                    context.scene.name,
                    scoring.strip_key(strip),
                    strip.name,
                    JobParams(),
                    settings,
                    analyze=True,
                )
                runtime.prepare([prep], settings.client)
                context.scene.expotion.analysis = f"Analysing '{strip.name}'..."
                return {"FINISHED"}
            request = snapshot.request_for(
                context, strip, JobParams(), settings, path_mode=runtime.service_reads_paths()
            )
            try:
                data = Client(settings.client).analyze(
                    dataclasses.replace(request.params, variants=1), request.upload_path
                )
            finally:
                request.discard_upload()
        except ExpotionError as exc:
            self.report({"ERROR"}, exc.user_text())
            return {"CANCELLED"}
        context.scene.expotion.prompt = str(data.get("suggested_prompt") or context.scene.expotion.prompt)
        context.scene.expotion.analysis = results.analysis_summary(data)
        return {"FINISHED"}
