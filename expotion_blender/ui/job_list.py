"""Sub-panel listing jobs: phase, progress, ETA, cancel; errors with their hint."""

from __future__ import annotations

import bpy

from .. import runtime
from ..jobs import JobState

SHOW_FINISHED = 6


def draw_job(layout: bpy.types.UILayout, state: JobState) -> None:
    box = layout.box()
    row = box.row(align=True)
    if state.active:
        eta = f", {state.eta_s:.0f} s left" if state.eta_s is not None else ""
        text = f"{state.label}: {state.phase or state.status}{eta}"
        row.progress(factor=state.progress, type="BAR", text=text)
        row.operator("expotion.cancel_job", text="", icon="X").key = state.key
        return
    icon = {"succeeded": "CHECKMARK", "cancelled": "CANCEL"}.get(state.status, "ERROR")
    row.label(text=f"{state.label}: {state.status}", icon=icon)
    for line in (state.error, state.hint):
        if line:
            box.label(text=line)


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
            draw_job(self.layout, state)
        if len(active) > 1:
            self.layout.operator("expotion.cancel_job", text="Cancel All").key = ""


classes = (SEQUENCER_PT_expotion_jobs,)
