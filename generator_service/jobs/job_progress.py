"""Turns the pipeline's `(phase, done, total)` calls into a job's overall progress and ETA.

Each job knows its phases in advance (features and the beat lock only when used); each phase owns a
share of 0..1. The ETA extrapolates the time spent so far. Reports are throttled so a fast model
(thousands of steps per second) does not flood the board: a report is passed on when the phase
changes, the job finishes a phase, or at least `min_interval_s` passed since the last one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Relative share of each phase in a job's progress.
WEIGHTS = {
    "decode": 0.02,
    "features": 0.25,
    "prepare": 0.02,  # rounding int8 weights, the first time a set of weights is used (else skipped)
    "generate": 0.61,
    "decode_audio": 0.07,
    "lock": 0.03,
    "write": 0.03,
}


class Throttle:
    """Decides which `(phase, done, total)` reports to pass on: a new phase, a finished phase, or at
    least `min_interval_s` since the last one passed on. (A Ray generator replica uses it before
    sending reports to the ingress; `JobProgress` before touching the board.)"""

    def __init__(self, min_interval_s: float = 0.05, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._min_interval = min_interval_s
        self._last_phase = ""
        self._last_report = float("-inf")

    def due(self, phase: str, done: int, total: int) -> bool:
        now = self._clock()
        if not (phase != self._last_phase or done >= total or now - self._last_report >= self._min_interval):
            return False
        self._last_phase, self._last_report = phase, now
        return True


class JobProgress:
    """A `(phase, done, total)` callback that reports `(phase, progress, eta_s)` to `sink`."""

    def __init__(
        self,
        sink: Callable[[str, float, float | None], object],
        *,
        features: bool,
        lock: bool = False,
        min_interval_s: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        phases = (
            ["decode"]
            + (["features"] if features else [])
            + ["prepare", "generate", "decode_audio"]
            + (["lock"] if lock else [])
            + ["write"]
        )
        total = sum(WEIGHTS[p] for p in phases)
        self._offsets: dict[str, tuple[float, float]] = {}
        acc = 0.0
        for p in phases:
            share = WEIGHTS[p] / total
            self._offsets[p] = (acc, share)
            acc += share
        self._sink = sink
        self._clock = clock
        self._started = clock()
        self._throttle = Throttle(min_interval_s, clock)

    def fraction(self, phase: str, done: int, total: int) -> float:
        offset, share = self._offsets.get(phase, (0.0, 0.0))
        part = min(1.0, done / total) if total > 0 else 0.0
        return min(1.0, offset + share * part)

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self._throttle.due(phase, done, total):
            return
        progress = self.fraction(phase, done, total)
        elapsed = self._clock() - self._started
        eta = elapsed * (1.0 - progress) / progress if progress > 0.05 else None
        self._sink(phase, progress, eta)
