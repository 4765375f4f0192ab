"""Add-on preferences (service URL, token, how to start a local service, timeouts, how video reaches
the service) and access to them.

The environment variables EXPOTION_SERVICE_URL and EXPOTION_TOKEN, when set, override the stored
preferences: render machines running `blender -b` then need no saved user preferences.
Network rule: Blender's "Allow Online Access" is required only for a service that is not on this
machine; a loopback service is local inter-process communication, not online access.
"""

import os
from dataclasses import dataclass

import bpy

from .client import ClientSettings, is_loopback


class ExpotionPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    service_url: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Service URL",
        default="http://127.0.0.1:8765",
        description="Address of the Expotion generator service (python -m generator_service serve)",
    )
    token: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Token",
        subtype="PASSWORD",
        default="",
        description="Bearer token; required when the service listens on a non-loopback address",
    )
    service_command: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Service Command",
        default="",
        description="How Start runs the local service, e.g. `expotion serve --model facebook/musicgen-small` "
        "(--host and --port come from the Service URL)",
    )
    service_python: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Service Python",
        subtype="FILE_PATH",
        default="",
        description="Or: the python of the service's virtual environment; Start runs "
        "`<python> -m generator_service serve` (used when Service Command is empty)",
    )
    timeout_s: bpy.props.FloatProperty(  # type: ignore[valid-type]
        name="Request timeout (s)", default=15.0, min=1.0, max=600.0, description="Timeout of a single HTTP request"
    )
    job_timeout_s: bpy.props.FloatProperty(  # type: ignore[valid-type]
        name="Job timeout (s)",
        default=3600.0,
        min=10.0,
        max=86400.0,
        description="Give up on (and cancel) a job that takes longer than this",
    )
    transfer: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Send video as",
        items=(
            (
                "AUTO",
                "Automatic",
                "Local path when the service shares this filesystem and the strip is a plain "
                "offset into its file, else an uploaded proxy",
            ),
            ("PATH", "Local path", "Send the file path and range (service started with --media-root)"),
            ("UPLOAD", "Upload proxy", "Render the visible range to a small clip and upload it"),
        ),
        default="AUTO",
    )
    proxy_height: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Proxy height", default=360, min=64, max=1080, description="Height in pixels of uploaded proxy clips"
    )
    audio_dir: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Audio folder",
        subtype="DIR_PATH",
        default="//expotion_audio/",
        description="Where generated music is saved (// = next to the .blend; while the file is unsaved the "
        "music waits in a temporary folder and moves here when it is first saved)",
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "service_url")
        layout.prop(self, "token")
        box = layout.box()
        box.label(text="Start the local service from the Expotion panel with:")
        box.prop(self, "service_command")
        box.prop(self, "service_python")
        row = layout.row()
        row.prop(self, "timeout_s")
        row.prop(self, "job_timeout_s")
        layout.prop(self, "transfer")
        layout.prop(self, "proxy_height")
        layout.prop(self, "audio_dir")


@dataclass(frozen=True)
class Settings:
    """A plain snapshot of the preferences (safe to pass to the worker thread)."""

    client: ClientSettings
    transfer: str = "AUTO"
    proxy_height: int = 360
    audio_dir: str = "//expotion_audio/"
    service_command: str = ""
    service_python: str = ""


def get(context: bpy.types.Context | None = None) -> Settings:
    context = context or bpy.context
    addon = context.preferences.addons.get(__package__)
    prefs = addon.preferences if addon is not None else None
    url = os.environ.get("EXPOTION_SERVICE_URL") or (prefs.service_url if prefs else "http://127.0.0.1:8765")
    token = os.environ.get("EXPOTION_TOKEN") or (prefs.token if prefs else "")
    client = ClientSettings(
        base_url=url.strip(),
        token=token,
        timeout_s=prefs.timeout_s if prefs else 15.0,
        job_timeout_s=prefs.job_timeout_s if prefs else 3600.0,
    )
    if prefs is None:
        return Settings(client)
    return Settings(
        client,
        prefs.transfer,
        prefs.proxy_height,
        prefs.audio_dir,
        prefs.service_command,
        bpy.path.abspath(prefs.service_python) if prefs.service_python else "",
    )


def network_refusal(settings: Settings) -> str:
    """Why networking is not allowed (empty when it is)."""
    if is_loopback(settings.client.base_url) or bpy.app.online_access:
        return ""
    return (
        f"The service {settings.client.base_url} is not on this machine and online access is off "
        "(Preferences > System > Network)"
    )


def poll_network(operator: type, context: bpy.types.Context) -> bool:
    """`poll()` helper: False, with the reason shown to the user, while networking is refused."""
    reason = network_refusal(get(context))
    if reason:
        operator.poll_message_set(reason)
    return not reason


classes = (ExpotionPreferences,)
