"""Files of the contract face (api/contract.py): uploads waiting for a job, the clips of contract
jobs kept until their MP4 is made, the MP4s, and which jobs came through the contract.

- `POST /v1/files` stores an upload in the job service's upload store (one reference) and gives it
  an id `f-...`; it waits there until a `POST /v1/videos` takes it, or `ttl_s` passes. At most
  `max_waiting` uploads wait at once (`QueueFull`, 429, beyond: the same bound as the job queue).
- A job that takes an upload gets a reference of its own (the job service releases it when the job
  ends, as for any upload); the waiting upload's reference becomes the job's *hold*: the clip stays
  until the job's MP4 (clip picture + music, api/mux.py) is written to `results/<job>/movie.mp4` —
  retention measures and removes it with the job's other result files — or, after the job ended,
  until `ttl_s` passes (at once for a job that failed or was cancelled).
- The ledger (`contract.sqlite3` in the work dir) records the jobs that came through the contract,
  so their status keeps the contract's shape (`file_id`, `cancelled` as `failed`) after a restart.
  Waiting uploads do not survive a restart (the upload store removes them at start); the clip of a
  contract job that is resumed does, and is held again by `start()`. Rows of jobs that retention
  removed are dropped by the sweep.
Thread rule: every method is safe from any thread; `movie()` blocks (muxing) — call it from a worker
thread. A sweep runs before each upload is added and every `interval_s` on its own thread between
`start()` and `stop()` (the app's lifespan).
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..jobs.errors import JobNotFinished, JobNotFound, QueueFull
from ..jobs.records import SUCCEEDED
from ..jobs.service import JobService
from ..jobs.uploads import StoredUpload
from .mux import mux_music

logger = logging.getLogger(__name__)

#: Suffix of the file id of a contract job's MP4: `<job id>-mp4`.
MOVIE_SUFFIX = "-mp4"
MOVIE_NAME = "movie.mp4"
REUPLOAD_HINT = (
    "Upload the clip again (POST /v1/files) and submit it; the same clip, prompt and seed give the same music."
)


def movie_file_id(job_id: str) -> str:
    return job_id + MOVIE_SUFFIX


@dataclass(frozen=True)
class Waiting:
    """An upload waiting for a job."""

    upload: StoredUpload
    purpose: str
    filename: str
    created: float


class ContractFiles:
    """See the module docstring."""

    def __init__(
        self, service: JobService, *, ttl_s: float, max_waiting: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.service = service
        self.ttl_s = ttl_s
        self.max_waiting = max_waiting
        self.clock = clock
        self.interval_s = max(1.0, min(60.0, ttl_s / 4))
        self._db = sqlite3.connect(service.work_dir / "contract.sqlite3", check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, file_id TEXT NOT NULL, "
            "video TEXT NOT NULL, created REAL NOT NULL)"
        )
        self._db.commit()
        self._waiting: dict[str, Waiting] = {}
        self._held: dict[str, Path] = {}  # job id -> its clip (one upload reference each)
        self._building: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._resumed = False

    # -- lifecycle -------------------------------------------------------------------------
    def resume(self) -> None:
        """Hold again the clips of contract jobs the job service resumed (once). Call after the job
        service started: its upload store removed what no resumed job uses."""
        if self._resumed:
            return
        self._resumed = True
        for job_id, video in self._ledger():
            try:
                record = self.service.get(job_id)
            except JobNotFound:
                continue
            if not record.terminal and Path(video).is_file():
                self.service.uploads.adopt(Path(video))
                with self._lock:
                    self._held[job_id] = Path(video)

    def start(self) -> None:
        """`resume()`, then sweep every `interval_s` on a thread until `stop()`."""
        self.resume()
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="expotion-contract-files", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the sweeps (files stay: resumed jobs need their clips at the next start)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        with self._lock:
            self._db.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.sweep()
            except (OSError, sqlite3.Error):  # retried at the next interval
                logger.exception("sweep of contract files failed")

    # -- uploads ---------------------------------------------------------------------------
    def add(self, upload: StoredUpload, purpose: str, filename: str) -> str:
        """Keep an upload (its reference is taken over) until a job takes it -> its file id.
        `QueueFull` when `max_waiting` uploads wait already (the caller still owns the upload)."""
        self.sweep()  # expired uploads free their places first
        file_id = "f-" + secrets.token_hex(8)
        with self._lock:
            if len(self._waiting) >= self.max_waiting:
                raise QueueFull(
                    f"{len(self._waiting)} uploaded files are already waiting for a job",
                    "Submit the uploaded files (POST /v1/videos), or wait until unused ones expire.",
                )
            self._waiting[file_id] = Waiting(upload, purpose, filename, self.clock())
        return file_id

    def claim(self, file_id: str) -> Waiting:
        """Take a waiting upload for a job being submitted (`JobNotFound` if there is none); give it
        back with `unclaim` if the submit fails, or to the job with `bind`."""
        with self._lock:
            waiting = self._waiting.pop(file_id, None)
        if waiting is None:
            raise JobNotFound(
                f"no uploaded file {file_id!r} is waiting for a job (unknown, already used, or "
                f"expired after {self.ttl_s:.0f} s)",
                REUPLOAD_HINT,
            )
        return waiting

    def unclaim(self, file_id: str, waiting: Waiting) -> None:
        with self._lock:
            self._waiting[file_id] = waiting

    def bind(self, file_id: str, waiting: Waiting, job_id: str) -> None:
        """The job took the upload: its reference becomes the job's hold; the job is a contract job."""
        with self._lock:
            self._held[job_id] = waiting.upload.path
            self._db.execute(
                "INSERT OR REPLACE INTO jobs (id, file_id, video, created) VALUES (?, ?, ?, ?)",
                (job_id, file_id, str(waiting.upload.path), self.clock()),
            )
            self._db.commit()

    def upload_path(self, file_id: str) -> Path:
        """The bytes of an uploaded file while the service keeps them (waiting, or held for a job)."""
        with self._lock:
            waiting = self._waiting.get(file_id)
            if waiting is not None:
                return waiting.upload.path
            row = self._db.execute("SELECT id FROM jobs WHERE file_id = ?", (file_id,)).fetchone()
            held = self._held.get(row[0]) if row else None
        if held is None or not held.is_file():
            raise JobNotFound(f"no file {file_id!r} is kept by the service", REUPLOAD_HINT)
        return held

    # -- contract jobs ---------------------------------------------------------------------
    def is_contract_job(self, job_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is not None

    def movie(self, job_id: str) -> Path:
        """The MP4 of a succeeded contract job (made on first use) -> its path; `JobNotFound` for an
        unknown job or one whose clip is gone, `JobNotFinished` (409) while it has no music."""
        if not self.is_contract_job(job_id):
            raise JobNotFound(
                f"no file {movie_file_id(job_id)!r}: job {job_id} was not submitted through POST /v1/videos",
                "Use the file_id from the job's status.",
            )
        record = self.service.get(job_id)
        if record.status != SUCCEEDED:
            raise JobNotFinished(f"job {job_id} has no music: it is {record.status}")
        with self._lock:
            lock = self._building.setdefault(job_id, threading.Lock())
        with lock:
            music, _ = self.service.result_file(job_id, 0, download=True)
            out = music.parent / MOVIE_NAME
            if out.is_file():
                return out
            with self._lock:
                clip = self._held.get(job_id)
            if clip is None or not clip.is_file():
                raise JobNotFound(
                    f"the clip of job {job_id} is no longer kept (its MP4 was not fetched within "
                    f"{self.ttl_s:.0f} s of the job's end, or the service restarted)",
                    REUPLOAD_HINT,
                )
            mux_music(clip, music, out)
            self._release_hold(job_id)
        with self._lock:
            self._building.pop(job_id, None)
        return out

    def _release_hold(self, job_id: str) -> None:
        with self._lock:
            clip = self._held.pop(job_id, None)
        if clip is not None:
            self.service.uploads.release(clip)

    # -- expiry ----------------------------------------------------------------------------
    def sweep(self) -> int:
        """Release waiting uploads older than `ttl_s` and the holds of jobs that failed, were
        cancelled, vanished, or succeeded more than `ttl_s` ago -> files released."""
        now = self.clock()
        with self._lock:
            expired = [fid for fid, w in self._waiting.items() if now - w.created > self.ttl_s]
            stale = [self._waiting.pop(fid) for fid in expired]
            held = list(self._held)
        for waiting in stale:
            self.service.uploads.release(waiting.upload.path)
        released = len(stale)
        for job_id in held:
            try:
                record = self.service.get(job_id)
            except JobNotFound:
                record = None
            if record is None or (
                record.terminal and (record.status != SUCCEEDED or now - (record.finished or now) > self.ttl_s)
            ):
                self._release_hold(job_id)
                released += 1
        if released:
            logger.info("contract files: released %d unused upload(s) and clip(s)", released)
        self._forget_removed()
        return released

    def _forget_removed(self) -> None:
        """Drop ledger rows of jobs retention removed."""
        gone = []
        for job_id, _ in self._ledger():
            try:
                self.service.get(job_id)
            except JobNotFound:
                gone.append((job_id,))
        if gone:
            with self._lock:
                self._db.executemany("DELETE FROM jobs WHERE id = ?", gone)
                self._db.commit()

    def _ledger(self) -> list[tuple[str, str]]:
        with self._lock:
            return self._db.execute("SELECT id, video FROM jobs").fetchall()
