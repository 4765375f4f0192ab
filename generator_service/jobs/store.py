"""The job store: job records in an embedded SQLite database under the work dir.

Persisted on every status transition (queued, running, terminal) — not on every progress step
(live progress lives on the board). On start, `recover_interrupted` turns jobs a dead process left queued or running
into failed ones ("interrupted, resubmit"), so no job silently vanishes.
Thread rule: one connection shared by the event loop and the worker thread, serialised by a lock.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from pathlib import Path

from .records import ACTIVE, FAILED, SUCCEEDED, JobRecord, JobSpec

logger = logging.getLogger(__name__)

INTERRUPTED = "interrupted: the service stopped before this job finished; resubmit"
INTERRUPTED_HINT = "Submit the job again; finished results were kept."

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
_COLUMNS = "id, status, phase, progress, error, hint, error_id, created, started, finished, spec, result, cache_key"


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

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def save(self, record: JobRecord) -> None:
        """Insert or replace the whole record."""
        row = (
            record.id, record.status, record.phase, record.progress, record.error, record.hint,
            record.error_id, record.created, record.started, record.finished,
            json.dumps(record.spec.to_json()), None if record.result is None else json.dumps(record.result),
            record.cache_key,
        )
        with self._lock:
            self._db.execute(f"INSERT OR REPLACE INTO jobs ({_COLUMNS}) VALUES "
                             f"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _record(row)

    def find_succeeded(self, cache_key: str) -> JobRecord | None:
        """The newest succeeded job made with this cache key."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE cache_key = ? AND status = ? ORDER BY finished DESC LIMIT 1",
                (cache_key, SUCCEEDED),
            ).fetchone()
        return None if row is None else _record(row)

    def recover_interrupted(self) -> int:
        """Mark jobs left queued/running by a previous process as failed -> how many."""
        marks = ",".join("?" * len(ACTIVE))
        with self._lock:
            cur = self._db.execute(
                f"UPDATE jobs SET status = ?, error = ?, hint = ?, finished = ?, phase = '' WHERE status IN ({marks})",
                (FAILED, INTERRUPTED, INTERRUPTED_HINT, time.time(), *sorted(ACTIVE)),
            )
        if cur.rowcount:
            logger.warning("%d job(s) were interrupted by the last shutdown and are marked failed", cur.rowcount)
        return cur.rowcount


def _record(row: tuple) -> JobRecord:
    (job_id, status, phase, progress, error, hint, error_id, created, started, finished, spec, result, key) = row
    return JobRecord(
        id=job_id, spec=JobSpec.from_json(json.loads(spec)), status=status, phase=phase, progress=progress,
        error=error, hint=hint, error_id=error_id, created=created, started=started, finished=finished,
        result=None if result is None else json.loads(result), cache_key=key or "",
    )
