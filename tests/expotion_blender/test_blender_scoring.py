"""Real Blender (bpy 5.0.1, in a subprocess) against the stub service: install from the built zip,
score at odd offsets/trims/rates, placement, exact samples, metadata, takes, regenerate, undo,
errors, re-registration."""

from __future__ import annotations

import os

import pytest

from .conftest import brightness_drops, count_frames
from .stub_service import StubService

pytestmark = [pytest.mark.blender, pytest.mark.slow]
SR = 32000


def samples(frames: int, fps: int, base: float) -> int:
    return round(frames * base / fps * SR)


def jobs_posted(stub: StubService) -> list[dict]:
    return stub.routes("POST", "/v1/jobs")


def test_score_regenerate_undo(run_blender, stub, clips):
    out = run_blender("score", stub.url, clips=clips)
    a0, a1, a_ch = out["video"]["A"]
    b0, b1, b_ch = out["video"]["B"]
    placed = {p["meta"]["source_name"]: p for p in out["placed"]}
    assert set(placed) == {"A", "B"}  # one music strip per video strip; the COLOR blocker is skipped
    # A sits on channel 2 and a COLOR strip occupies channel 3 over A's range: its music goes to 4.
    assert placed["A"]["channel"] == 4 and placed["B"]["channel"] == b_ch + 1
    for name, (v0, v1) in {"A": (a0, a1), "B": (b0, b1)}.items():
        p = placed[name]
        assert (p["start"], p["end"], p["mute"]) == (v0, v1, False)
        assert p["samples"] == samples(v1 - v0, 30, 1.001)
        # both takes of the job are in the strip's takes list; the first one plays
        assert [t["seed"] for t in p["takes"]] == [11, 12] and [t["take"] for t in p["takes"]] == [0, 1]
        assert p["meta"]["take_id"] == p["takes"][0]["take_id"] and p["file"] == p["takes"][0]["file"]
        for take in p["takes"]:
            assert take["prompt"] == "warm piano" and take["job_id"].startswith("j-")
            assert take["model"] == "stub/tiny" and take["service_version"] == "0.1.0-stub" and take["adapter"] == ""
            assert take["details"] == {"precision": "fp32", "beat_lock": "both"}  # the panel's Auto, a person
            assert take["lock_mode"] == "auto" and take["lock"]["mode"] == "both" and take["hits"] == []
            assert take["frames"] == v1 - v0
    # A is a plain offset into a 29.97 file: sent as a path + range; B (25 fps) as a proxy upload.
    jobs = jobs_posted(stub)
    by_path = [e for e in jobs if e["params"]["path"]]
    assert len(by_path) == 2  # A, then A again for regenerate
    assert by_path[0]["params"]["start"] == pytest.approx(5 * 1.001 / 30)
    uploads = [e for e in jobs if e["upload"]]
    assert len(uploads) == 1 and count_frames(uploads[0]["upload"]) == b1 - b0
    # Regenerate swapped a new take into A's music strip: same place, name and key; older takes kept.
    regen = {p["meta"]["source_name"]: p for p in out["regenerated"]}
    new, old = regen["A"], placed["A"]
    assert (new["start"], new["end"], new["channel"], new["mute"], new["name"]) == (
        old["start"],
        old["end"],
        old["channel"],
        old["mute"],
        old["name"],
    )
    assert new["meta"]["job_id"] != out["old_job"] and new["samples"] == old["samples"]
    assert new["meta"]["key"] == old["meta"]["key"]
    assert [t["take_id"] for t in new["takes"][:2]] == [t["take_id"] for t in old["takes"]]
    assert len(new["takes"]) == 3 and new["meta"]["take_id"] == new["takes"][2]["take_id"]
    # Undo: first the regeneration, then the scoring.
    assert {p["meta"]["job_id"] for p in out["after_undo1"]} == {p["meta"]["job_id"] for p in out["placed"]}
    assert out["after_undo2"] == []


