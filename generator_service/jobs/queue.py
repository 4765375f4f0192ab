"""The bounded queue of job ids waiting for the one worker (first in, first out).

A full queue raises `QueueFull` at once (the HTTP layer answers 429); a queued job can be removed
when it is cancelled, which frees its slot. The running job does not count towards the limit.
Thread rule: safe from any thread; `take` blocks the worker until a job arrives or the timeout.
"""

from __future__ import annotations

import threading
from collections import deque

from .errors import QueueFull


class JobQueue:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"queue limit {limit} must be at least 1")
        self.limit = limit
        self._items: deque[str] = deque()
        self._cond = threading.Condition()
        self._closed = False

    def put(self, job_id: str, *, over_limit: bool = False) -> None:
        """Append a job; `QueueFull` when the queue is full, unless `over_limit` (jobs resumed at
        start, which held their slots before; a lowered limit applies to new jobs only)."""
        with self._cond:
            if len(self._items) >= self.limit and not over_limit:
                raise QueueFull(f"the job queue is full ({self.limit} jobs waiting)")
            self._items.append(job_id)
            self._cond.notify()

    def take(self, timeout: float) -> str | None:
        """The next job id, or None after `timeout` seconds (or once closed)."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if self._closed or not self._items:
                return None
            return self._items.popleft()

    def remove(self, job_id: str) -> bool:
        """Take a waiting job out of the queue -> whether it was waiting."""
        with self._cond:
            try:
                self._items.remove(job_id)
            except ValueError:
                return False
            return True

    def depth(self) -> int:
        with self._cond:
            return len(self._items)

    def close(self) -> None:
        """Wake the worker and make every later `take` return None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
