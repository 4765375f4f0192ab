"""`expotion.open_service_log`: open the log of the service Blender started."""

from __future__ import annotations

import os

import bpy

from .. import runtime


class EXPOTION_OT_open_service_log(bpy.types.Operator):
    """Open the log of the Expotion service Blender started"""

    bl_idname = "expotion.open_service_log"
    bl_label = "Open Service Log"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not os.path.isfile(runtime.process_state()["log"]):
            cls.poll_message_set("Blender has not started the service")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        path = runtime.process_state()["log"]
        self.report({"INFO"}, f"Expotion service log: {path}")
        return bpy.ops.wm.path_open(filepath=path)
