"""The worker with an executor that runs jobs elsewhere (the seam of the Ray face), without Ray: several
slots at once, a job started only when its executor says so, lost runs run again within the attempt
bound, cancel and shutdown of a job still waiting for a place to run."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from generator_service.errors import Cancelled, ModelLoadError
from generator_service.jobs.errors import QueueFull, RunLost
from generator_service.jobs.holder import ModelHolder
from generator_service.jobs.records import JobSpec
from generator_service.jobs.recovery import CRASH_HINT
from generator_service.jobs.service import JobService
from generator_service.jobs.store import JobStore
from generator_service.pipeline.score import ScoreRequest, ScoreResult
from generator_service.progress import CancelToken

WAIT = 20.0


def _no_model():
    raise ModelLoadError("these tests run no model")


def _result(request: ScoreRequest) -> ScoreResult:
    n = round((request.end - request.start) * 8000)
    return ScoreResult(
        takes=[np.zeros(n, np.float32)],
        seeds=[request.generation.seed],
        sample_rate=8000,
        num_samples=n,
        start=request.start,
        end=request.end,
        prompt_used="",
        model_id="fake",
        untrained=True,
        adapter=None,
        visual="unused",
    )


class Remote:
    """A fake remote executor; each job (by seed) follows a script of runs:
    "ok" (start, progress, result), "lost" (start, then the process dies), "lost-early" (dies before
    starting), "hold" (start, then run until cancelled), "wait" (never starts until cancelled)."""

    def __init__(self, scripts: dict[int, list[str]]) -> None:
        self.scripts = scripts
        self.called: dict[int, threading.Event] = {seed: threading.Event() for seed in scripts}
        self.last_run: dict[int, threading.Event] = {seed: threading.Event() for seed in scripts}
        self.started: dict[int, threading.Event] = {seed: threading.Event() for seed in scripts}
        self.release = threading.Event()

    def __call__(self, adapter: tuple[str, str] | None, start: Callable[[], None], **download: object):
        def scoring(request: ScoreRequest, progress=lambda *a: None, cancel: CancelToken | None = None):
            seed = request.generation.seed
            self.called[seed].set()
            run = self.scripts[seed].pop(0)
            if not self.scripts[seed]:
                self.last_run[seed].set()
            if run == "lost-early":
                raise RunLost("the replica died before the job started")
            if run == "wait":
                assert cancel is not None
                stopped = threading.Event()
                cancel.on_cancel(stopped.set)
                stopped.wait(WAIT)
                cancel.check()
                raise AssertionError("a waiting job was not cancelled")
            start()
            self.started[seed].set()
            progress("generate", 1, 2)
            if run == "lost":
                raise RunLost("the replica died")
            if run == "hold":
                assert cancel is not None
                while not cancel.cancelled:
                    self.release.wait(0.01)
                cancel.check()
            return _result(request)

        return scoring


@pytest.fixture
def make_service(tmp_path: Path):
    services: list[JobService] = []

    def make(remote: Remote, slots: int = 2, max_attempts: int = 3, queue_size: int = 8) -> JobService:
        holder = ModelHolder(_no_model, model_id="fake", device="ray")
        service = JobService(
            tmp_path / f"work{len(services)}",
            holder,
            queue_size=queue_size,
            executor=remote,
            slots=slots,
            max_attempts=max_attempts,
        )
        services.append(service)
        service.start()
        return service

    yield make
    for service in services:
        service.stop()


def job(seed: int, end: float = 0.5) -> JobSpec:
    return JobSpec.create(video="/v.mp4", video_sha256=f"sha{seed}", start=0.0, end=end, seed=seed, uploaded=True)


def test_slots_run_jobs_at_once_and_a_lost_run_runs_again(make_service) -> None:
    remote = Remote({1: ["hold"], 2: ["lost", "ok"], 3: ["lost-early", "ok"]})
    service = make_service(remote)
    held = service.submit(job(1))
    assert remote.started[1].wait(WAIT)
    lost, early = service.submit(job(2)), service.submit(job(3))
    for record in (lost, early):  # they run on the second slot while the first holds
        done = service.board.wait_terminal(record.id, WAIT)
        assert done.status == "succeeded" and done.result["num_samples"] == 4000
    assert service.get(lost.id).attempts == 2  # the lost run counted: it had started
    assert service.get(early.id).attempts == 1  # it never started before it was lost
    assert service.get(held.id).status == "running"
    assert service.cancel(held.id).status == "cancelled"


def test_a_job_whose_runs_keep_getting_lost_fails_after_max_attempts(make_service) -> None:
    service = make_service(Remote({1: ["lost", "lost", "ok"], 2: ["lost-early"] * 3}), max_attempts=2)
    for seed in (1, 2):
        record = service.board.wait_terminal(service.submit(job(seed)).id, WAIT)
        assert record.status == "failed" and "after 2 attempt(s)" in record.error and record.hint == CRASH_HINT


def test_a_job_waiting_for_a_place_counts_in_the_queue_and_can_be_cancelled(make_service) -> None:
    remote = Remote({1: ["wait"], 2: ["lost", "wait"]})
    service = make_service(remote, slots=1, queue_size=2)
    waiting = service.submit(job(1))
    assert remote.called[1].wait(WAIT)
    queued = service.submit(job(2))
    assert service.queue_depth() == 2  # one taken by the slot but not started, one in the queue
    with pytest.raises(QueueFull):
        service.submit(job(3))
    cancelled = service.cancel(waiting.id)
    assert cancelled.status == "cancelled" and cancelled.attempts == 0
    assert remote.last_run[2].wait(WAIT)  # its first run was lost; the second waits for a place
    service.stop()  # a clean stop leaves it queued, with the attempt its lost run used
    store = JobStore(service.work_dir / "jobs.sqlite3")
    assert store.get(queued.id).status == "queued" and store.get(queued.id).attempts == 1
    store.close()


def test_the_local_executor_runs_one_job_at_a_time(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        JobService(tmp_path, ModelHolder(_no_model, model_id="fake"), slots=2)


def test_cancel_token_callbacks_run_once_on_the_cancelling_thread() -> None:
    token, calls = CancelToken(), []
    withdraw = token.on_cancel(lambda: calls.append("a"))
    token.on_cancel(lambda: calls.append("b"))
    withdraw()
    token.cancel("stop")
    token.cancel("again")
    assert calls == ["b"]
    token.on_cancel(lambda: calls.append("late"))  # already cancelled: called at once
    assert calls == ["b", "late"]
    with pytest.raises(Cancelled):
        token.check()
