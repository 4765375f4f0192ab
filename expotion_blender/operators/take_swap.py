"""`expotion.take_swap`: put another take of the active music strip on the timeline."""

from typing import Any

import bpy

from .. import takes, vse
from ..protocol import ExpotionError


def active_music(context: bpy.types.Context) -> Any:
    return takes.active_music(context.scene)


def poll_music(cls: type, context: bpy.types.Context) -> bool:
    if active_music(context) is None:
        cls.poll_message_set("Make an Expotion music strip active")  # type: ignore[attr-defined]
        return False
    return True


def make_active(context: bpy.types.Context, strip: Any) -> None:
    ed = vse.editor(context.scene)
    for other in vse.selected_strips(context.scene):
        other.select = False
    strip.select = True
    ed.active_strip = strip


class EXPOTION_OT_take_swap(bpy.types.Operator):
    """Play this take from now on (the music strip's other takes stay in the list)"""

    bl_idname = "expotion.take_swap"
    bl_label = "Use Take"
    bl_options = {"REGISTER", "UNDO"}

    take_id: bpy.props.StringProperty(name="Take", options={"SKIP_SAVE", "HIDDEN"})  # type: ignore[valid-type]

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return poll_music(cls, context)

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
