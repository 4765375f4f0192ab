"""The job board: live job records of this process, their cancel tokens, and change notices.

Every change goes through the board: it bumps the record's `version`, persists status transitions
to the `JobStore`, wakes threads waiting in `wait_terminal`, and notifies asyncio subscribers
(server-sent events) through `loop.call_soon_threadsafe`. Jobs of earlier processes are read from
the store.
Thread rule: all methods are safe from any thread; records are mutated only under the lock and
handed out as copies.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ..progress import CancelToken
from .errors import JobNotFound
from .records import CANCELLED, CANCELLED_ERROR, CANCELLED_HINT, FAILED, QUEUED, RUNNING, SUCCEEDED, JobRecord
from .store import JobStore

logger = logging.getLogger(__name__)

Waker = tuple[asyncio.AbstractEventLoop, asyncio.Event]


class JobBoard:
    """Live records + persistence + notifications."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self._jobs: dict[str, JobRecord] = {}
        self._tokens: dict[str, CancelToken] = {}
        self._subscribers: dict[str, set[Waker]] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    # -- reading ---------------------------------------------------------------------------
    def get(self, job_id: str) -> JobRecord:
        """A copy of the job's record (live, else stored); `JobNotFound` if there is none."""
        with self._lock:
            live = self._jobs.get(job_id)
            if live is not None:
                return copy.copy(live)
        stored = self.store.get(job_id)
        if stored is None:
            raise JobNotFound(f"no job {job_id!r}")
        return stored

    def token(self, job_id: str) -> CancelToken:
        with self._lock:
            return self._tokens.setdefault(job_id, CancelToken())

    def version(self, job_id: str) -> int:
        with self._lock:
            live = self._jobs.get(job_id)
            return live.version if live is not None else -1

    # -- changing --------------------------------------------------------------------------
    def add(self, record: JobRecord) -> None:
        with self._lock:
            self._jobs[record.id] = record
            self._tokens[record.id] = CancelToken()
        self.store.save(record)
        self._notify(record.id)

    def update(self, job_id: str, *, persist: bool = False, **fields: Any) -> JobRecord:
        """Set fields of a live job -> a copy of the new record (persisted when asked or terminal).

        A persisted change is written before anyone can see it: a client that saw "running" (an
        attempt counted) or an end can rely on it surviving a crash right after."""
        with self._lock:
            record = self._jobs[job_id]
            snapshot = copy.copy(record)
            for name, value in fields.items():
                setattr(snapshot, name, value)
            snapshot.version += 1
            if persist or snapshot.terminal:
                self.store.save(snapshot)
            for name, value in fields.items():
                setattr(record, name, value)
            record.version = snapshot.version
            self._changed.notify_all()
        self._notify(job_id)
        return snapshot

    def running(self, job_id: str, phase: str, **fields: Any) -> JobRecord:
        """The job was taken and prepares to run (phase `load_model` or `download`): running, no
        attempt counted yet — a crash now did not run the job's own work (persisted on the change
        from queued, so a status seen running survives a crash)."""
        with self._lock:
            queued = self._jobs[job_id].status == QUEUED
        extra: dict[str, Any] = {"status": RUNNING, "started": time.time()} if queued else {}
        return self.update(job_id, persist=queued, phase=phase, **extra, **fields)

    def start(self, job_id: str) -> JobRecord:
        """The job's own work begins (the model is loaded): running, one attempt counted (persisted
        first: a crash mid-run is counted)."""
        with self._lock:
            record = self._jobs[job_id]
            attempts, started = record.attempts + 1, record.started or time.time()
        return self.update(
            job_id, persist=True, status=RUNNING, started=started, phase="decode", progress=0.0, attempts=attempts
        )

    def hand_back(self, job_id: str, *, counted: bool = True) -> JobRecord:
        """A clean shutdown stopped the running job: it is queued again for the next start, and this
        run does not count as an attempt (it did not fail; `counted`: whether `start` counted it)."""
        with self._lock:
            attempts = max(0, self._jobs[job_id].attempts - int(counted))
        return self.update(
            job_id, persist=True, status=QUEUED, started=None, phase="", progress=0.0, eta_s=None, attempts=attempts
        )

    def request_cancel(self, job_id: str) -> JobRecord:
        """Record a DELETE before acting on it (persisted: the job ends cancelled even if the service
        stops or crashes before the run noticed)."""
        return self.update(job_id, persist=True, cancel_requested=True)

    def succeed(self, job_id: str, result: dict[str, Any]) -> JobRecord:
        return self.update(
            job_id, status=SUCCEEDED, result=result, phase="", progress=1.0, eta_s=0.0, finished=time.time()
        )

    def fail(self, job_id: str, error: str, hint: str, error_id: str | None = None) -> JobRecord:
        return self.update(
            job_id, status=FAILED, error=error, hint=hint, error_id=error_id, phase="", eta_s=None, finished=time.time()
        )

    def cancelled(self, job_id: str) -> JobRecord:
        return self.update(
            job_id,
            status=CANCELLED,
            phase="",
            eta_s=None,
            finished=time.time(),
            error=CANCELLED_ERROR,
            hint=CANCELLED_HINT,
        )

    def wait_terminal(self, job_id: str, timeout: float) -> JobRecord:
        """Block until the job is finished or `timeout` passes -> its record then."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while (live := self._jobs.get(job_id)) is not None and not live.terminal:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
        return self.get(job_id)

    def forget(self, job_id: str) -> None:
        """Drop a finished job from memory (retention removed or expired it; the store answers now)."""
        with self._lock:
            live = self._jobs.get(job_id)
            if live is not None and live.terminal:
                del self._jobs[job_id]
                self._tokens.pop(job_id, None)

    def counts(self) -> dict[str, int]:
        with self._lock:
            out: dict[str, int] = {}
            for record in self._jobs.values():
                out[record.status] = out.get(record.status, 0) + 1
            return out

    def wake_all(self) -> None:
        """Wake every subscriber (the service is about to stop: streams say so and end)."""
        with self._lock:
            job_ids = list(self._subscribers)
        for job_id in job_ids:
            self._notify(job_id)

    def queued_ids(self) -> list[str]:
        with self._lock:
            return [r.id for r in self._jobs.values() if r.status == QUEUED]

    # -- subscribers (server-sent events) --------------------------------------------------
    def subscribe(self, job_id: str) -> tuple[asyncio.Event, Callable[[], None]]:
        """An asyncio event set on every change of the job, and the function to unsubscribe."""
        waker: Waker = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._subscribers.setdefault(job_id, set()).add(waker)

        def unsubscribe() -> None:
            with self._lock:
                subs = self._subscribers.get(job_id)
                if subs is not None:
                    subs.discard(waker)
                    if not subs:
                        del self._subscribers[job_id]

        return waker[1], unsubscribe

    def _notify(self, job_id: str) -> None:
        with self._lock:
            wakers = list(self._subscribers.get(job_id, ()))
        for loop, event in wakers:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the subscriber's loop is closed: nobody is listening any more
                logger.debug("dropping a subscriber of %s whose event loop closed", job_id)
