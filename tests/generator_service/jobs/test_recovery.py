"""Recovery at start of jobs a previous process left queued or running (a real SQLite store reopened)."""

from __future__ import annotations

from pathlib import Path

from generator_service.hashing import ContentHashes
from generator_service.hashing import sha256_file as hash_file
from generator_service.jobs.records import JobRecord, JobSpec
from generator_service.jobs.recovery import input_problem, recover
from generator_service.jobs.store import JobStore


def _spec(video: Path, uploaded: bool = True, **kw) -> JobSpec:
    digest = hash_file(video) if video.is_file() else "0" * 64
    return JobSpec.create(video=str(video), video_sha256=digest, start=0.0, end=1.0, uploaded=uploaded, **kw)


def test_jobs_left_behind_are_resumed_or_failed_with_the_reason(tmp_path: Path) -> None:
    uploads, media = tmp_path / "uploads", tmp_path / "media"
    uploads.mkdir()
    media.mkdir()
    upload = uploads / "abc.mp4"
    upload.write_bytes(b"movie")
    users = media / "take.mp4"
    users.write_bytes(b"user's movie")
    edited = media / "edited.mp4"
    edited.write_bytes(b"before")
    path = tmp_path / "jobs.sqlite3"
    store = JobStore(path)
    store.save(JobRecord("j-queued", _spec(upload), status="queued", created=3.0))
    store.save(
        JobRecord(
            "j-running",
            _spec(upload, seed=1),
            status="running",
            attempts=1,
            created=1.0,
            phase="generate",
            progress=0.6,
        )
    )
    store.save(JobRecord("j-path", _spec(users, uploaded=False), status="queued", created=4.0))
    store.save(JobRecord("j-crashy", _spec(upload, seed=2), status="running", attempts=3, created=2.0))
    store.save(JobRecord("j-gone", _spec(uploads / "gone.mp4"), status="queued", created=5.0))
    store.save(JobRecord("j-edited", _spec(edited, uploaded=False), status="queued", created=6.0))
    store.save(JobRecord("j-done", _spec(upload), status="succeeded", finished=1.0))
    store.close()
    edited.write_bytes(b"after the job was submitted")

    store = JobStore(path)  # the next start
    resumed = recover(store, max_attempts=3, problem=lambda s: input_problem(s, media, ContentHashes()))
    assert [r.id for r in resumed] == ["j-running", "j-queued", "j-path"]
    for record in resumed:
        assert (record.status, record.phase, record.progress, record.resumed) == ("queued", "", 0.0, 1)
    assert resumed[0].attempts == 1  # the crashed run counts; the next run will be attempt 2
    crashy = store.get("j-crashy")
    assert crashy.status == "failed" and "3 time(s)" in crashy.error and "not run again" in crashy.error
    assert "crash" in crashy.hint
    gone = store.get("j-gone")
    assert gone.status == "failed" and "interrupted" in gone.error and "no longer in the work dir" in gone.error
    assert "changed since" in store.get("j-edited").error
    assert store.get("j-done").status == "succeeded"
    store.close()


def test_a_path_mode_job_is_not_resumed_outside_the_media_root(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    video = media / "take.mp4"
    video.write_bytes(b"movie")
    hashes = ContentHashes()
    assert input_problem(_spec(video, uploaded=False), media, hashes) is None
    assert "path mode is off" in input_problem(_spec(video, uploaded=False), None, hashes)
    other = tmp_path / "other"
    other.mkdir()
    assert "outside the media root" in input_problem(_spec(video, uploaded=False), other, hashes)
