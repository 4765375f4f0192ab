"""Real Blender (bpy 5.0.1, in a subprocess) against the stub service: install from the built zip,
score at odd offsets/trims/rates, placement, exact samples, metadata, regenerate, undo, errors,
re-registration."""

from __future__ import annotations

import pytest

from .conftest import count_frames
from .stub_service import StubService

pytestmark = [pytest.mark.blender, pytest.mark.slow]
SR = 32000


def samples(frames: int, fps: int, base: float) -> int:
    return round(frames * base / fps * SR)


def test_score_regenerate_undo(run_blender, stub, clips):
    out = run_blender("score", stub.url, clips=clips)
    a0, a1, a_ch = out["video"]["A"]
    b0, b1, b_ch = out["video"]["B"]
    placed = {(p["meta"]["source_name"], p["meta"]["take"]): p for p in out["placed"]}
    assert len(placed) == 4  # 2 strips x 2 takes; the COLOR blocker is skipped
    # A sits on channel 2 and a COLOR strip occupies channel 3 over A's range: takes go to 4 and 5.
    assert [placed["A", t]["channel"] for t in (0, 1)] == [4, 5]
    assert [placed["B", t]["channel"] for t in (0, 1)] == [b_ch + 1, b_ch + 2]
    for name, (v0, v1) in {"A": (a0, a1), "B": (b0, b1)}.items():
        for take in (0, 1):
            p = placed[name, take]
            assert (p["start"], p["end"]) == (v0, v1)
            assert p["samples"] == samples(v1 - v0, 30, 1.001)
            assert p["mute"] == (take == 1)
            meta = p["meta"]
            assert meta["prompt"] == "warm piano" and meta["seed"] == 11 + take
            assert meta["job_id"].startswith("j-") and meta["model"] == "stub/tiny"
            assert meta["service_version"] == "0.1.0-stub" and meta["adapter"] == ""
    # A is a plain offset into a 29.97 file: sent as a path + range; B (25 fps) as a proxy upload.
    jobs = [e for e in stub.log if e["route"] == "/v1/jobs"]
    by_path = [e for e in jobs if e["params"]["path"]]
    assert len(by_path) == 2  # A, then A again for regenerate
    assert by_path[0]["params"]["start"] == pytest.approx(5 * 1.001 / 30)
    uploads = [e for e in jobs if e["upload"]]
    assert len(uploads) == 1 and count_frames(uploads[0]["upload"]) == b1 - b0
    # Regenerate replaced the first take of A in place with a new job and seed.
    regen = {(p["meta"]["source_name"], p["meta"]["take"]): p for p in out["regenerated"]}
    assert len(regen) == 4
    new, old = regen["A", 0], placed["A", 0]
    assert (new["start"], new["end"], new["channel"], new["mute"], new["name"]) == (
        old["start"], old["end"], old["channel"], old["mute"], old["name"])
    assert new["meta"]["job_id"] != out["old_job"] and new["samples"] == old["samples"]
    assert new["meta"]["key"] == old["meta"]["key"]
    # Undo: first the regeneration, then the scoring.
    assert {p["meta"]["job_id"] for p in out["after_undo1"]} == {p["meta"]["job_id"] for p in out["placed"]}
    assert out["after_undo2"] == []


def test_23976_path_mode(run_blender, stub, clips):
    out = run_blender("score_23976", stub.url, clips=clips)
    v0, v1, ch = out["video"]
    (p,) = out["placed"]
    assert (p["start"], p["end"], p["channel"]) == (v0, v1, ch + 1)
    assert p["samples"] == samples(v1 - v0, 24, 1.001)
    (job,) = [e for e in stub.log if e["route"] == "/v1/jobs"]
    assert job["params"]["path"] == clips["c23976"]
    assert job["params"]["start"] == pytest.approx(9 * 1.001 / 24)
    assert job["params"]["duration"] == pytest.approx((v1 - v0) * 1.001 / 24)


def test_worker_timer_moved_and_deleted_strips(run_blender, stub, clips):
    out = run_blender("async_moves", stub.url, clips=clips)
    assert out["states"]["A"][0] == "succeeded"
    assert out["states"]["B"][0] == "failed" and "deleted" in out["states"]["B"][1]
    (p,) = out["placed"]
    a0, a1, a_ch = out["a"]
    assert (p["start"], p["end"], p["channel"]) == (a0, a1, a_ch + 1)  # where A is now
    assert out["tick_max_s"] < 0.25  # measured ~0.02 s (placement + undo push)


def test_errors_leave_timeline_clean(run_blender, stub, clips):
    token_stub = StubService(token="right").start()
    try:
        out = run_blender("errors", stub.url, clips=clips, url=stub.url, down_url="http://127.0.0.1:9",
                          token_url=token_stub.url)
    finally:
        token_stub.stop()
    assert out["no_person_visual"] == "null"
    assert out["suggested"] == "bright stub music, 120 bpm"


def test_unregister_reregister_twice(run_blender, stub, clips):
    out = run_blender("reregister", stub.url, clips=clips)
    assert out["sounds"] == 1
