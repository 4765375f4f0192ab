"""Where generated music lives on disk, and how it follows the .blend when an unsaved file is saved.

Owns: the audio folder (the preference, `//expotion_audio/` by default: next to the .blend), the
holding folder used while the .blend has never been saved, and the move out of it. Music made in an
unsaved file goes to `<temp>/expotion_unsaved/`; when the file is saved (the first Save As), a
`save_pre` handler moves every file of that folder still used by the .blend (sound data-blocks and
the takes lists of music strips) into the audio folder next to the new .blend and points them there
with relative paths, before Blender writes the file. A job that finishes after the save moves its
files at placement (`settle`). Main thread only (the handler and `settle` touch bpy data).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any

import bpy

from . import takes, vse

log = logging.getLogger(__name__)
DEFAULT = "//expotion_audio/"


def unsaved_root() -> str:
    """Where music waits while its .blend has never been saved."""
    return os.path.join(tempfile.gettempdir(), "expotion_unsaved")


def resolve(folder: str, blend_path: str) -> str:
    """The absolute audio folder for a .blend at `blend_path` ("" = unsaved: the holding folder)."""
    folder = folder or DEFAULT
    if folder.startswith("//"):
        if not blend_path:
            return unsaved_root()
        return os.path.abspath(os.path.join(os.path.dirname(blend_path), folder[2:]))
    return os.path.abspath(os.path.expanduser(folder))


def audio_dir(folder: str) -> str:
    """The absolute folder new music of this .blend goes to."""
    return resolve(folder, bpy.data.filepath)


def _is_held(path: str) -> bool:
    root = unsaved_root()
    return os.path.commonpath([os.path.abspath(path), root]) == root


def _move(path: str, folder: str) -> str:
    os.makedirs(folder, exist_ok=True)
    dest = os.path.join(folder, os.path.basename(path))
    shutil.move(path, dest)
    return dest


def configured() -> str:
    """The audio folder preference (`//expotion_audio/` without preferences)."""
    from . import preferences

    return preferences.get().audio_dir or DEFAULT


def settle(path: str) -> str:
    """A file about to be placed: out of the holding folder if the .blend is saved now -> its path."""
    if bpy.data.filepath and _is_held(path) and os.path.exists(path):
        return _move(path, audio_dir(configured()))
    return path


def _relative_to(path: str, blend_path: str) -> str:
    return "//" + os.path.relpath(path, os.path.dirname(blend_path)).replace(os.sep, "/")


def follow(blend_path: str) -> int:
    """Move every held file this .blend uses next to `blend_path` and repoint it -> files moved."""
    target = resolve(configured(), blend_path)
    if _is_held(target):
        return 0
    moved: dict[str, str] = {}

    def relocate(stored: str) -> str | None:
        path = os.path.abspath(bpy.path.abspath(stored))
        if not _is_held(path):
            return None
        if path not in moved:
            if not os.path.exists(path):
                return None
            moved[path] = _move(path, target)
        return _relative_to(moved[path], blend_path)

    for sound in bpy.data.sounds:
        new = relocate(sound.filepath)
        if new is not None:
            sound.filepath = new
    for scene in bpy.data.scenes:
        for strip in vse.all_strips(scene):
            if takes.is_music(strip):
                _repoint_takes(strip, relocate)
    if moved:
        log.info("moved %d music file(s) next to %s", len(moved), blend_path)
    return len(moved)


def _repoint_takes(strip: Any, relocate: Any) -> None:
    current = takes.meta(strip) or {}
    new_file = relocate(str(current.get("file", "")))
    if new_file is not None:
        strip[vse.META_PROP]["file"] = new_file
    changed, listed = False, takes.takes_of(strip)
    for take in listed:
        new_file = relocate(str(take.get("file", "")))
        if new_file is not None:
            take["file"], changed = new_file, True
    if changed:
        takes.set_takes(strip, listed)
