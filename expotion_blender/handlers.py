"""Blender application handlers of the extension, registered persistent and removed on unregister.

- `save_pre`: music made while the .blend was unsaved moves next to it (`audio_folder.follow`), and
  proxy renders in progress drop their temporary scene (rendered again after the save);
- `load_post`: strips being prepared for the old file stop, and the service is checked again.
Main thread only.
"""

from __future__ import annotations

import logging
from typing import Any

import bpy

from . import audio_folder, runtime

log = logging.getLogger(__name__)


@bpy.app.handlers.persistent
def _save_pre(filepath: str = "", *args: Any) -> None:
    runtime.before_save()
    if not filepath:
        return
    try:
        audio_folder.follow(filepath)
    except OSError as exc:  # the save goes on; the music stays where it was, still linked
        log.error("could not move the Expotion music next to %s: %s", filepath, exc)


@bpy.app.handlers.persistent
def _load_post(*args: Any) -> None:
    runtime.file_loaded()


HANDLERS = ((bpy.app.handlers.save_pre, _save_pre), (bpy.app.handlers.load_post, _load_post))


def register() -> None:
    for handlers, fn in HANDLERS:
        if fn not in handlers:
            handlers.append(fn)


def unregister() -> None:
    for handlers, fn in HANDLERS:
        while fn in handlers:
            handlers.remove(fn)
