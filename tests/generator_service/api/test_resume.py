"""Jobs survive a restart of the service: a real work dir (SQLite store, uploads) reopened by a new app."""

from __future__ import annotations

import json
import shutil
import threading
import time

import pytest

from generator_service.hashing import sha256_file as hash_file
from generator_service.jobs.records import JobRecord, JobSpec
from generator_service.jobs.store import JobStore

from .conftest import job_form, wait_done

pytestmark = pytest.mark.anyio


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


async def test_a_clean_stop_hands_jobs_back_and_the_next_start_resumes_them(make_app, tmp_path, clip, tiny) -> None:
    work = tmp_path / "work"
    gate = threading.Event()
    first = make_app(loader=lambda: (gate.wait(10), tiny)[1], work_dir=work, queue_size=2)
    async with first.client() as client:
        ids = [(await client.post("/v1/jobs", **job_form(clip, seed=i, end=0.5))).json()["id"] for i in range(3)]
        assert (await client.get(f"/v1/jobs/{ids[0]}")).json()["status"] == "running"  # waiting for the model
    stopper = threading.Thread(target=first.stop)
    stopper.start()
    wait_for(lambda: first.service.board.token(ids[0]).cancelled)
    gate.set()  # the model "finishes loading"; the worker sees the shutdown and hands the job back
    stopper.join(15)
    store = JobStore(work / "jobs.sqlite3")
    left = [store.get(i) for i in ids]
    store.close()
    assert [(r.status, r.attempts, r.resumed) for r in left] == [("queued", 0, 0)] * 3
    assert len(list((work / "uploads").iterdir())) == 1  # the (shared) upload was kept for them

    second = make_app(work_dir=work, queue_size=1)  # a lower limit does not drop jobs that held a slot
    async with second.client() as client:
        for job_id in ids:
            status = await wait_done(client, job_id)
            assert status["status"] == "succeeded", status["error"]
            assert (status["resumed"], status["attempts"]) == (1, 1)
            assert status["result"]["num_samples"] == 16000
        events = (await client.get(f"/v1/jobs/{ids[0]}/events")).text
        done = json.loads(events.strip().split("\n\n")[-1].split("data: ", 1)[1].split("\n")[0])
        assert done["resumed"] == 1
    # the worker releases a job's upload just after publishing its end: wait for it, don't race it
    wait_for(lambda: second.service.uploads.in_use() == 0 and list((work / "uploads").iterdir()) == [])


async def test_after_a_crash_a_job_is_resumed_until_it_used_its_attempts(make_app, tmp_path, clip) -> None:
    work = tmp_path / "work"
    (work / "uploads").mkdir(parents=True)
    digest = hash_file(clip)
    video = work / "uploads" / f"{digest}.mp4"
    shutil.copyfile(clip, video)
    (work / "uploads" / ".upload-dead.part").write_bytes(b"half an upload")

    def spec(seed: int) -> JobSpec:
        return JobSpec.create(video=str(video), video_sha256=digest, start=0.0, end=0.5, seed=seed, model="tiny")

    # What a process killed mid-job leaves: records still "running", their attempt counted.
    store = JobStore(work / "jobs.sqlite3")
    store.save(JobRecord("j-crashed-once", spec(1), status="running", attempts=1, phase="generate", progress=0.5))
    store.save(JobRecord("j-crashes-always", spec(2), status="running", attempts=2, phase="generate"))
    store.close()
    app = make_app(work_dir=work, max_attempts=2)
    async with app.client() as client:
        failed = (await client.get("/v1/jobs/j-crashes-always")).json()
        assert failed["status"] == "failed" and "2 time(s)" in failed["error"] and failed["hint"]
        resumed = await wait_done(client, "j-crashed-once")
        assert resumed["status"] == "succeeded" and (resumed["resumed"], resumed["attempts"]) == (1, 2)
        # released by the job (just after its end is published); the partial upload removed at start
        wait_for(lambda: list((work / "uploads").iterdir()) == [])
