"""Expotion for Blender's Video Sequence Editor: score movie strips with music from the Expotion
generator service (a separate local process). Standard library only, plus the service's protocol
package (`expotion_protocol`: the job parameters, message shapes and wire encodings), bundled as a
wheel through the manifest.

`client`, `jobs` and `timing` import no bpy, so this file imports the bpy-touching
modules inside `register`/`unregister`: the package imports anywhere (tests, scripts) and only
loads Blender parts inside Blender. Registration in order, unregistration in reverse; the runtime
(worker thread, timer) is stopped, the handlers and the Scene property removed on unregister. In the
UI the service is checked as soon as the add-on is enabled (on the worker thread).
"""

from __future__ import annotations


def classes() -> tuple[type, ...]:
    """Every registered class, in registration order (preferences, property groups, operators, UI)."""
    from . import operators, preferences, properties, ui

    return preferences.classes + properties.classes + operators.classes + ui.classes


def register() -> None:
    import bpy

    from . import handlers, preferences, properties, runtime

    for cls in classes():
        bpy.utils.register_class(cls)
    properties.register()
    handlers.register()
    runtime.check_automatically(preferences.get().client)  # in the UI; headless runs check when they run


def unregister() -> None:
    import bpy

    from . import handlers, properties, runtime

    runtime.stop()
    handlers.unregister()
    properties.unregister()
    for cls in reversed(classes()):
        bpy.utils.unregister_class(cls)
