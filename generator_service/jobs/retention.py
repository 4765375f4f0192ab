"""Retention: finished jobs, their result files and the feature cache do not grow forever.

A sweep (at start, then every `interval_s` on the janitor thread) applies a `RetentionPolicy`:
1. folders of jobs that did not succeed (partial writes) or whose files already expired are removed;
2. age: a finished job last used (finished or downloaded) more than `max_age_s` ago is removed with
   its files — its id answers 404 afterwards; feature cache entries unused that long go too;
3. size: while result files + feature cache exceed `max_bytes`, the least recently used go first:
   a feature entry is deleted, a result's files are removed and its record marked `expired` (its
   status stays, downloading it answers 404 saying why).
Never removed: anything of a queued or running job (only finished jobs are considered) and the
result of a job downloaded less than `download_grace_s` ago. A sweep costs one query and one
`stat` per file. `remove_orphans()` (at start only: nothing can be mid-write then) removes result
folders that belong to no job.
Thread rule: `sweep()` may run on any thread; the janitor thread is the only periodic caller.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .records import SUCCEEDED
from .results import ResultFiles
from .store import FinishedJob, JobStore

logger = logging.getLogger(__name__)

DAY = 86_400.0


@dataclass(frozen=True)
class RetentionPolicy:
    """What the service keeps (the service settings `retention_days`, `max_storage_mb`,
    `download_grace_s`, `cleanup_interval_s`)."""

    #: Finished jobs and their files are removed this long after their last use (None: kept forever).
    max_age_s: float | None = 30 * DAY
    #: Cap on result files + feature cache, bytes (None: no cap); least recently used go first.
    max_bytes: int | None = 10 * 2**30
    #: A result downloaded less than this long ago is never removed.
    download_grace_s: float = DAY
    #: Seconds between sweeps on the janitor thread.
    interval_s: float = 600.0

    def __post_init__(self) -> None:
        if self.max_age_s is not None and self.max_age_s <= 0:
            raise ValueError(f"max_age_s {self.max_age_s} must be > 0 (or None: keep forever)")
        if self.max_bytes is not None and self.max_bytes <= 0:
            raise ValueError(f"max_bytes {self.max_bytes} must be > 0 (or None: no cap)")
        if self.download_grace_s < 0 or self.interval_s <= 0:
            raise ValueError("download_grace_s must be >= 0 and interval_s > 0")


@dataclass
class Sweep:
    """What one sweep did."""

    removed_jobs: int = 0
    expired_results: int = 0
    removed_features: int = 0
    freed_bytes: int = 0
    #: Bytes of result files + feature cache after the sweep.
    total_bytes: int = 0


class Janitor:
    """Applies the policy to the store, the result files and the feature cache folder."""

    def __init__(
        self,
        policy: RetentionPolicy,
        store: JobStore,
        files: ResultFiles,
        features: Path,
        *,
        forget: Callable[[str], None] = lambda job_id: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy
        self.store, self.files, self.features = store, files, features
        self.forget = forget
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the janitor thread ----------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="expotion-janitor", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.policy.interval_s):
            try:
                self.sweep()
            except (OSError, sqlite3.Error):  # a failed sweep is retried at the next interval
                logger.exception("retention sweep failed")

    # -- sweeps ----------------------------------------------------------------------------
    def remove_orphans(self) -> int:
        """Remove result folders of jobs the store does not know (call at start only)."""
        removed = 0
        for job_id in self.files.usage():
            if self.store.get(job_id) is None:
                self.files.remove(job_id)
                removed += 1
        if removed:
            logger.info("removed %d result folder(s) that belonged to no job", removed)
        partials = self.files.remove_partials()
        if partials:
            logger.info("removed %d partial result file(s) a stopped write left", partials)
        return removed

    def sweep(self) -> Sweep:
        now = self.clock()
        jobs = {job.id: job for job in self.store.finished()}
        usage = self.files.usage()
        features = self._feature_files()
        report = Sweep(total_bytes=sum(usage.values()) + sum(size for size, _ in features.values()))
        for job_id in usage:
            if job_id in jobs and not self._keeps_files(jobs[job_id]):
                self._free(report, self.files.remove(job_id))
        max_age = self.policy.max_age_s
        if max_age is not None:
            old = [job for job in jobs.values() if now - job.last_used > max_age and not self._protected(job, now)]
            self._remove_jobs(old, report)
            for job in old:
                del jobs[job.id]
            for path, (_, used) in list(features.items()):
                if now - used > max_age:
                    self._remove_feature(path, features, report)
        cap = self.policy.max_bytes
        if cap is not None and report.total_bytes > cap:
            self._shrink(cap, [job for job in jobs.values() if job.id in usage], features, now, report)
        if report.removed_jobs or report.expired_results or report.removed_features:
            logger.info(
                "retention: removed %d job(s), expired %d result(s), %d feature file(s); freed %.1f MiB, %.1f MiB kept",
                report.removed_jobs,
                report.expired_results,
                report.removed_features,
                report.freed_bytes / 2**20,
                report.total_bytes / 2**20,
            )
        return report

    def _keeps_files(self, job: FinishedJob) -> bool:
        return job.status == SUCCEEDED and job.expired is None

    def _protected(self, job: FinishedJob, now: float) -> bool:
        return job.downloaded is not None and now - job.downloaded < self.policy.download_grace_s

    @staticmethod
    def _free(report: Sweep, size: int) -> None:
        report.freed_bytes += size
        report.total_bytes -= size

    def _remove_jobs(self, old: list[FinishedJob], report: Sweep) -> None:
        """Remove finished jobs: files, records, and their live copies on the board."""
        for job in old:
            self._free(report, self.files.remove(job.id))
        self.store.delete(job.id for job in old)
        for job in old:
            self.forget(job.id)
        report.removed_jobs += len(old)

    def _remove_feature(self, path: Path, features: dict[Path, tuple[int, float]], report: Sweep) -> None:
        size, _ = features.pop(path)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        report.removed_features += 1
        self._free(report, size)

    def _shrink(
        self,
        cap: int,
        with_files: list[FinishedJob],
        features: dict[Path, tuple[int, float]],
        now: float,
        report: Sweep,
    ) -> None:
        """Remove the least recently used feature entries and results until under the cap."""
        candidates: list[tuple[float, str | Path]] = [(used, path) for path, (_, used) in features.items()]
        candidates += [
            (job.last_used, job.id) for job in with_files if self._keeps_files(job) and not self._protected(job, now)
        ]
        for _, item in sorted(candidates, key=lambda c: c[0]):
            if report.total_bytes <= cap:
                return
            if isinstance(item, Path):
                self._remove_feature(item, features, report)
                continue
            self._free(report, self.files.remove(item))
            self.store.mark_expired(item, now)
            self.forget(item)
            report.expired_results += 1
        if report.total_bytes > cap:
            logger.warning(
                "retention: %.1f MiB of results and features remain over the cap of %.1f MiB (the rest "
                "belongs to queued or running jobs, or to recently downloaded results)",
                report.total_bytes / 2**20,
                cap / 2**20,
            )

    def _feature_files(self) -> dict[Path, tuple[int, float]]:
        """Feature cache entries -> (bytes, last use)."""
        out: dict[Path, tuple[int, float]] = {}
        if not self.features.is_dir():
            return out
        for entry in os.scandir(self.features):
            if entry.name.endswith(".npz"):
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                out[Path(entry.path)] = (st.st_size, st.st_mtime)
        return out
