"""The Blender half of the demo; runs INSIDE Blender's Python (the `bpy` module, .venv-blender).

Installs the built extension zip through Blender's own extension path, makes a scene with the demo
clip as a movie strip, scores it headless with `bpy.ops.expotion.score_strips(wait=True)` against
the running service, saves the .blend and mixes the timeline down to a WAV. Standard library + bpy
only; strips are made and read through the installed extension's `vse` module, which knows each
Blender version's names (5.2 deprecates `frame_final_*`). Usage: python expotion_blender/scripts/demo_scene.py ZIP
CLIP OUT_DIR (EXPOTION_SERVICE_URL names the service).
"""

from __future__ import annotations

import json
import os
import sys
import wave

import bpy

MODULE = "bl_ext.user_default.expotion"


def main(zip_path: str, clip: str, out_dir: str) -> dict:
    result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    if result != {"FINISHED"} or MODULE not in sys.modules:
        raise RuntimeError(f"installing {zip_path} failed: {result}")
    vse = sys.modules[MODULE].vse
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 25, 1.0
    movie = vse.new_movie(scene, "performer", clip, 1, 1)
    scene.frame_start, scene.frame_end = 1, vse.visible_range(movie)[1] - 1
    movie.select = True
    scene.sequence_editor.active_strip = movie
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(out_dir, "demo_edit.blend"))  # relative paths resolve
    bpy.ops.expotion.score_strips(wait=True)
    sounds = [s for s in vse.all_strips(scene) if s.type == "SOUND"]
    if not sounds:
        raise RuntimeError("the extension placed no sound strip")
    bpy.ops.wm.save_mainfile()
    mixdown = os.path.join(out_dir, "demo_mixdown.wav")
    bpy.ops.sound.mixdown(filepath=mixdown, container="WAV", codec="PCM", format="S16", mixrate=32000)
    sound = sounds[0]
    with wave.open(bpy.path.abspath(sound.sound.filepath), "rb") as w:
        samples = w.getnframes()
    meta = sound.get("expotion")
    return {
        "blend": bpy.data.filepath,
        "mixdown": mixdown,
        "movie": list(vse.visible_range(movie)),
        "sound": list(vse.visible_range(sound)),
        "channel": sound.channel,
        "samples": samples,
        "metadata": meta.to_dict() if meta else None,
    }


if __name__ == "__main__":
    report = main(*sys.argv[1:4])
    sys.stdout.write("DEMO_BLENDER " + json.dumps(report) + "\n")
