"""Expotion for Blender's Video Sequence Editor: score movie strips with music from the Expotion
generator service (a separate local process). Standard library only.

`protocol`, `client`, `jobs` and `timing` import no bpy, so this file imports the bpy-touching
modules inside `register`/`unregister`: the package imports anywhere (tests, scripts) and only
loads Blender parts inside Blender. Registration in order, unregistration in reverse; the runtime
(worker thread, timer) is stopped and the Scene property removed on unregister.
"""

from __future__ import annotations


def classes() -> tuple[type, ...]:
    """Every registered class, in registration order (preferences, property groups, operators, UI)."""
    from . import operators, preferences, properties, ui

    return preferences.classes + properties.classes + operators.classes + ui.classes


def register() -> None:
    import bpy

    from . import properties

    for cls in classes():
        bpy.utils.register_class(cls)
    properties.register()


def unregister() -> None:
    import bpy

    from . import properties, runtime

    runtime.stop()
    properties.unregister()
    for cls in reversed(classes()):
        bpy.utils.unregister_class(cls)
