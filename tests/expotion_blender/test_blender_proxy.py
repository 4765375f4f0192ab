"""The interactive proxy in real Blender: one frame per timer tick with progress, an MJPEG AVI of
exactly the strip's visible range, and cancel halfway leaves nothing behind."""

from __future__ import annotations

import pytest

from .conftest import brightness_drops, count_frames

pytestmark = [pytest.mark.blender, pytest.mark.slow]


def test_proxy_renders_in_steps_and_cancels_cleanly(run_blender, stub, clips):
    out = run_blender("proxy_steps", stub.url, clips=clips, clip="c2997", fps=30, content_trim=[7, 5], handles=[3, 4])
    v0, v1 = out["video"]
    frames = v1 - v0
    # the click returned at once with the job listed; the proxy is rendered by the ticks after it
    assert out["at_once"]["C"][0] == "pending" and out["at_once"]["C"][3] == "checking the service"
    work = [w for w, _ in out["ticks"]]
    # one tick sets the render up, then one frame per tick; the tick of the last frame sends the job
    assert work.count("proxy") == frames and work.count("sent") == 1
    rendering = [p for p in out["phases"] if p.startswith("rendering proxy")]
    assert rendering == [f"rendering proxy {i}/{frames}" for i in range(frames)]
    assert out["first"]["C"][0] == "succeeded" and len(out["music"]) == 1
    (job,) = stub.routes("POST", "/v1/jobs")  # the cancelled second render sent nothing
    assert job["upload"] and job["params"]["path"] is None
    with open(job["upload"], "rb") as fh:
        assert fh.read(12)[8:] == b"AVI "
    assert count_frames(job["upload"]) == frames
    assert brightness_drops(job["upload"]) == [i for i in (37 - 10, 73 - 10) if i < frames]
    # the second render, cancelled after 5 frames: no scene, no frames, nothing sent
    assert out["cancelled"]["C"][0] == "cancelled"
    assert len(out["folders_during"]) == 1 and out["folders_left"] == [] and out["temp_scenes"] == []
    # "Suggest from video" renders its proxy in steps too and fills the prompt when the answer comes
    assert out["analysing"] == "Analysing 'C'..." and out["prompt"] == "bright stub music, 120 bpm"
    assert "person 100%" in out["analysis"] and out["jobs_after_analysis"] == {}
    (analysis,) = stub.routes("POST", "/v1/analyze")
    assert count_frames(analysis["upload"]) == frames


def test_saving_or_opening_a_file_while_jobs_run(run_blender, stub, clips):
    out = run_blender("file_changes", stub.url, clips=clips)
    assert out["saved_scenes"] == ["Edit"]  # the proxy's temporary scene was not saved
    assert out["phase_after_save"] == "preparing"  # its render starts again
    assert out["first"]["A"][0] == "succeeded"
    (first_upload, second_upload) = [e["upload"] for e in stub.routes("POST", "/v1/jobs")]
    assert count_frames(first_upload) == 75  # the whole 3 s clip at 25 fps, frames rendered after the save
    status, error, hint, _ = out["second"]["A"]
    assert status == "failed" and "another file was opened" in error and "kept in" in hint
    assert out["music_in_reopened"] == [] and out["checked_on_load"] is True
