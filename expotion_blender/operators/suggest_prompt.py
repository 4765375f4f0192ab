"""`expotion.suggest_prompt`: analyse the active movie strip and fill the prompt with a suggestion."""

from __future__ import annotations

import dataclasses

import bpy

from .. import preferences, results, runtime, snapshot, vse
from ..client import Client
from ..protocol import ExpotionError, JobParams


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
        try:
            request = snapshot.request_for(context, active_movie(context), JobParams(), settings)
            params = dataclasses.replace(request.params, variants=1)
            if not bpy.app.background:
                runtime.analyze(runtime.AnalyzeRequest(context.scene.name, params, settings.client,
                                                       request.upload_path))
                return {"FINISHED"}
            try:
                data = Client(settings.client).analyze(params, request.upload_path)
            finally:
                snapshot.remove_file(request.upload_path)
        except ExpotionError as exc:
            self.report({"ERROR"}, exc.user_text())
            return {"CANCELLED"}
        context.scene.expotion.prompt = str(data.get("suggested_prompt") or context.scene.expotion.prompt)
        context.scene.expotion.analysis = results.analysis_summary(data)
        return {"FINISHED"}
