"""The headless recipes of docs/blender.md ("Batch (headless)", linked from the README), run
literally in fresh bpy processes against the stub service: a file with a broken strip and good ones
gets the good ones' music saved, the failure recorded and raised; a second run skips what is scored. SIGINT/SIGTERM during a batch cancel its jobs on the
service and keep what was placed."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess

import pytest

from .conftest import ROOT, scenario_result
from .stub_service import StubService

pytestmark = [pytest.mark.blender, pytest.mark.slow]


#: Where the recipes are written for users: the page and its section.
RECIPES_PAGE, RECIPES_SECTION = ROOT / "docs" / "blender.md", "## Batch (headless)"


def recipes_section() -> str:
    text = RECIPES_PAGE.read_text()
    return text[text.index(RECIPES_SECTION + "\n") :].split("\n## ", 1)[0]


def recipe_block(lang: str) -> str:
    (block,) = re.findall(rf"```{lang}\n(.*?)```", recipes_section(), re.S)
    return block


def shell_python_expr() -> str:
    """The --python-expr of the documented `blender -b` recipe."""
    words = shlex.split(recipe_block("sh").replace("\\\n", " "))
    assert words[words.index("-b") + 1] == "edit.blend" and "--python-exit-code" in words
    return words[words.index("--python-expr") + 1]


def test_documented_batch_recipes_keep_every_good_strip(run_blender, stub, clips, tmp_path):
    setup = run_blender("batch_setup", stub.url, clips=clips)
    code = recipe_block("python")
    assert "read_userpref" in code and "open_mainfile" in code  # the bare bpy module's requirement
    out = run_blender("run_literally", stub.url, code=code)
    # the broken strip raised at the end, naming its file; the good strips' music was saved first
    assert "'B'" in out["error"] and setup["doomed"] in out["error"] and "does not exist" in out["error"]
    assert {scene: sorted(m[1] for m in found) for scene, found in out["music"].items()} == {"One": ["A"], "Two": ["C"]}
    assert all(
        exists and path.startswith("//expotion_audio/")
        for found in out["music"].values()
        for _, _, exists, path in found
    )
    report = {s["strip"]: s for s in out["report"]["strips"]}
    assert out["report"]["saved"] is True and out["report"]["interrupted"] == ""
    assert report["A"]["status"] == report["C"]["status"] == "succeeded" and report["A"]["music"]
    assert report["B"]["status"] == "failed" and setup["doomed"] in report["B"]["error"]
    assert "Find Missing Files" in report["B"]["hint"]
    posted = len(stub.routes("POST", "/v1/jobs"))
    assert posted == 2
    # `blender -b edit.blend --python-expr ...`: the expression after the file is open. Strips that
    # have music are skipped; the broken one fails again.
    expr = shell_python_expr()
    again = run_blender(
        "run_literally",
        stub.url,
        code="import bpy\nbpy.ops.wm.read_userpref()\nbpy.ops.wm.open_mainfile(filepath='edit.blend')\n" + expr,
    )
    assert "'B'" in again["error"] and len(stub.routes("POST", "/v1/jobs")) == posted
    assert again["music"] == out["music"]
    assert json.loads((tmp_path / "expotion_report.json").read_text())["strips"][0]["status"] == "failed"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_batch_cancels_its_jobs_and_keeps_what_was_placed(
    blender_command, run_blender, clips, tmp_path, sig
):
    stub = StubService().start()
    try:
        argv, env = blender_command("batch_interrupt", stub.url, clips=clips)
        proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # scene One's quick job is done and downloaded, scene Two's job never ends
            assert stub.wait_for(lambda log: any(e["route"].endswith("/result") for e in log), timeout=120)
            (slow,) = [j for j in stub.jobs.values() if "SLOW" in j.params["prompt"]]
            proc.send_signal(sig)
            stdout, stderr = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert slow.status == "cancelled"
        assert [e["route"] for e in stub.routes("DELETE")] == [f"/v1/jobs/{slow.id}"]
        if sig == signal.SIGTERM:
            assert proc.returncode == -signal.SIGTERM, stderr[-3000:]
        else:
            result = scenario_result("batch_interrupt", proc.returncode, stdout, stderr)
            assert "interrupted by SIGINT" in result["error"]
        saved = run_blender("inspect_blend", stub.url)
        assert {scene: [m[1] for m in found] for scene, found in saved["music"].items()} == {"One": ["A"], "Two": []}
        report = {s["strip"]: s["status"] for s in saved["report"]["strips"]}
        assert report == {"A": "succeeded", "B": "cancelled"}
        assert saved["report"]["interrupted"] == sig.name and saved["report"]["saved"] is True
    finally:
        stub.stop()
