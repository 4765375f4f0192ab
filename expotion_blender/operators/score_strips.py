"""`expotion.score_strips`: score every selected movie strip."""

import bpy

from .. import preferences, properties, runtime, snapshot, vse
from ..protocol import ExpotionError
from . import dispatch


class EXPOTION_OT_score_strips(bpy.types.Operator):
    """Generate music for the selected movie strips with the Expotion service and add it under them"""

    bl_idname = "expotion.score_strips"
    bl_label = "Score Strips"
    bl_options = {"REGISTER", "UNDO"}

    wait: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Wait", default=False, options={"SKIP_SAVE"},
        description="Block until the music is placed (always on in background mode)")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if context.scene is None:
            return False
        reason = snapshot.why_not_scorable(context.scene) or preferences.network_refusal(preferences.get(context))
        if reason:
            cls.poll_message_set(reason)
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = preferences.get(context)
        wait = self.wait or bpy.app.background
        selected = vse.selected_strips(context.scene)
        movies = [s for s in selected if vse.is_movie(s)]
        if len(movies) < len(selected):
            self.report({"WARNING"}, f"Skipping {len(selected) - len(movies)} selected strip(s) that are not movies")
        requests = []
        try:
            if wait:
                runtime.check_service_blocking(settings.client)
            for strip in movies:
                base = properties.params_from(context.scene.expotion)
                requests.append(snapshot.request_for(context, strip, base, settings))
        except ExpotionError as exc:
            dispatch.discard(requests)
            self.report({"ERROR"}, exc.user_text())
            return {"CANCELLED"}
        return dispatch.run(self, settings, requests, wait)
