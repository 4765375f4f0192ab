"""`expotion.take_audition`: hear a take solo under the picture; again to stop."""

import bpy

from expotion_protocol.errors import ExpotionError

from .. import takes
from .take_common import TakeOperator, active_music, make_active, poll_music


def playing(context: bpy.types.Context) -> bool:
    screen = getattr(context, "screen", None)
    return bool(screen is not None and screen.is_animation_playing)


class EXPOTION_OT_take_audition(TakeOperator, bpy.types.Operator):
    """Solo this take from the strip's start, other sound muted; again to stop and get the previous take back"""

    bl_idname = "expotion.take_audition"
    bl_label = "Audition Take"

    stop: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Stop", default=False, options={"SKIP_SAVE", "HIDDEN"}, description="End the audition"
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if context.scene is not None and takes.audition_state(context.scene) is not None:
            return True
        return poll_music(cls, context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        state = takes.audition_state(scene)
        try:
            if self.stop or (
                state is not None and self.take_id == takes.current_take_id(takes.find_by_key(scene, state["strip"]))
            ):
                strip = takes.stop_audition(scene, keep=False)
                if playing(context):
                    bpy.ops.screen.animation_cancel(restore_frame=False)
            else:
                strip = active_music(context) or (takes.find_by_key(scene, state["strip"]) if state else None)
                if strip is None:
                    self.report({"ERROR"}, "Make an Expotion music strip active")
                    return {"CANCELLED"}
                strip = takes.audition(scene, strip, self.take_id)
                if getattr(context, "screen", None) is not None and not playing(context):
                    bpy.ops.screen.animation_play()
        except ExpotionError as exc:
            self.report({"ERROR"}, exc.user_text())
            return {"CANCELLED"}
        if strip is not None:
            make_active(context, strip)
        return {"FINISHED"}
