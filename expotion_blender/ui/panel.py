"""Sidebar panel Sequencer > Expotion: service status, prompt, seed, takes, guidance, adapter, Score."""

from __future__ import annotations

import bpy

from .. import preferences, runtime


def draw_service(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    state = runtime.service_state()
    settings = preferences.get(context)
    row = layout.row(align=True)
    health = state["health"]
    if state["checking"]:
        row.label(text=f"Checking {settings.client.base_url}...", icon="SORTTIME")
    elif health is not None:
        row.label(text=f"Service {health.version} on {health.device}, queue {health.queue_depth}", icon="CHECKMARK")
    elif state["error"]:
        row.label(text=state["error"], icon="ERROR")
    else:
        row.label(text=settings.client.base_url, icon="URL")
    row.operator("expotion.check_service", text="", icon="FILE_REFRESH")
    if health is not None and health.untrained:
        layout.label(text="Untrained/tiny model: output is noise, for testing only", icon="INFO")


class SEQUENCER_PT_expotion(bpy.types.Panel):
    bl_label = "Expotion"
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Expotion"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.expotion
        draw_service(layout, context)
        col = layout.column()
        col.prop(settings, "prompt", text="")
        row = col.row()
        row.operator("expotion.suggest_prompt", icon="VIEWZOOM")
        if settings.analysis:
            col.label(text=settings.analysis)
        row = layout.row(align=True)
        row.prop(settings, "seed_mode", expand=True)
        if settings.seed_mode == "FIXED":
            layout.prop(settings, "seed")
        layout.prop(settings, "takes")
        layout.prop(settings, "guidance")
        layout.prop(settings, "adapter")
        row = layout.row()
        row.enabled = settings.adapter not in ("", "NONE")  # the base model does not see the video
        row.prop(settings, "visual_guidance")
        models = runtime.service_state()["models"]
        if models is not None:
            layout.label(text=f"Model: {models.base_model}")
        layout.label(text="MusicGen weights: CC-BY-NC 4.0 (non-commercial)", icon="INFO")
        layout.operator("expotion.score_strips", icon="PLAY_SOUND")
        layout.operator("expotion.regenerate", icon="FILE_REFRESH")


classes = (SEQUENCER_PT_expotion,)
