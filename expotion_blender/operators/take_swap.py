"""`expotion.take_swap`: put another take of the active music strip on the timeline."""

import bpy

from expotion_protocol.errors import ExpotionError

from .. import takes, vse
from .take_common import TakeOperator, active_music, make_active


class EXPOTION_OT_take_swap(TakeOperator, bpy.types.Operator):
    """Play this take from now on (the music strip's other takes stay in the list)"""

    bl_idname = "expotion.take_swap"
    bl_label = "Use Take"

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        strip = active_music(context)
        try:
            if takes.audition_state(scene) is not None:
                takes.stop_audition(scene, keep=True)
                strip = active_music(context) or takes.find_by_key(scene, strip[vse.META_PROP]["key"])
            if self.take_id != takes.current_take_id(strip):
                strip = takes.swap(scene, strip, self.take_id)
        except ExpotionError as exc:
            self.report({"ERROR"}, exc.user_text())
            return {"CANCELLED"}
        make_active(context, strip)
        return {"FINISHED"}
