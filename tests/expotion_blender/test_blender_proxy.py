"""The interactive proxy in real Blender: one frame per timer tick with progress, an MJPEG AVI of
exactly the strip's visible range, and cancel halfway leaves nothing behind."""

from __future__ import annotations

import pytest

from .conftest import brightness_drops, count_frames

pytestmark = [pytest.mark.blender, pytest.mark.slow]


def test_proxy_renders_in_steps_and_cancels_cleanly(run_blender, stub, clips):
    out = run_blender("proxy_steps", stub.url, clips=clips, clip="c2997", fps=30, content_trim=[7, 5],
                      handles=[3, 4])
    v0, v1 = out["video"]
    frames = v1 - v0
    work = [w for w, _ in out["ticks"]]
    # one tick sets the render up, then one frame per tick; the tick of the last frame sends the job
    assert work.count("proxy") == frames and work.count("sent") == 1
    rendering = [p for p in out["phases"] if p.startswith("rendering proxy")]
    assert rendering == [f"rendering proxy {i}/{frames}" for i in range(frames)]
    assert out["first"]["C"][0] == "succeeded" and len(out["music"]) == 1
    (job,) = stub.routes("POST", "/v1/jobs")
    assert job["upload"] and job["params"]["path"] is None
    with open(job["upload"], "rb") as fh:
        assert fh.read(12)[8:] == b"AVI "
    assert count_frames(job["upload"]) == frames
    assert brightness_drops(job["upload"]) == [i for i in (37 - 10, 73 - 10) if i < frames]
    # the second render, cancelled after 5 frames: no scene, no frames, nothing sent
    assert out["cancelled"]["C"][0] == "cancelled"
    assert len(out["folders_during"]) == 1 and out["folders_left"] == [] and out["temp_scenes"] == []
