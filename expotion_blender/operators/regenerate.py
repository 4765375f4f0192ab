"""`expotion.regenerate`: score a scored strip again from its stored metadata and replace it in place."""

import random
from typing import Any

import bpy

from .. import preferences, runtime, snapshot, vse
from ..protocol import ExpotionError, JobParams
from . import dispatch


def scored_strips(scene: bpy.types.Scene) -> list[Any]:
    return [s for s in vse.selected_strips(scene) if s.type == "SOUND" and s.get(vse.META_PROP)]


def params_from_metadata(meta: Any, new_seed: bool) -> JobParams:
    seed = random.randrange(2**31) if new_seed else int(meta.get("seed", 0))
    return JobParams(prompt=str(meta.get("prompt", "")), auto_prompt=bool(meta.get("auto_prompt", False)),
                     seed=seed, variants=1, guidance=float(meta.get("guidance", 3.0)),
                     visual_guidance=float(meta.get("visual_guidance", 1.0)),
                     adapter=str(meta.get("adapter", "")) or None)


class EXPOTION_OT_regenerate(bpy.types.Operator):
    """Generate the selected Expotion music strips again (same or new seed) and replace them in place"""

    bl_idname = "expotion.regenerate"
    bl_label = "Regenerate"
    bl_options = {"REGISTER", "UNDO"}

    new_seed: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="New Seed", default=True, description="Use a new random seed (off: reproduce with the stored seed)")
    wait: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Wait", default=False, options={"SKIP_SAVE"},
        description="Block until the music is replaced (always on in background mode)")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if context.scene is None or not scored_strips(context.scene):
            cls.poll_message_set("Select a sound strip made by Expotion")
            return False
        return preferences.poll_network(cls, context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = preferences.get(context)
        wait = self.wait or bpy.app.background
        requests = []
        try:
            if wait:
                runtime.check_service_blocking(settings.client)
            for sound in scored_strips(context.scene):
                meta = sound[vse.META_PROP]
                video = vse.find_strip(context.scene, meta.get("source_key", ""), meta.get("source_name", ""))
                if video is None:
                    raise snapshot.StripError(f"the video strip '{meta.get('source_name')}' of '{sound.name}' is gone",
                                              "Score the video strip again instead.")
                base = params_from_metadata(meta, self.new_seed)
                requests.append(snapshot.request_for(context, video, base, settings, replace_key=meta["key"]))
        except ExpotionError as exc:
            dispatch.discard(requests)
            self.report({"ERROR"}, exc.user_text())
            return {"CANCELLED"}
        return dispatch.run(self, settings, requests, wait)
