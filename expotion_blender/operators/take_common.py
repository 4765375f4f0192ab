"""What the take operators share: the active music strip, their poll, and the `take_id` property."""

from typing import Any

import bpy

from .. import takes, vse


def active_music(context: bpy.types.Context) -> Any:
    return takes.active_music(context.scene)


def poll_music(cls: type, context: bpy.types.Context) -> bool:
    if active_music(context) is None:
        cls.poll_message_set("Make an Expotion music strip active")  # type: ignore[attr-defined]
        return False
    return True


def make_active(context: bpy.types.Context, strip: Any) -> None:
    """Select only `strip` and make it active (a swap makes a new strip: the Takes panel follows it)."""
    ed = vse.editor(context.scene)
    for other in vse.selected_strips(context.scene):
        other.select = False
    strip.select = True
    ed.active_strip = strip


class TakeOperator:
    """Mixin of the operators acting on one take of the active music strip."""

    bl_options = {"REGISTER", "UNDO"}

    take_id: bpy.props.StringProperty(name="Take", options={"SKIP_SAVE", "HIDDEN"})  # type: ignore[valid-type]

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return poll_music(cls, context)
