"""SIGINT/SIGTERM during a blocking (headless) run: noted, so the run cancels its jobs on the service,
keeps and saves what it placed, and then lets the signal do what it would have done.

`SignalStop` is a context manager installed around the blocking part of a batch. While active, the
two signals only set `signum`; the waiting loops ask `stop()` between polls (at most one poll
interval later) and cancel their jobs with `DELETE /v1/jobs/{id}`. `resend()` afterwards delivers the
signal again to the handler that was there before (Python's KeyboardInterrupt for SIGINT, process
termination for an unhandled SIGTERM). Signal handlers can only be set on the main thread; elsewhere
the context manager does nothing. Imports no `bpy`.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType, TracebackType
from typing import Any

log = logging.getLogger(__name__)
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SignalStop:
    """Turns SIGINT/SIGTERM into a stop request while active; callable as `should_cancel`."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __call__(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def _note(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            log.warning("%s received: cancelling the Expotion jobs of this run", signal.Signals(signum).name)
        self.signum = signum

    def __enter__(self) -> SignalStop:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._note)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous.clear()

    def resend(self) -> None:
        """After `__exit__`: deliver the noted signal to the previous handler (no-op if none came)."""
        if self.signum is not None and threading.current_thread() is threading.main_thread():
            signal.raise_signal(self.signum)