def test_score_timeline_is_one_piece_across_the_cut_with_the_cut_and_the_marker(run_blender, stub, clips):
    out = run_blender("timeline", stub.url, clips=clips)
    assert out["video"] == {"A": [1, 41, 1], "B": [41, 81, 1]}
    (piece,) = out["placed"]  # one sound strip over the whole range, not one per strip
    assert (piece["start"], piece["end"], piece["channel"]) == (1, 81, 2) and piece["samples"] == samples(80, 25, 1.0)
    meta = piece["meta"]
    assert meta["timeline"] == [1, 81] and meta["source_name"] == "Timeline 1-80" and meta["lock_mode"] == "auto"
    assert [(h["frame"], h["kind"], h["t"]) for h in meta["hits"]] == [(41, "cut", 1.6), (60, "marker", 2.36)]
    lock = meta["lock"]  # the service's report of this take, as Blender can store it
    assert lock["mode"] == "both" and lock["locked"] and lock["stretch_range"] == [0.97, 1.03]
    assert lock["notes"] == "stub; note" and "motion_tempo_bpm" not in lock  # null: left out
    assert len(lock["alignment"]["after"]["hit_offsets_s"]) == 2  # nulls as NaN
    (job, again, preview_job, strip_job) = jobs_posted(stub)
    assert job["params"]["hits"] == [
        {"t": 1.6, "kind": "cut", "strength": 1.0},
        {"t": 2.36, "kind": "marker", "strength": 1.0},
    ]
    assert "beat_lock" not in job["params"] and job["params"]["path"] is None  # automatic; two strips: a proxy
    assert job["params"]["duration"] == pytest.approx(3.2)
    # the proxy is the composite: A's source frames 0-39, then B's 0-39 (brightness drops at their 37th)
    assert count_frames(job["upload"]) == 80 and brightness_drops(job["upload"]) == [37, 77]
    # regenerate: the same range again, in place, with the hits as they are now
    (new,) = out["regenerated"]
    assert (new["start"], new["end"], new["channel"], new["name"]) == (1, 81, 2, piece["name"])
    assert new["meta"]["key"] == meta["key"] and len(new["takes"]) == 2 and new["meta"]["job_id"] != meta["job_id"]
    assert again["params"]["hits"] == job["params"]["hits"]
    # interactive: the preview range 21-60, its proxy rendered one frame per timer tick
    (preview,) = out["preview"]
    assert (preview["start"], preview["end"], preview["channel"]) == (21, 61, 3) and out["proxy_ticks"] == 40
    assert [(h["frame"], h["kind"]) for h in preview["meta"]["hits"]] == [(41, "cut"), (60, "marker")]
    assert preview_job["params"]["hits"][0]["t"] == pytest.approx(0.8) and count_frames(preview_job["upload"]) == 40
    # per strip: the panel's lock and the marker over the strip (path mode: on the file's clock)
    (strip_music,) = out["per_strip"]
    assert strip_job["params"]["beat_lock"] == "motion" and strip_job["params"]["path"]
    assert strip_job["params"]["hits"] == [{"t": 0.76, "kind": "marker", "strength": 1.0}]
    assert strip_music["meta"]["lock_mode"] == "motion" and strip_music["meta"]["lock"]["mode"] == "motion"
    assert strip_music["meta"]["hits"] == [{"frame": 60, "kind": "marker", "t": 0.76, "strength": 1.0}]


def test_rescoring_replaces_music_and_the_takes_browser_works(run_blender, stub, clips):
    out = run_blender("takes_browser", stub.url, clips=clips)
    (first,) = out["first"]
    (rescored,) = out["rescored"]  # scored again: still one music strip, never two playing at once
    assert out["sound_strips"] == 2  # the music and the editor's own dialog strip
    assert (rescored["channel"], rescored["start"], rescored["name"]) == (
        first["channel"],
        first["start"],
        first["name"],
    )
    assert rescored["meta"]["key"] == first["meta"]["key"] and not rescored["mute"]
    seeds = [t["seed"] for t in rescored["takes"]]
    assert seeds == [100, 101, 200] and [t["prompt"] for t in rescored["takes"]] == ["first", "first", "second"]
    assert rescored["meta"]["seed"] == 200  # the new take plays
    ids = [t["take_id"] for t in rescored["takes"]]
    (swapped,) = out["swapped"]
    assert (
        swapped["meta"]["take_id"] == ids[1]
        and swapped["meta"]["seed"] == 101
        and swapped["takes"] == rescored["takes"]
    )
    assert swapped["file"] == rescored["takes"][1]["file"]
    (auditioned,) = out["auditioning"]["music"]
    assert auditioned["meta"]["take_id"] == ids[0] and not auditioned["mute"]
    assert out["auditioning"]["dialog_muted"] is True and out["auditioning"]["frame"] == auditioned["start"]
    (stopped,) = out["stopped"]["music"]
    assert stopped["meta"]["take_id"] == ids[1]  # the take that played before comes back
    assert out["stopped"]["dialog_muted"] is False and out["stopped"]["state"] is None
    (deleted,) = out["deleted"]
    assert [t["take_id"] for t in deleted["takes"]] == ids[:2] and "Swap in another take" in out["refused"]
    (with_panel,) = out["with_panel"]
    assert with_panel["meta"]["prompt"] == "third" and with_panel["meta"]["seed"] == 300
    (as_it_was,) = out["as_it_was"]
    assert as_it_was["meta"]["prompt"] == "third" and as_it_was["meta"]["seed"] == 300
    assert len(as_it_was["takes"]) == 4 and as_it_was["meta"]["job_id"] != with_panel["meta"]["job_id"]


