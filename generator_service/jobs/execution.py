"""Where a job's scoring runs: the seam between the worker (queue, board, result files) and the model.

An `Executor` is called on a worker thread with the job's adapter `(name, folder)` or None, a
`start` callback and the job's preparation `progress` (`load_model` while the model loads,
`download` while its files are fetched) and `cancel` token, and returns a `Scoring`: the callable the
worker runs the job's `ScoreRequest` through, `(request, progress=..., cancel=...) -> ScoreResult` —
the `Scorer` signature. `start()` must be called once when the job's own work begins on a loaded
model: it counts an attempt (a crash while the model loads is not the job's fault).
- `LocalExecutor`: the service's own warm `Scorer` from the `ModelHolder`, on the one worker
  thread (phase `load_model` and the load if needed, a cancel checked, then `start`).
- `generator_service/scale/dispatch.py`: a Ray Serve generator replica runs the request; `start`
  is called when a replica takes the job, progress flows back from it, cancel reaches it.
Errors: whatever the pipeline raises (domain errors, out of memory, OSError), `Cancelled` when the
token stops the run, `RunLost` when the process running the job died (the worker may run it again).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from ..progress import CancelToken, ProgressCallback, no_progress

if TYPE_CHECKING:
    from ..pipeline.score import ScoreRequest, ScoreResult
    from .holder import ModelHolder


class Scoring(Protocol):
    def __call__(
        self, request: ScoreRequest, progress: ProgressCallback = ..., cancel: CancelToken | None = None
    ) -> ScoreResult: ...


class Executor(Protocol):
    def __call__(
        self,
        adapter: tuple[str, str] | None,
        start: Callable[[], None],
        *,
        progress: ProgressCallback = ...,
        cancel: CancelToken | None = None,
    ) -> Scoring: ...


class LocalExecutor:
    """Jobs run on the service's own model holder (one worker thread: the holder's thread rule)."""

    def __init__(self, holder: ModelHolder) -> None:
        self.holder = holder

    def __call__(
        self,
        adapter: tuple[str, str] | None,
        start: Callable[[], None],
        *,
        progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
    ) -> Scoring:
        if self.holder.needs_load(adapter):
            progress("load_model", 0, 1)
        scorer = self.holder.scorer(adapter, progress=progress, cancel=cancel)
        if cancel is not None:
            cancel.check()  # cancelled (or the service stopped) while the model loaded: never started
        start()
        return scorer
