"""Sidebar panel Sequencer > Expotion: service status (checked automatically while shown) with
Start/Stop for a local service and its log, prompt, seed, takes, guidance, adapter, beat lock and
markers as hits, Score / Score Timeline / Score All / Regenerate, the audio folder."""

from __future__ import annotations

import bpy

from .. import preferences, runtime
from ..client import is_loopback
from .text import wrapped


def draw_service(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    settings = preferences.get(context)
    runtime.panel_drawn(settings.client)
    state = runtime.service_state()
    known = state["url"] == settings.client.base_url
    health = state["health"] if known else None
    process = runtime.process_state()
    row = layout.row(align=True)
    if process["starting"] and health is None:
        row.label(text="Starting the service...", icon="SORTTIME")
    elif state["checking"] and health is None:
        row.label(text=f"Checking {settings.client.base_url}...", icon="SORTTIME")
    elif health is not None:
        icon = "CHECKMARK" if health.ready and health.model_available else ("INFO" if health.ready else "ERROR")
        precision = f" ({health.precision})" if health.precision else ""
        row.label(text=f"Service {health.version} on {health.device}{precision}, queue {health.queue_depth}", icon=icon)
    elif known and state["error"]:
        row.label(text="Service unavailable", icon="ERROR")
    else:
        row.label(text=settings.client.base_url, icon="URL")
    row.operator("expotion.check_service", text="", icon="FILE_REFRESH")
    if health is None and known and state["error"] and not process["starting"]:
        wrapped(layout, context, state["error"])
        wrapped(layout, context, state["hint"], "INFO")
    if health is not None and health.hint:
        wrapped(layout, context, health.hint, "ERROR" if not health.ready else "INFO")
    if health is not None and health.untrained:
        wrapped(layout, context, "Untrained/tiny model: output is noise, for testing only", "INFO")
    if is_loopback(settings.client.base_url):
        draw_process(layout, process, health is not None)


def draw_process(layout: bpy.types.UILayout, process: dict, reachable: bool) -> None:
    """Start (or Stop) the local service and open its log."""
    row = layout.row(align=True)
    if process["running"]:
        text = "Stopping..." if process["stopping"] else "Stop Service"
        row.operator("expotion.stop_service", text=text, icon="PAUSE")
    elif not reachable:
        row.operator("expotion.start_service", icon="PLAY")
    if process["proc"] is not None:
        row.operator("expotion.open_service_log", text="Log", icon="TEXT")


def draw_model(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """The model in use and, for real MusicGen weights, their licence (not for the random `tiny`)."""
    models = runtime.service_state()["models"]
    if models is None:
        return
    layout.label(text=f"Model: {models.base_model}")
    if not models.untrained:
        wrapped(layout, context, models.licence or "MusicGen weights: CC-BY-NC 4.0 (non-commercial)", "INFO")


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
        layout.prop(settings, "beat_lock")
        layout.prop(settings, "marker_hits")
        draw_model(layout, context)
        row = layout.row(align=True)
        row.operator("expotion.score_strips", icon="PLAY_SOUND")
        row.operator("expotion.score_all", text="Score All", icon="SEQUENCE")
        layout.operator("expotion.score_timeline", icon="SEQ_SEQUENCER")
        layout.operator("expotion.replace_temp_track", icon="FILE_SOUND")
        draw_regenerate(layout)
        layout.operator("expotion.open_audio_folder", icon="FILE_FOLDER")


def draw_regenerate(layout: bpy.types.UILayout) -> None:
    """ "Regenerate as it was" beside "regenerate with the panel's settings"."""
    row = layout.row(align=True)
    row.operator("expotion.regenerate", text="Regenerate", icon="FILE_REFRESH").use_panel = False
    row.operator("expotion.regenerate", text="With Panel Settings").use_panel = True


classes = (SEQUENCER_PT_expotion,)
