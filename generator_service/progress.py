"""The one progress/cancel shape used by every long piece of work.

Progress is a callable `(phase, done, total)`: `phase` names the step ("decode", "features",
"generate", ...), `done` of `total` units are finished. Cancellation is a `CancelToken` that long work
checks at every step (each decoded frame, each feature frame, each generation step) through
`token.check()`, which raises `Cancelled`. Both are passed explicitly; there are no global flags.
Thread rule: a token may be cancelled from any thread; the callback runs on the working thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
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
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self.reason = "cancelled"

    def cancel(self, reason: str = "cancelled") -> None:
        with self._lock:
            self.reason = reason
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback()` once, on the cancelling thread, when the token is cancelled (at once if it
        already is) -> a function that withdraws it. For work that runs elsewhere and must be told."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return lambda: self._withdraw(callback)
        callback()
        return lambda: None

    def _withdraw(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise `Cancelled` if cancellation was requested."""
        if self._event.is_set():
            raise Cancelled(f"work stopped: {self.reason}")
