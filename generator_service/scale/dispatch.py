"""The ingress side of running a job on a generator replica: the `Executor` (jobs/execution.py) the
job worker's slots hand jobs to on the Ray face.

`RemoteScoring(request, progress, cancel)` reads the job's video, calls the generator deployment
with the job's multiplexed model id (so Serve routes it to a replica holding its adapter) as a
stream, and follows the replica's events: `Started` marks the job running (`start()`), `Progress`
goes to the job's progress callback, `Finished` returns the `ReplicaScoreResult`, `Failed` raises the
replica's error here, where the worker maps it as always. A cancel of the job's token cancels the
Serve request at once, from the cancelling thread; the replica stops within one generation step.
A replica that dies mid-run raises `RunLost` (the worker runs the job again, bounded by attempts).
Thread rule: called on a worker slot thread (blocking iteration; never on an event loop).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray.exceptions import RayActorError
from ray.serve.exceptions import RequestCancelledError

from ..errors import Cancelled
from ..jobs.errors import RunLost
from ..pipeline.score import ScoreRequest, ScoreResult
from ..progress import CancelToken, ProgressCallback, no_progress
from .events import Failed, Finished, Progress, Started, model_id_for

logger = logging.getLogger(__name__)


class ReplicaExecutor:
    """Runs jobs on the generator deployment behind `handle` (a Serve `DeploymentHandle`)."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def __call__(
        self,
        adapter: tuple[str, str] | None,
        start: Callable[[], None],
        *,
        progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
    ) -> RemoteScoring:
        """A replica loads (and fetches) its own model: the ingress has no download to report."""
        return RemoteScoring(self.handle, None if adapter is None else adapter[0], start)


class RemoteScoring:
    """One job's run on a replica (see the module docstring)."""

    def __init__(self, handle: Any, adapter: str | None, start: Callable[[], None]) -> None:
        self.handle, self.adapter, self.start = handle, adapter, start

    def __call__(
        self, request: ScoreRequest, progress: ProgressCallback = no_progress, cancel: CancelToken | None = None
    ) -> ScoreResult:
        cancel = cancel or CancelToken()
        video = Path(request.video).read_bytes()
        handle = self.handle.options(stream=True, multiplexed_model_id=model_id_for(self.adapter))
        stream = handle.run.remote(request, video)
        withdraw = cancel.on_cancel(stream.cancel)
        try:
            return self._follow(stream, progress)
        except RequestCancelledError as exc:
            if not cancel.cancelled:  # Serve itself stopped the request (e.g. its replica was shut down)
                raise RunLost("the generator replica stopped the job's run") from exc
            raise Cancelled(f"work stopped: {cancel.reason}") from exc
        except RayActorError as exc:
            raise RunLost(f"the generator replica running the job died ({type(exc).__name__})") from exc
        finally:
            withdraw()

    def _follow(self, stream: Any, progress: ProgressCallback) -> ScoreResult:
        for event in stream:
            if isinstance(event, Started):
                logger.debug("replica %s took a job", event.replica)
                self.start()
            elif isinstance(event, Progress):
                progress(event.phase, event.done, event.total)
            elif isinstance(event, Failed):
                raise event.error
            elif isinstance(event, Finished):
                return event.result
        raise RunLost("the generator replica ended the job's stream without a result")
