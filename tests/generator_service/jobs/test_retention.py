"""Retention with a fake clock and small limits: a real store, real result folders, real feature files."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from generator_service.jobs.records import JobRecord, JobSpec
from generator_service.jobs.results import ResultFiles
from generator_service.jobs.retention import DAY, Janitor, RetentionPolicy
from generator_service.jobs.store import JobStore

NOW = 1_000 * DAY


class Work:
    """A work dir with a store, result folders and a feature cache folder."""

    def __init__(self, root: Path) -> None:
        self.store = JobStore(root / "jobs.sqlite3")
        self.files = ResultFiles(root / "results")
        self.features = root / "features"
        self.features.mkdir()
        self.forgotten: list[str] = []

    def job(
        self,
        job_id: str,
        status: str = "succeeded",
        *,
        age_days: float = 0.0,
        size: int = 0,
        downloaded_days_ago: float | None = None,
    ) -> None:
        downloaded = None if downloaded_days_ago is None else NOW - downloaded_days_ago * DAY
        finished = NOW - age_days * DAY if status in ("succeeded", "failed", "cancelled") else None
        self.store.save(
            JobRecord(
                job_id,
                JobSpec.create(video="/v.mp4", video_sha256="0", start=0, end=1),
                status=status,
                finished=finished,
                downloaded=downloaded,
                cache_key=f"k-{job_id}",
                result={"takes": 1} if status == "succeeded" else None,
            )
        )
        if size:
            self.files.take_path(job_id, 0).parent.mkdir(parents=True)
            self.files.take_path(job_id, 0).write_bytes(b"\0" * size)

    def feature(self, name: str, size: int, age_days: float) -> Path:
        path = self.features / f"{name}.npz"
        path.write_bytes(b"\0" * size)
        os.utime(path, (NOW - age_days * DAY, NOW - age_days * DAY))
        return path

    def janitor(self, **policy) -> Janitor:
        return Janitor(
            RetentionPolicy(**policy),
            self.store,
            self.files,
            self.features,
            forget=self.forgotten.append,
            clock=lambda: NOW,
        )

    def has_files(self, job_id: str) -> bool:
        return self.files.take_path(job_id, 0).is_file()


@pytest.fixture
def work(tmp_path: Path):
    w = Work(tmp_path)
    yield w
    w.store.close()


def test_old_finished_jobs_go_with_their_files_unless_active_or_recently_downloaded(work: Work) -> None:
    work.job("j-old", age_days=31, size=100)
    work.job("j-old-failed", "failed", age_days=40)
    work.job("j-recent", age_days=29, size=100)
    work.job("j-old-but-downloaded", age_days=60, size=100, downloaded_days_ago=0.5)
    work.job("j-queued", "queued", size=0)
    work.job("j-running", "running", size=100)  # its folder is being written
    old_features = work.feature("old", 10, age_days=31)
    new_features = work.feature("new", 10, age_days=1)
    report = work.janitor(max_age_s=30 * DAY, max_bytes=None, download_grace_s=DAY).sweep()
    assert report.removed_jobs == 2 and report.removed_features == 1 and report.expired_results == 0
    assert work.store.get("j-old") is None and not work.has_files("j-old") and work.store.get("j-old-failed") is None
    assert sorted(work.forgotten) == ["j-old", "j-old-failed"]
    for kept in ("j-recent", "j-old-but-downloaded", "j-running"):
        assert work.has_files(kept), kept
    assert work.store.get("j-queued").status == "queued"
    assert not old_features.exists() and new_features.exists()
    assert report.freed_bytes == 110 and report.total_bytes == 310


def test_over_the_cap_the_least_recently_used_go_first_and_their_records_say_so(work: Work) -> None:
    work.job("j-a", age_days=5, size=1000)
    work.job("j-b", age_days=4, size=1000, downloaded_days_ago=3.5)  # used after j-c finished
    work.job("j-c", age_days=3.9, size=1000)
    work.job("j-d", age_days=9, size=1000, downloaded_days_ago=0.1)  # the oldest, but just downloaded
    work.job("j-running", "running", size=1000)
    feature = work.feature("f", 500, age_days=4.5)
    report = work.janitor(max_age_s=None, max_bytes=3000, download_grace_s=DAY).sweep()
    # 5500 bytes: j-a (5 d) goes, then the feature (4.5 d), then j-c (3.9 d) -> 3000 <= 3000; j-b stays
    assert not work.has_files("j-a") and not feature.exists() and not work.has_files("j-c")
    assert work.has_files("j-b") and work.has_files("j-d") and work.has_files("j-running")
    assert report.expired_results == 2 and report.removed_features == 1 and report.total_bytes == 3000
    expired = work.store.get("j-a")
    assert expired.status == "succeeded" and expired.expired == NOW  # the record stays and says why
    assert work.store.find_succeeded("k-j-a") is None and work.store.find_succeeded("k-j-b").id == "j-b"
    assert sorted(work.forgotten) == ["j-a", "j-c"]


def test_a_cap_that_only_protected_results_exceed_removes_nothing_of_them(work: Work) -> None:
    work.job("j-downloaded", age_days=2, size=1000, downloaded_days_ago=0.01)
    work.job("j-running", "running", size=1000)
    report = work.janitor(max_age_s=None, max_bytes=10, download_grace_s=DAY).sweep()
    assert work.has_files("j-downloaded") and work.has_files("j-running") and report.total_bytes == 2000


def test_hard_linked_results_count_once_and_free_space_only_with_the_last_link(work: Work) -> None:
    work.job("j-source", age_days=3, size=1000)
    work.job("j-reuse", age_days=1)
    assert work.files.copy("j-source", "j-reuse", 1, {"takes": 1})  # hard links (same file system)
    (work.files.folder / "j-reuse" / "metadata.json").unlink()  # only the take is shared
    assert sum(work.files.usage().values()) == 1000
    report = work.janitor(max_age_s=None, max_bytes=500, download_grace_s=0).sweep()
    assert report.expired_results == 2 and report.freed_bytes == 1000 and report.total_bytes == 0


def test_partial_folders_and_orphans_are_removed(work: Work) -> None:
    work.job("j-failed", "failed", age_days=0, size=100)  # a write that failed half-way
    work.job("j-ok", age_days=0, size=100)
    orphan = work.files.folder / "j-unknown"
    orphan.mkdir()
    (orphan / "take-0.wav").write_bytes(b"x")
    janitor = work.janitor(max_age_s=30 * DAY, max_bytes=None)
    assert janitor.remove_orphans() == 1 and not orphan.exists()
    janitor.sweep()
    assert not work.has_files("j-failed") and work.store.get("j-failed").status == "failed" and work.has_files("j-ok")


def test_the_janitor_thread_sweeps_periodically(work: Work) -> None:
    now = [NOW]
    work.job("j-1", age_days=0, size=10)
    janitor = Janitor(
        RetentionPolicy(max_age_s=DAY, max_bytes=None, interval_s=0.02),
        work.store,
        work.files,
        work.features,
        clock=lambda: now[0],
    )
    janitor.start()
    try:
        time.sleep(0.1)
        assert work.has_files("j-1")
        now[0] += 2 * DAY
        deadline = time.monotonic() + 5
        while work.store.get("j-1") is not None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        janitor.stop()
    assert work.store.get("j-1") is None and not work.has_files("j-1")


def test_policy_refuses_nonsense() -> None:
    for bad in ({"max_age_s": 0}, {"max_bytes": -5}, {"download_grace_s": -1}, {"interval_s": 0}):
        with pytest.raises(ValueError):
            RetentionPolicy(**bad)
