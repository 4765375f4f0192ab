"""`expotion.cancel_job`: cancel a running job, on the service too."""

import bpy

from .. import runtime


class EXPOTION_OT_cancel_job(bpy.types.Operator):
    """Cancel the Expotion job (the service stops it too); empty key cancels every job"""

    bl_idname = "expotion.cancel_job"
    bl_label = "Cancel Job"

    key: bpy.props.StringProperty(name="Job", default="", options={"SKIP_SAVE", "HIDDEN"})  # type: ignore[valid-type]

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if runtime.active_count() == 0:
            cls.poll_message_set("No Expotion job is running")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        runtime.cancel(self.key)
        return {"FINISHED"}
