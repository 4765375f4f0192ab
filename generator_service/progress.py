"""The one progress/cancel shape used by every long piece of work.

Progress is a callable `(phase, done, total)`: `phase` names the step ("decode", "features",
"generate", ...), `done` of `total` units are finished. Cancellation is a `CancelToken` that long work
checks at every step (each decoded frame, each feature frame, each generation step) through
`token.check()`, which raises `Cancelled`. Both are passed explicitly; there are no global flags.
Thread rule: a token may be cancelled from any thread; the callback runs on the working thread.
"""

from __future__ import annotations

import threading
from typing import Protocol

from .errors import Cancelled


class ProgressCallback(Protocol):
    def __call__(self, phase: str, done: int, total: int) -> None: ...


def no_progress(phase: str, done: int, total: int) -> None:
    """A progress callback that ignores everything."""


class CancelToken:
    """A thread-safe cancel flag that long work polls with `check()`."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = "cancelled"

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise `Cancelled` if cancellation was requested."""
        if self._event.is_set():
            raise Cancelled(f"work stopped: {self.reason}")

