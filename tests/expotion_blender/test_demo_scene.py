"""The Blender half of the demo (expotion_blender/scripts/demo_scene.py) in real Blender against the
stub service: it places the music and uses no API this Blender deprecates (5.2 deprecates
`frame_final_*`; run under `make test-blender-next` to check 5.2)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from .conftest import ROOT, bpy_python

pytestmark = [pytest.mark.blender, pytest.mark.slow]
SCRIPT = ROOT / "expotion_blender" / "scripts" / "demo_scene.py"


def test_demo_scene_places_music_without_deprecations(built_zip, stub, clips, tmp_path):
    python = bpy_python()
    if python is None:
        pytest.skip("no Python with bpy: pip install bpy==5.0.1 (here or in .venv-blender)")
    env = dict(os.environ, EXPOTION_SERVICE_URL=stub.url, BLENDER_USER_RESOURCES=str(tmp_path / "blender_user"))
    proc = subprocess.run(
        [python, "-W", "always::DeprecationWarning", str(SCRIPT), built_zip, clips["c25"], str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=180,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("DEMO_BLENDER ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(lines[-1].split(" ", 1)[1])
    assert report["sound"] == report["movie"] and report["samples"] == 3 * 32000
    warnings = [ln for ln in proc.stderr.splitlines() if "DeprecationWarning" in ln and SCRIPT.name in ln]
    assert not warnings, "\n".join(warnings)
