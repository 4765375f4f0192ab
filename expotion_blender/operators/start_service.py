"""`expotion.start_service`: start the local Expotion service as a child process of Blender."""

from __future__ import annotations

import bpy

from expotion_protocol.errors import ExpotionError

from .. import preferences, runtime
from ..client import is_loopback


class EXPOTION_OT_start_service(bpy.types.Operator):
    """Start the Expotion service on this machine with the command set in the add-on preferences (output in a log file; stopped when Blender quits)"""

    bl_idname = "expotion.start_service"
    bl_label = "Start Service"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        settings = preferences.get(context)
        url = settings.client.base_url
        if not is_loopback(url):
            cls.poll_message_set(f"The service URL {url} is not on this machine: start that service there")
            return False
        if runtime.process_state()["running"]:
            cls.poll_message_set("The service Blender started is running")
            return False
        if not (settings.service_command or settings.service_python):
            cls.poll_message_set("Set Service Command or Service Python in Preferences > Add-ons > Expotion")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            proc = runtime.start_service(preferences.get(context))
            if not runtime.ui_mode():
                health = runtime.wait_until_up()
                self.report({"INFO"}, f"Expotion service {health.version} started (pid {proc.pid}): {health.model}")
                return {"FINISHED"}
        except ExpotionError as exc:
            self.report({"ERROR"}, exc.user_text())
            return {"CANCELLED"}
        self.report({"INFO"}, f"Starting the Expotion service (pid {proc.pid}); log: {proc.log_path}")
        return {"FINISHED"}
