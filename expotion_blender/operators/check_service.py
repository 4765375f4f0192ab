"""`expotion.check_service`: refresh the service status, base model and adapter list."""

from __future__ import annotations

import bpy

from expotion_protocol.errors import ExpotionError

from .. import preferences, runtime


class EXPOTION_OT_check_service(bpy.types.Operator):
    """Ask the Expotion service for its status, model and adapters"""

    bl_idname = "expotion.check_service"
    bl_label = "Check Service"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return preferences.poll_network(cls, context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = preferences.get(context)
        if runtime.ui_mode():
            runtime.refresh_service(settings.client)
            return {"FINISHED"}
        try:
            health = runtime.check_service_blocking(settings.client)
        except ExpotionError as exc:
            self.report({"ERROR"}, exc.user_text())
            return {"CANCELLED"}
        self.report({"INFO"}, f"Expotion service {health.version} on {health.device}: {health.model}")
        return {"FINISHED"}
