"""`expotion.clear_jobs`: remove finished jobs from the list."""

import bpy

from .. import runtime


class EXPOTION_OT_clear_jobs(bpy.types.Operator):
    """Remove finished, failed and cancelled jobs from the list"""

    bl_idname = "expotion.clear_jobs"
    bl_label = "Clear Finished"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not any(not s.active for s in runtime.job_states()):
            cls.poll_message_set("No finished jobs")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        runtime.clear_finished()
        return {"FINISHED"}
