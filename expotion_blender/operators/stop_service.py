"""`expotion.stop_service`: stop the service Blender started (as Ctrl-C would: its jobs stay queued)."""

from __future__ import annotations

import bpy

from .. import runtime


class EXPOTION_OT_stop_service(bpy.types.Operator):
    """Stop the Expotion service Blender started (queued and running jobs stay queued for its next start)"""

    bl_idname = "expotion.stop_service"
    bl_label = "Stop Service"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        state = runtime.process_state()
        if not state["running"]:
            cls.poll_message_set("Blender did not start a service that is running")
            return False
        return not state["stopping"]

    def execute(self, context: bpy.types.Context) -> set[str]:
        proc = runtime.service_process()
        runtime.stop_service()
        if proc is not None and not runtime.ui_mode():
            self.report({"INFO"}, f"Expotion service stopped: {proc.exit_reason()}")
        return {"FINISHED"}
