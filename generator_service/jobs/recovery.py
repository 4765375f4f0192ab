"""Recovery at start: what a previous process left queued or running is resumed, or failed with a reason.

A job is deterministic given its inputs and seed, so running it again is safe. Each job left
queued or running is queued again (`resumed` + 1) when
- its attempts (runs started and not handed back by a clean shutdown) are fewer than `max_attempts`
  — a job found running after a crash has used one; one that crashes the service every time
  therefore fails after `max_attempts` runs instead of taking the service down on every start;
- its video (and melody temp, if any) is still there: a service-owned upload still in the upload store, or a path-mode file
  still inside the media root with the content it had when the job was submitted.
Otherwise it is failed and saved, with an error saying which of the two it was. A job whose
cancel was requested (a DELETE answered before the stop) ends cancelled.
Thread rule: runs once at start, before the worker and the HTTP layer use the store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from .errors import InputRejected
from .media_root import confine
from .records import CANCELLED, CANCELLED_ERROR, CANCELLED_HINT, FAILED, QUEUED, RUNNING, JobRecord, JobSpec
from .store import JobStore

logger = logging.getLogger(__name__)

INTERRUPTED_HINT = "Submit the job again; finished results were kept."
CRASH_HINT = (
    "The job may crash the service (e.g. memory exhausted in a native library): try a shorter range, "
    "fewer variants or a smaller model, and read the service log of those runs."
)


def input_problem(spec: JobSpec, media_root: Path | None, content_hash: Callable[[Path], str]) -> str | None:
    """Why the job's video or melody temp can no longer be used, or None when both can."""
    for file, what in zip(spec.inputs(), ("video", "melody temp"), strict=False):
        if file.uploaded:
            if not Path(file.path).is_file():
                return f"its uploaded {what} is no longer in the work dir"
            continue
        try:
            real = confine(media_root, file.path)
        except InputRejected as exc:
            return f"its {what} cannot be used any more ({exc.message})"
        if content_hash(real) != file.sha256:
            return f"its {what} {file.path} changed since the job was submitted"
    return None


def recover(store: JobStore, *, max_attempts: int, problem: Callable[[JobSpec], str | None]) -> list[JobRecord]:
    """Decide every job left queued/running -> the records to queue again (in their old order)."""
    resumed: list[JobRecord] = []
    for record in store.active():
        if record.cancel_requested:  # a DELETE answered before the stop: it ends cancelled, as it was told
            record.status, record.phase, record.eta_s, record.finished = CANCELLED, "", None, time.time()
            record.error, record.hint = CANCELLED_ERROR, CANCELLED_HINT
            store.save(record)
            logger.info("job %s: cancelled (its cancel was requested before the service stopped)", record.id)
            continue
        reason = _refusal(record, max_attempts, problem)
        if reason is None:
            record.status, record.phase, record.progress, record.eta_s = QUEUED, "", 0.0, None
            record.started, record.resumed = None, record.resumed + 1
            resumed.append(record)
            continue
        error, hint = reason
        record.status, record.phase, record.eta_s, record.finished = FAILED, "", None, time.time()
        record.error, record.hint = error, hint
        store.save(record)
        logger.warning("job %s was not resumed: %s", record.id, error)
    if resumed:
        logger.warning("resuming %d job(s) the last run of the service left unfinished", len(resumed))
    return resumed


def _refusal(record: JobRecord, max_attempts: int, problem: Callable[[JobSpec], str | None]) -> tuple[str, str] | None:
    was = "running" if record.status == RUNNING else "queued"
    if record.attempts >= max_attempts:
        return (
            f"the service stopped while running this job {record.attempts} time(s); after {max_attempts} "
            f"attempt(s) it is not run again",
            CRASH_HINT,
        )
    missing = problem(record.spec)
    if missing is not None:
        return f"interrupted: the service stopped while this job was {was} and {missing}; resubmit", INTERRUPTED_HINT
    return None
