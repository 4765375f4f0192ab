"""`expotion.temp_ab`: A/B between the active music strip and the temp track it replaced."""

import bpy

from expotion_protocol.errors import ExpotionError

from .. import takes, temp_track


class EXPOTION_OT_temp_ab(bpy.types.Operator):
    """Hear the temp track this music replaced, or the music again (the other one is muted)"""

    bl_idname = "expotion.temp_ab"
    bl_label = "A/B Temp Track"
    bl_options = {"REGISTER", "UNDO"}

    temp_plays: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Play the Temp", default=True, description="Play the temp and mute the music (off: the other way round)"
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        strip = takes.active_music(context.scene)
        if strip is None or temp_track.of_music(takes.meta(strip)) is None:
            cls.poll_message_set("The active strip is not music that replaced a temp track")  # type: ignore[attr-defined]
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        strip = takes.active_music(context.scene)
        temp = temp_track.of_music(takes.meta(strip))
        try:
            temp_track.play(context.scene, strip, temp, temp_plays=self.temp_plays)  # type: ignore[arg-type]
        except ExpotionError as exc:
            self.report({"ERROR"}, exc.user_text())
            return {"CANCELLED"}
        return {"FINISHED"}
