"""`expotion.take_delete`: remove a take from the active music strip's list."""

import bpy

from expotion_protocol.errors import ExpotionError

from .. import takes
from .take_common import TakeOperator, active_music


class EXPOTION_OT_take_delete(TakeOperator, bpy.types.Operator):
    """Remove this take from the list (not the one that plays; its WAV stays in the audio folder)"""

    bl_idname = "expotion.take_delete"
    bl_label = "Remove Take"

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            takes.delete(active_music(context), self.take_id)
        except ExpotionError as exc:
            self.report({"ERROR"}, exc.user_text())
            return {"CANCELLED"}
        return {"FINISHED"}
