"""Sub-panel listing jobs: phase, progress, ETA, cancel; the prompt used; errors and warnings wrapped
with their hint; clear finished jobs."""

from __future__ import annotations

import bpy

from .. import runtime
from ..jobs import JobState
from .text import wrapped

SHOW_FINISHED = 6


def draw_job(layout: bpy.types.UILayout, context: bpy.types.Context, state: JobState) -> None:
    box = layout.box()
    row = box.row(align=True)
    if state.active:
        eta = f", {state.eta_s:.0f} s left" if state.eta_s is not None else ""
        text = f"{state.label}: {state.phase_text}{eta}"
        row.progress(factor=state.progress, type="BAR", text=text)
        row.operator("expotion.cancel_job", text="", icon="X").key = state.key
        return
    if state.status == "succeeded":
        takes = state.result.takes if state.result else 1
        row.label(
            text=f"{state.label}: music placed" + (f" ({takes} takes)" if takes > 1 else ""),
            icon="ERROR" if state.hint else "CHECKMARK",
        )
        wrapped(box, context, state.hint, "ERROR")  # a warning: no person found, length changed
        if state.result is not None and state.result.prompt_used:
            wrapped(box, context, f"Prompt: {state.result.prompt_used}")
        return
    row.label(text=f"{state.label}: {state.status}", icon="CANCEL" if state.status == "cancelled" else "ERROR")
    wrapped(box, context, state.error)
    wrapped(box, context, state.hint, "INFO")


class SEQUENCER_PT_expotion_jobs(bpy.types.Panel):
    bl_label = "Jobs"
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Expotion"
    bl_parent_id = "SEQUENCER_PT_expotion"

    def draw(self, context: bpy.types.Context) -> None:
        states = runtime.job_states()
        active = [s for s in states if s.active]
        finished = [s for s in states if not s.active][-SHOW_FINISHED:]
        if not states:
            self.layout.label(text="No jobs yet")
        for state in active + finished[::-1]:
            draw_job(self.layout, context, state)
        row = self.layout.row(align=True)
        if len(active) > 1:
            row.operator("expotion.cancel_job", text="Cancel All").key = ""
        if finished:
            row.operator("expotion.clear_jobs", icon="TRASH")


classes = (SEQUENCER_PT_expotion_jobs,)
