"""`expotion.take_delete`: remove a take from the active music strip's list."""

import bpy

from .. import takes
from ..protocol import ExpotionError
from .take_swap import active_music, poll_music


class EXPOTION_OT_take_delete(bpy.types.Operator):
    """Remove this take from the list (not the one that plays; its WAV stays in the audio folder)"""

    bl_idname = "expotion.take_delete"
    bl_label = "Remove Take"
    bl_options = {"REGISTER", "UNDO"}

    take_id: bpy.props.StringProperty(name="Take", options={"SKIP_SAVE", "HIDDEN"})  # type: ignore[valid-type]

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return poll_music(cls, context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            takes.delete(active_music(context), self.take_id)
        except ExpotionError as exc:
            self.report({"ERROR"}, exc.user_text())
            return {"CANCELLED"}
        return {"FINISHED"}
