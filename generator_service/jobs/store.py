"""The job store: job records in an embedded SQLite database under the work dir.

Persisted on every status transition (queued, running, terminal) — not on every progress step
(live progress lives on the board). What a dead process left queued or running is read back with
`active()` at start (jobs/recovery.py decides whether each is resumed or failed); retention
(jobs/retention.py) reads `finished()` and removes or expires old jobs. A database written by an
earlier version gains the newer columns when it is opened.
Thread rule: one connection shared by the event loop and the worker thread, serialised by a lock.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from .errors import StorageFull
from .records import ACTIVE, RUNNING, SUCCEEDED, TERMINAL, JobRecord, JobSpec

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    phase TEXT NOT NULL DEFAULT '',
    progress REAL NOT NULL DEFAULT 0,
    error TEXT, hint TEXT, error_id TEXT,
    created REAL NOT NULL, started REAL, finished REAL,
    spec TEXT NOT NULL,
    result TEXT,
    cache_key TEXT
);
CREATE INDEX IF NOT EXISTS jobs_cache_key ON jobs (cache_key, status);
"""
#: Columns added after the first release: (name, declaration) — added to older databases on open.
_ADDED = (
    ("attempts", "INTEGER NOT NULL DEFAULT 0"),
    ("resumed", "INTEGER NOT NULL DEFAULT 0"),
    ("downloaded", "REAL"),
    ("expired", "REAL"),
    ("cancel_requested", "INTEGER NOT NULL DEFAULT 0"),
    ("idempotency_key", "TEXT"),
)
#: Indexes over added columns (created after the columns are).
_INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency_key ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created);
"""
_COLUMNS = (
    "id, status, phase, progress, error, hint, error_id, created, started, finished, spec, result, cache_key, "
    "attempts, resumed, downloaded, expired, cancel_requested, idempotency_key"
)


class FinishedJob(NamedTuple):
    """What retention needs of a finished job."""

    id: str
    status: str
    finished: float
    downloaded: float | None
    expired: float | None

    @property
    def last_used(self) -> float:
        """When it finished or was last downloaded, whichever is later."""
        return max(self.finished, self.downloaded or 0.0)


class JobStore:
    """SQLite-backed persistence of `JobRecord`s."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        present = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for name, declaration in _ADDED:
            if name not in present:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {declaration}")
        self._db.executescript(_INDEXES)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def save(self, record: JobRecord) -> None:
        """Insert or replace the whole record."""
        row = (
            record.id,
            record.status,
            record.phase,
            record.progress,
            record.error,
            record.hint,
            record.error_id,
            record.created,
            record.started,
            record.finished,
            json.dumps(record.spec.to_json()),
            None if record.result is None else json.dumps(record.result),
            record.cache_key,
            record.attempts,
            record.resumed,
            record.downloaded,
            record.expired,
            int(record.cancel_requested),
            record.idempotency_key,
        )
        marks = ", ".join("?" * len(row))
        try:
            with self._lock:
                self._db.execute(f"INSERT OR REPLACE INTO jobs ({_COLUMNS}) VALUES ({marks})", row)
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "full" in str(exc):
                raise StorageFull(f"the job database {self.path} could not be written: {exc}") from exc
            raise

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _record(row)

    def find_succeeded(self, cache_key: str) -> JobRecord | None:
        """The newest succeeded job made with this cache key whose files were not expired."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE cache_key = ? AND status = ? AND expired IS NULL "
                "ORDER BY finished DESC LIMIT 1",
                (cache_key, SUCCEEDED),
            ).fetchone()
        return None if row is None else _record(row)

    def active(self) -> list[JobRecord]:
        """Jobs left queued or running (by a previous process, when called at start): running first,
        then in the order they were submitted."""
        marks = ",".join("?" * len(ACTIVE))
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE status IN ({marks}) ORDER BY status != ?, created",
                (*sorted(ACTIVE), RUNNING),
            ).fetchall()
        return [_record(row) for row in rows]

    def find_by_key(self, idempotency_key: str) -> JobRecord | None:
        """The job a POST with this `Idempotency-Key` created, if it is still kept."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
        return None if row is None else _record(row)

    def newest(self, limit: int, status: str | None = None) -> list[str]:
        """Ids of the newest `limit` jobs (of `status` when given), newest first."""
        where, args = ("WHERE status = ? ", (status,)) if status else ("", ())
        with self._lock:
            rows = self._db.execute(
                f"SELECT id FROM jobs {where}ORDER BY created DESC, id LIMIT ?", (*args, limit)
            ).fetchall()
        return [row[0] for row in rows]

    def finished(self) -> list[FinishedJob]:
        """Every finished (succeeded, failed, cancelled) job, oldest first."""
        marks = ",".join("?" * len(TERMINAL))
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, status, COALESCE(finished, created), downloaded, expired FROM jobs "
                f"WHERE status IN ({marks}) ORDER BY COALESCE(finished, created)",
                tuple(sorted(TERMINAL)),
            ).fetchall()
        return [FinishedJob(*row) for row in rows]

    def mark_downloaded(self, job_id: str, when: float) -> None:
        with self._lock:
            self._db.execute("UPDATE jobs SET downloaded = ? WHERE id = ?", (when, job_id))

    def mark_expired(self, job_id: str, when: float) -> None:
        with self._lock:
            self._db.execute("UPDATE jobs SET expired = ? WHERE id = ?", (when, job_id))

    def delete(self, job_ids: Iterable[str]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM jobs WHERE id = ?", [(i,) for i in job_ids])


def _record(row: tuple) -> JobRecord:
    (
        job_id,
        status,
        phase,
        progress,
        error,
        hint,
        error_id,
        created,
        started,
        finished,
        spec,
        result,
        key,
        attempts,
        resumed,
        downloaded,
        expired,
        cancel_requested,
        idempotency_key,
    ) = row
    return JobRecord(
        id=job_id,
        spec=JobSpec.from_json(json.loads(spec)),
        status=status,
        phase=phase,
        progress=progress,
        error=error,
        hint=hint,
        error_id=error_id,
        created=created,
        started=started,
        finished=finished,
        result=None if result is None else json.loads(result),
        cache_key=key or "",
        attempts=attempts,
        resumed=resumed,
        downloaded=downloaded,
        expired=expired,
        cancel_requested=bool(cancel_requested),
        idempotency_key=idempotency_key,
    )