def test_missing_movie_after_saving_is_refused_and_changes_nothing(run_blender, stub, clips, tmp_path):
    out = run_blender("missing_after_save", stub.url, clips=clips)
    mine = str(tmp_path / "mine.mp4")
    assert mine in out["score_error"] and mine in out["regenerate_error"]
    assert "Find Missing Files" in out["score_error"]
    assert out["after"] == out["before"] and len(out["before"]) == 1
    assert out["files_after"] == out["files_before"]
    assert len(jobs_posted(stub)) == 1  # only the scoring before the file vanished reached the service


def test_unsaved_file_music_follows_save_as(run_blender, stub, clips, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    opened = tmp_path / "opened.txt"
    (bin_dir / "xdg-open").write_text(f'#!/bin/sh\necho "$@" > {opened}\n')
    (bin_dir / "xdg-open").chmod(0o755)
    out = run_blender(
        "unsaved_follows_save", stub.url, clips=clips, env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    )
    assert out["held"].startswith(out["unsaved_root"] + os.sep)
    assert not out["held_exists_after_save"]  # moved, not copied
    assert {s: v[0] for s, v in out["states"].items()} == {"A": "succeeded", "B": "succeeded"}
    assert len(out["saved"]) == 2
    for strip in out["saved"]:  # the job that finished after the save moved its files too
        assert strip["file"].startswith("//expotion_audio/"), strip["file"]
        assert all(t["file"].startswith("//expotion_audio/") for t in strip["takes"])
    assert out["audio_dir"] == str(tmp_path / "project" / "expotion_audio")
    assert len(out["reopened"]) == 2 and all(exists for _, exists in out["reopened"])
    assert opened.read_text().strip() == out["audio_dir"]


def test_23976_path_mode(run_blender, stub, clips):
    out = run_blender("score_23976", stub.url, clips=clips)
    v0, v1, ch = out["video"]
    (p,) = out["placed"]
    assert (p["start"], p["end"], p["channel"]) == (v0, v1, ch + 1)
    assert p["samples"] == samples(v1 - v0, 24, 1.001)
    (job,) = jobs_posted(stub)
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


def test_errors_leave_timeline_clean(run_blender, stub, clips):
    token_stub = StubService(token="right").start()
    try:
        out = run_blender(
            "errors", stub.url, clips=clips, url=stub.url, down_url="http://127.0.0.1:9", token_url=token_stub.url
        )
    finally:
        token_stub.stop()
    assert out["no_person_visual"] == "null"
    assert out["suggested"] == "bright stub music, 120 bpm"
    # the missing strip is refused naming its file; the good strip selected with it still got music
    assert sorted(out["good_scored_anyway"]) == ["A", "G"]


def test_unregister_reregister_twice(run_blender, stub, clips):
    out = run_blender("reregister", stub.url, clips=clips)
    assert out["sounds"] == 1 and out["save_handlers"] == 1


def test_async_one_strip_per_job_then_its_undo_step(run_blender, stub, clips):
    out = run_blender("async_takes", stub.url, clips=clips)
    assert {k: v[0] for k, v in out["states"].items()} == {"A": "succeeded", "B": "succeeded"}
    assert len(out["placed"]) == 2 and all(len(p["takes"]) == 2 for p in out["placed"])
    assert all(new <= 1 for new, _, _ in out["ticks"]), out["ticks"]  # never two new_sound calls in a tick
    work = [w for _, w, _ in out["ticks"] if w]
    assert work == ["strip", "undo", "strip", "undo"], work
    for new, what, _ in out["ticks"]:
        assert (new == 1) == (what == "strip")
    # one undo step per job: the first undo removes the music placed last, the second the other
    jobs = {p["meta"]["job_id"] for p in out["placed"]}
    left = {p["meta"]["job_id"] for p in out["after_undo1"]}
    assert len(out["after_undo1"]) == 1 and left < jobs
    assert out["after_undo2"] == []


def test_undo_before_the_job_is_confirmed_fails_it_cleanly(run_blender, stub, clips):
    out = run_blender("async_undone", stub.url, clips=clips)
    assert [n for n, _, _ in out["first_ticks"] if n] == [1]
    status, error, hint, _ = out["states"]["A"]
    assert status == "failed" and "removed (undone?)" in error and "kept in" in hint
    assert out["left"] == 0 and out["orphan_sounds"] == 0


def test_dead_worker_fails_its_jobs(run_blender, stub, clips):
    out = run_blender("dead_worker", stub.url, clips=clips)
    ((status, error, hint),) = out["first"]
    assert status == "failed" and "worker thread stopped" in error and "simulated bug" in error
    assert "Score again" in hint and "re-enable" in hint
    assert out["again"] == [["succeeded", ""]] and out["sounds"] == 1


@pytest.mark.parametrize("clip, fps", [("c2997", 30), ("c23976", 24)])
def test_content_trim_path_and_proxy(run_blender, stub, clips, clip, fps):
    """Source frames 0..6 dropped by the content trim, 3 more by the left handle: both the path
    range and the proxy start at source frame 10."""
    out = run_blender("content_trimmed", stub.url, clips=clips, clip=clip, fps=fps, content_trim=[7, 5], handles=[3, 4])
    v0, v1 = out["video"]
    movie_frames = round(3.0 * fps / 1.001)
    assert v1 - v0 == movie_frames - 7 - 5 - 3 - 4
    jobs = jobs_posted(stub)
    (by_path,) = [e["params"] for e in jobs if e["params"]["path"]]
    assert by_path["path"] == clips[clip]
    assert by_path["start"] == pytest.approx(10 * 1.001 / fps, abs=1e-9)
    assert by_path["duration"] == pytest.approx((v1 - v0) * 1.001 / fps, abs=1e-9)
    (upload,) = [e["upload"] for e in jobs if e["upload"]]
    assert count_frames(upload) == v1 - v0
    # the source's brightness wraps after frame 36 and 72: in a proxy from frame 10 on, at 27 and 63
    assert brightness_drops(upload) == [i for i in (37 - 10, 73 - 10) if i < v1 - v0]
    (placed,) = out["placed"]  # scored twice: one strip, both takes in its list
    assert len(placed["takes"]) == 2 and placed["samples"] == samples(v1 - v0, fps, 1.001)


def test_replace_temp_track_per_strip_and_as_one_piece(run_blender, stub, clips):
    out = run_blender("replace_temp", stub.url, clips=clips)
    music = {m["meta"]["source_name"]: m for m in out["per_strip"]["music"]}
    assert set(music) == {"A", "B"}
    # each strip's music sits where the temp was (channel 2) over its own strip; the temp moved to
    # the first channel free over its whole length (3 has a blocker at 150-159) and is muted, not deleted
    assert [music["A"][k] for k in ("start", "end", "channel", "mute")] == [11, 76, 2, False]
    assert [music["B"][k] for k in ("start", "end", "channel", "mute")] == [101, 176, 2, False]
    assert out["per_strip"]["temp"] == [4, True, 1, 201] and out["per_strip"]["blocker"] == 3
    for name, start_s in (("A", 0.4), ("B", 4.0)):
        meta = music[name]["meta"]
        assert meta["temp"]["name"] == "temp" and meta["temp"]["start_s"] == pytest.approx(start_s)
        assert meta["melody"]["follows"] is True and meta["melody"]["take"]["chroma_similarity"] == 0.61
        assert music[name]["samples"] == samples(75 if name == "B" else 65, 25, 1.0)
    posted = jobs_posted(stub)
    sent = [e["params"] for e in posted[:2]]
    assert sorted(p["melody_start"] for p in sent) == pytest.approx([0.4, 4.0])
    assert all(p["melody_bytes"] == 44 + 8 * SR * 2 and p["melody_upload"].startswith("RIFF") for p in sent)
    assert all("melody_path" not in p for p in sent)  # the temp is uploaded even when the video goes by path
    # A/B from the Takes panel: the temp plays and the music is muted, then back
    assert out["hear_temp"] == [False, True] and out["hear_music"] == [True, False]
    # regenerate follows the temp again, in place, with the temp's start as it is now
    (regen,) = out["regenerated"]
    assert (regen["channel"], regen["start"], regen["meta"]["temp"]["start_s"]) == (2, 11, pytest.approx(0.4))
    assert posted[2]["params"]["melody_start"] == pytest.approx(0.4) and len(regen["takes"]) == 2
    # undo (regenerate, then the replacement) puts the temp back, playing, and removes the music
    assert out["temp_after_undo"] == [[2, False]] and out["music_after_undo"] == []
    # as one piece: the selected movies' span 11-175 on the temp's channel, across the gap
    (piece,) = out["one_piece"]
    assert (piece["start"], piece["end"], piece["channel"]) == (11, 176, 2)
    assert piece["meta"]["timeline"] == [11, 176] and piece["meta"]["temp"]["start_s"] == pytest.approx(0.4)
    assert posted[3]["params"]["melody_start"] == pytest.approx(0.4)
    # a temp that does not play where the music starts is refused naming both; nothing changes
    assert "'late'" in out["refused"] and "frame 11" in out["refused"] and out["late_muted"] is False
    assert len(jobs_posted(stub)) == 4
