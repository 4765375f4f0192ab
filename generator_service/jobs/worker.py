"""The worker: threads that run queued jobs on the warm model (one thread) or, with an executor that
runs them elsewhere (Ray Serve replicas, generator_service/scale/), on several slots at once.

For each job: skip it if it was cancelled while waiting; reuse an identical earlier result if one
appeared meanwhile; otherwise hand the job to the `Executor` (jobs/execution.py; by default the
`LocalExecutor`: the warm `Scorer`, loading the model on first use — phase `load_model` — after
downloading its files if they are missing: phase `download` with bytes done/total; the job is
running then, but its attempt is counted only when its own work starts, after the load), which
reports progress, on the video as `open_video(spec)` gives it (a path-mode
file is checked again and read through one open file); then write the takes + metadata. A DELETE
persists the cancel request and sets the job's `CancelToken`, which the pipeline checks at every
generation step (a job whose cancel was requested ends cancelled, also when a shutdown stopped it
first). A clean shutdown stops the running jobs the same way and hands them back (queued again, their videos kept) for the
next start. A run lost with the process that ran it (`RunLost`) runs again until the job has used
`max_attempts` runs, then fails — the bound recovery applies to jobs a crashed service left.

Failure rule: no job failure stops the worker. Domain errors (`ExpotionError`), out-of-memory
(torch.OutOfMemoryError / RuntimeError "out of memory" / MemoryError: the model is unloaded to free
memory) and `OSError` fail the job with a hint; anything else is caught by the one documented
catch-all in `_run_one`, logged with its traceback and reported with an error id.
Between jobs the worker unloads the model once it has been idle for the configured time.
Thread rule: `slots` threads take jobs; with the `LocalExecutor` there is exactly one (the holder's
thread rule).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import Cancelled, ExpotionError
from ..progress import CancelToken
from .board import JobBoard
from .errors import RunLost
from .execution import Executor, LocalExecutor
from .holder import ModelHolder
from .job_progress import JobProgress
from .queue import JobQueue
from .records import QUEUED, RUNNING, InputFile, JobSpec, new_error_id
from .recovery import CRASH_HINT
from .results import ResultCache, ResultFiles

if TYPE_CHECKING:
    from ..pipeline.melody_input import MelodyRequest

logger = logging.getLogger(__name__)

SHUTDOWN = "service shutting down"
OOM_HINT = (
    "The model ran out of memory and was unloaded: use a shorter range, fewer variants or a smaller "
    "model, or free GPU memory used by other programs, then resubmit."
)


def is_out_of_memory(exc: BaseException) -> bool:
    """torch.OutOfMemoryError (a RuntimeError), a RuntimeError saying "out of memory", or MemoryError."""
    return (
        isinstance(exc, MemoryError)
        or type(exc).__name__ == "OutOfMemoryError"
        or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())
    )


class Worker:
    """Owns the worker threads; `start()` / `stop()` from the service."""

    def __init__(
        self,
        board: JobBoard,
        queue: JobQueue,
        holder: ModelHolder,
        files: ResultFiles,
        results: ResultCache,
        *,
        adapters: Callable[[], dict[str, str]] = dict,
        release: Callable[[JobSpec], None] = lambda spec: None,
        open_video: Callable[[JobSpec], AbstractContextManager[Path]] | None = None,
        open_input: Callable[[InputFile], AbstractContextManager[Path]] | None = None,
        idle_poll_s: float = 0.5,
        executor: Executor | None = None,
        slots: int = 1,
        max_attempts: int = 3,
    ) -> None:
        if slots < 1 or (executor is None and slots != 1):
            raise ValueError(f"slots {slots}: the local executor runs exactly one job at a time")
        self.board, self.queue, self.holder = board, queue, holder
        self.files, self.results = files, results
        self.adapters = adapters
        self.release = release
        #: The video of a job, as a context: the service checks path-mode files again (default: as named).
        self.open_video = open_video or (lambda spec: nullcontext(Path(spec.video)))
        #: Another input file of a job (the melody temp), the same way.
        self.open_input = open_input or (lambda file: nullcontext(Path(file.path)))
        self.idle_poll_s = idle_poll_s
        self.execute: Executor = executor or LocalExecutor(holder)
        self.slots = slots
        self.max_attempts = max_attempts
        #: Jobs taken from the queue, those of them not started yet (waiting for a replica), and
        #: those whose attempt this run counted (their own work began).
        self.running: set[str] = set()
        self._waiting: set[str] = set()
        self._counted: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def start(self) -> None:
        if not self._threads:
            self._threads = [
                threading.Thread(target=self._loop, name=f"expotion-worker-{i}", daemon=True) for i in range(self.slots)
            ]
            for thread in self._threads:
                thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking jobs, interrupt the running ones, wait for the threads."""
        self._stopping.set()
        self.queue.close()
        with self._lock:
            running = list(self.running)
        for job_id in running:
            self.board.token(job_id).cancel(SHUTDOWN)
        for thread in self._threads:
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("the worker thread %s did not stop within %.0f s", thread.name, timeout)

    @property
    def alive(self) -> bool:
        return bool(self._threads) and all(thread.is_alive() for thread in self._threads)

    @property
    def waiting(self) -> int:
        """Jobs taken from the queue that have not started on a model yet (they wait for one)."""
        with self._lock:
            return len(self._waiting)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            job_id = self.queue.take(self.idle_poll_s)
            if job_id is None:
                self.holder.maybe_unload()
                continue
            self._run_one(job_id)

    def _run_one(self, job_id: str) -> None:
        record = self.board.get(job_id)
        if record.terminal:  # cancelled while it waited
            return
        with self._lock:
            self.running.add(job_id)
            self._waiting.add(job_id)
        if self._stopping.is_set():  # taken just as the service stopped: it stays queued for the next start
            self._leave(job_id)
            return
        try:
            self._execute(job_id, record.spec, record.cache_key)
        # The one documented catch-all of the service: whatever unexpected error a job raises must
        # not kill the worker. It is logged with its traceback and the job fails with an error id.
        except Exception as exc:
            error_id = new_error_id()
            logger.exception("job %s failed unexpectedly (error id %s)", job_id, error_id)
            self.board.fail(
                job_id,
                f"internal error ({type(exc).__name__}): {exc}",
                f"This is a bug; report error id {error_id} with the service log.",
                error_id,
            )
        finally:
            self._leave(job_id)
            if self.board.get(job_id).terminal:  # a job handed back at shutdown keeps its video
                self.release(record.spec)
            self.holder.touch()

    def _leave(self, job_id: str) -> None:
        with self._lock:
            self.running.discard(job_id)
            self._waiting.discard(job_id)
            self._counted.discard(job_id)

    def _execute(self, job_id: str, spec: JobSpec, cache_key: str) -> None:
        """Run the job; a lost run runs again until the job used `max_attempts` (counted also for
        lost runs that never started, so a job cannot go round forever)."""
        token = self.board.token(job_id)
        lost_runs = 0
        while (lost := self._attempt(job_id, spec, cache_key, token)) is not None:
            lost_runs += 1
            attempts = self.board.get(job_id).attempts
            if max(lost_runs, attempts) >= self.max_attempts:
                self.board.fail(
                    job_id,
                    f"{lost.message}; after {max(lost_runs, attempts)} attempt(s) it is not run again",
                    CRASH_HINT,
                )
                return
            logger.warning(
                "job %s: %s; running it again (%d of %d attempts used)",
                job_id,
                lost.message,
                attempts,
                self.max_attempts,
            )
            with self._lock:
                self._waiting.add(job_id)
                self._counted.discard(job_id)
            self.board.update(job_id, persist=True, status=QUEUED, started=None, phase="", progress=0.0, eta_s=None)

    def _attempt(self, job_id: str, spec: JobSpec, cache_key: str, token: CancelToken) -> RunLost | None:
        """One run of the job -> the `RunLost` error when the run was lost (the job may run again)."""
        try:
            self._score(job_id, spec, cache_key, token)
        except RunLost as exc:
            if not token.cancelled:
                return exc
            self._stopped(job_id, token)  # it went down while being cancelled: it stopped, as asked
        except Cancelled:
            self._stopped(job_id, token)
        except ExpotionError as exc:
            self.board.fail(job_id, exc.message, exc.hint)
        except (MemoryError, RuntimeError) as exc:
            if not is_out_of_memory(exc):
                raise
            logger.warning("job %s ran out of memory: %s", job_id, exc)
            self.holder.unload()
            self.board.fail(job_id, f"out of memory while generating: {exc}", OOM_HINT)
        except OSError as exc:
            self.board.fail(
                job_id,
                f"file error while running the job: {exc}",
                "Check free disk space and that the video is still readable, then resubmit.",
            )
        return None

    def _stopped(self, job_id: str, token: CancelToken) -> None:
        """The run stopped on its token: cancelled on request, or handed back at shutdown (a job
        still waiting for a replica has not started and simply stays queued). A cancel requested
        before the shutdown wins: the job ends cancelled, as the DELETE was told."""
        record = self.board.get(job_id)
        if token.reason != SHUTDOWN or record.cancel_requested:
            self.board.cancelled(job_id)
        elif record.status == RUNNING:
            with self._lock:
                counted = job_id in self._counted
            self.board.hand_back(job_id, counted=counted)

    def _preparing(self, job_id: str, phase: str, done: int, total: int) -> None:
        """The job waits for the model: `load_model`, or `download` (bytes done of total) of its files."""
        with self._lock:
            self._waiting.discard(job_id)
        if phase == "download":
            fraction = done / total if total else 0.0
            self.board.running(job_id, phase, progress=fraction, eta_s=None, bytes_done=done, bytes_total=total)
        else:
            self.board.running(job_id, phase, progress=0.0, eta_s=None)

    def _score(self, job_id: str, spec: JobSpec, cache_key: str, token: CancelToken) -> None:
        from ..config import GenerationConfig
        from ..pipeline.score import ScoreRequest

        reused = self.results.reuse(job_id, cache_key)
        if reused is not None:
            self.board.succeed(job_id, reused)
            return
        params = spec.params
        adapter = None if params.adapter is None else (params.adapter, self.adapters().get(params.adapter, ""))
        scorer = self.execute(
            adapter,
            start=lambda: self._start(job_id),
            progress=lambda phase, done, total: self._preparing(job_id, phase, done, total),
            cancel=token,
        )
        token.check()  # a cancel that arrived during model loading (an executor that did not check)
        report = JobProgress(
            lambda phase, progress, eta: self.board.update(job_id, phase=phase, progress=progress, eta_s=eta),
            features=params.auto_prompt or adapter is not None or params.reads_motion,
            lock=params.beat_lock != "off",
        )
        gen = GenerationConfig.from_params(params)
        # path mode: checked again now and read through the open file
        with self.open_video(spec) as video, self._open_melody(spec) as melody:
            request = ScoreRequest.from_params(video, params, gen, melody)
            result = scorer(request, progress=report, cancel=token)
        token.check()
        report("write", 0, 1)
        meta = result.metadata() | {"cached": False, "job_id": job_id}
        if result.melody is not None and spec.melody is not None:  # name the temp, not the path it was read by
            meta["melody"] = result.melody | {"file": _melody_name(spec.melody), "sha256": spec.melody.sha256}
        if result.analysis is not None:
            meta["suggested_prompt"] = result.analysis.get("suggested_prompt", "")
        self.files.write(job_id, result.takes, result.sample_rate, meta)
        self.board.succeed(job_id, meta)

    @contextmanager
    def _open_melody(self, spec: JobSpec) -> Iterator[MelodyRequest | None]:
        """The job's melody temp while the block runs (None: the job has none)."""
        if spec.melody is None:
            yield None
            return
        from ..pipeline.melody_input import MelodyRequest

        with self.open_input(spec.melody) as path:
            yield MelodyRequest(path, spec.params.melody_start)

    def _start(self, job_id: str) -> None:
        """The job's own work begins on a loaded model now: running, one attempt counted (called by
        the executor)."""
        with self._lock:
            self._waiting.discard(job_id)
            self._counted.add(job_id)
        self.board.start(job_id)


def _melody_name(melody: InputFile) -> str:
    """How a result names its melody temp: the user's path-mode file, or "upload" (the service's
    content-addressed copy is gone once the job ends)."""
    return "upload" if melody.uploaded else melody.path
