"""`expotion.open_audio_folder`: show the folder the music of this file is saved in."""

import os

import bpy

from .. import preferences, snapshot


class EXPOTION_OT_open_audio_folder(bpy.types.Operator):
    """Open the folder where this file's generated music is saved in the system's file browser"""

    bl_idname = "expotion.open_audio_folder"
    bl_label = "Open Audio Folder"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not os.path.isdir(snapshot.audio_dir(preferences.get(context))):
            cls.poll_message_set("No music was saved for this file yet")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        folder = snapshot.audio_dir(preferences.get(context))
        self.report({"INFO"}, f"Expotion music: {folder}")
        return bpy.ops.wm.path_open(filepath=folder)
