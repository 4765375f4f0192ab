"""The job service: the one object the HTTP layer talks to about jobs.

Owns the work dir layout (`jobs.sqlite3`, `uploads/`, `results/<job id>/`, `features/`, `staging/`:
private copies of path-mode files on systems without /proc/self/fd), the store,
board, queue, caches, worker, janitor (retention) and model holder, and the job lifecycle: submit (an
identical earlier result is reused at once, without a queue slot), cancel (queued: removed; running:
its token is set and the call waits briefly for the worker to stop), results, start/stop. At start,
jobs a previous process left queued or running are resumed (jobs/recovery.py) and a retention sweep
runs; on a clean stop, queued jobs and the running one stay queued for the next start.
Thread rule: every method is safe from any thread; blocking ones (`submit`, `cancel`) belong in
a thread pool when called from async code.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..hashing import ContentHashes
from ..pipeline.feature_cache import FeatureCache
from .board import JobBoard
from .errors import IdempotencyKeyReused, JobNotFinished, JobNotFound, QueueFull
from .execution import Executor
from .holder import ModelHolder
from .media_root import open_confined
from .queue import JobQueue
from .records import SUCCEEDED, JobRecord, JobSpec, new_job_id
from .recovery import input_problem, recover
from .results import ResultCache, ResultFiles
from .retention import Janitor, RetentionPolicy
from .store import JobStore
from .uploads import UploadStore
from .work_dir import check_work_dir
from .worker import Worker

logger = logging.getLogger(__name__)

RESUBMIT_HINT = "Resubmit the job: the same video, parameters and seed give the same music."
#: Files that mark a folder under the adapters dir as an adapter.
ADAPTER_MARKERS = ("expotion_config.json", "adapter_config.json")


class JobService:
    """Jobs, their queue and worker, results and caches under one work dir."""

    def __init__(
        self,
        work_dir: Path,
        holder: ModelHolder,
        *,
        queue_size: int = 8,
        adapters_dir: Path | None = None,
        media_root: Path | None = None,
        max_attempts: int = 3,
        retention: RetentionPolicy | None = None,
        executor: Executor | None = None,
        slots: int = 1,
    ) -> None:
        self.work_dir = Path(work_dir)
        check_work_dir(self.work_dir)  # refuse to start on a folder that cannot keep what it accepts
        self.store = JobStore(self.work_dir / "jobs.sqlite3")
        self.board = JobBoard(self.store)
        self.queue = JobQueue(queue_size)
        self.files = ResultFiles(self.work_dir / "results")
        self.results = ResultCache(self.store, self.files)
        self.uploads = UploadStore(self.work_dir / "uploads")
        self.hashes = ContentHashes()
        self.features = FeatureCache(self.work_dir / "features", self.hashes)
        if holder.feature_cache is None:
            holder.feature_cache = self.features
        self.holder = holder
        self.adapters_dir = adapters_dir
        #: Resolved once: path mode serves the folder the configured path named when the service started.
        self.media_root = None if media_root is None else Path(os.path.realpath(media_root))
        self.staging = self.work_dir / "staging"
        self.max_attempts = max_attempts
        self.janitor = Janitor(
            retention or RetentionPolicy(), self.store, self.files, self.features.folder, forget=self.board.forget
        )
        self.worker = Worker(
            self.board,
            self.queue,
            holder,
            self.files,
            self.results,
            adapters=self.adapters,
            release=self.release,
            open_video=lambda spec: self.open_video(spec.video, spec.video_sha256, spec.uploaded),
            open_input=lambda file: self.open_video(file.path, file.sha256, file.uploaded, field="params.melody_path"),
            executor=executor,
            slots=slots,
            max_attempts=max_attempts,
        )
        self._submit_lock = threading.Lock()
        self._started = False
        self.stopping = False
        #: Set when this process is about to stop (`drain`): event streams say so and end.
        self.draining = False
        #: This process's id in event ids (`<epoch>-<version>`): an id from an earlier process
        #: never matches, so a client reconnecting after a restart gets the current state at once.
        self.epoch = secrets.token_hex(4)

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        return self._started

    def start(self) -> None:
        """Resume what a previous process left, sweep old files, start the worker (idempotent)."""
        if self._started:
            return
        self._started = True
        resumed = recover(
            self.store,
            max_attempts=self.max_attempts,
            problem=lambda spec: input_problem(spec, self.media_root, self.hashes),
        )
        self.uploads.reset(keep=[Path(f.path) for r in resumed for f in r.spec.inputs() if f.uploaded])
        shutil.rmtree(self.staging, ignore_errors=True)  # private copies a dead process left
        self.janitor.remove_orphans()
        self.janitor.sweep()
        for record in resumed:
            self.board.add(record)
            self.queue.put(record.id, over_limit=True)  # they held their slots before the restart
        self.worker.start()
        self.janitor.start()

    def drain(self) -> None:
        """The process is about to stop: every event stream sends `shutdown` with the job's state and
        ends now, so the server's graceful stop is not held up by them (idempotent)."""
        self.draining = True
        self.board.wake_all()

    def stop(self) -> None:
        """Stop the worker (a running job is handed back: queued again) and close the store;
        queued jobs stay queued for the next start."""
        if not self._started or self.stopping:
            return
        self.stopping = True
        self.drain()
        self.janitor.stop()
        self.worker.stop()
        for job_id in self.board.queued_ids():
            self.board.token(job_id).cancel("service shutting down")
        self.store.close()

    # -- jobs ------------------------------------------------------------------------------
    def submit(self, spec: JobSpec, idempotency_key: str | None = None) -> JobRecord:
        """Queue a job (or finish it at once from an identical earlier result) -> its record.

        With an `idempotency_key` that already names a job, that job is returned (the caller's
        upload is released) when the request is the same, else `IdempotencyKeyReused`.
        Raises `QueueFull` when no slot is free; the caller still owns `spec.video` then.
        """
        from ..pipeline.features import FEATURE_SPEC

        record = JobRecord(new_job_id(), spec, cache_key=spec.cache_key(f"{FEATURE_SPEC.name}/{FEATURE_SPEC.version}"))
        record.idempotency_key = idempotency_key
        with self._submit_lock:  # one job per key, also for two requests racing with it
            earlier = self.store.find_by_key(idempotency_key) if idempotency_key else None
            if earlier is not None:
                if earlier.cache_key != record.cache_key:
                    raise IdempotencyKeyReused(
                        f"the Idempotency-Key {idempotency_key!r} already names job {earlier.id}, made from "
                        "a different request (another video, range, parameters or seed)"
                    )
                self.release(spec)
                return self.board.get(earlier.id)
            reused = self.results.reuse(record.id, record.cache_key)
            if reused is not None:
                record.status, record.result, record.progress, record.finished = SUCCEEDED, reused, 1.0, record.created
                self.board.add(record)
                self.release(spec)
                return self.board.get(record.id)
            if self.queue_depth() >= self.queue.limit:
                raise QueueFull(f"the job queue is full ({self.queue.limit} jobs waiting)")
            self.board.add(record)
            self.queue.put(record.id)
        return self.board.get(record.id)

    def newest(self, limit: int, status: str | None = None) -> list[JobRecord]:
        """The newest `limit` jobs (of `status` when given), newest first."""
        return [self.board.get(job_id) for job_id in self.store.newest(limit, status)]

    def get(self, job_id: str) -> JobRecord:
        return self.board.get(job_id)

    def cancel(self, job_id: str, wait_s: float = 5.0) -> JobRecord:
        """Cancel a queued or running job -> its record afterwards (a finished job is returned as is)."""
        record = self.board.get(job_id)
        if record.terminal:
            return record
        if self.queue.remove(job_id):
            self.board.cancelled(job_id)
            self.release(record.spec)
            return self.board.get(job_id)
        self.board.request_cancel(job_id)  # first: the job ends cancelled even if the service stops now
        self.board.token(job_id).cancel()
        return self.board.wait_terminal(job_id, wait_s)

    def result_file(self, job_id: str, take: int, *, download: bool = False) -> tuple[Path, dict[str, Any]]:
        """The WAV of take `take` and the result metadata; `JobNotFinished` / `JobNotFound`.
        `download=True` records the download (retention keeps recently downloaded results)."""
        record = self.board.get(job_id)
        if record.status != SUCCEEDED or record.result is None:
            raise JobNotFinished(f"job {job_id} has no result: it is {record.status}")
        takes = int(record.result.get("takes", 1))
        if not 0 <= take < takes:
            raise JobNotFound(
                f"job {job_id} has no take {take}: it has takes 0..{takes - 1}",
                "Ask for a take between 0 and takes - 1.",
            )
        if record.expired is not None:
            raise JobNotFound(
                f"the result files of job {job_id} were removed to keep the service's storage under "
                "its cap (max_storage_mb)",
                RESUBMIT_HINT,
            )
        if download:
            self.store.mark_downloaded(job_id, time.time())
        path = self.files.take_path(job_id, take)
        if not path.is_file():
            raise JobNotFound(
                f"the result file of job {job_id} take {take} is missing from the work dir", RESUBMIT_HINT
            )
        return path, record.result

    @contextmanager
    def open_video(self, video: str, sha256: str, uploaded: bool, field: str = "params.path") -> Iterator[Path]:
        """The path to read a job's video (or other input file) from while the block runs. An upload
        is the service's own file; a path-mode file is opened once and checked again — still inside
        the media root, still the content hashed at submit (`MediaChanged` otherwise) — and read
        through that open file."""
        if uploaded:
            yield Path(video)
            return
        with open_confined(
            self.media_root, video, self.hashes, expected_sha256=sha256, scratch=self.staging, field=field
        ) as opened:
            yield opened.readable

    def release(self, spec: JobSpec) -> None:
        """The job no longer needs its uploaded video and melody temp."""
        for file in spec.inputs():
            if file.uploaded:
                self.uploads.release(Path(file.path))

    # -- facts -----------------------------------------------------------------------------
    def adapters(self) -> dict[str, str]:
        """Adapters found under the adapters dir: name -> folder."""
        root = self.adapters_dir
        if root is None or not root.is_dir():
            return {}
        return {
            p.name: str(p)
            for p in sorted(root.iterdir())
            if p.is_dir() and any((p / m).is_file() for m in ADAPTER_MARKERS)
        }

    def queue_depth(self) -> int:
        """Jobs waiting: in the queue, or taken by a worker slot and not yet started on a model."""
        return self.queue.depth() + self.worker.waiting
