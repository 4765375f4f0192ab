"""The job layer without HTTP: store, queue, uploads, cache keys, progress, holder, worker failures."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest

from generator_service.errors import VideoError
from generator_service.jobs.board import JobBoard
from generator_service.jobs.errors import QueueFull
from generator_service.jobs.holder import ModelHolder
from generator_service.jobs.job_progress import JobProgress
from generator_service.jobs.queue import JobQueue
from generator_service.jobs.records import JobRecord, JobSpec
from generator_service.jobs.results import ResultCache, ResultFiles
from generator_service.jobs.store import JobStore
from generator_service.jobs.uploads import UploadStore, safe_suffix
from generator_service.jobs.worker import Worker, is_out_of_memory


def spec(**kw) -> JobSpec:
    return JobSpec.create(**({"video": "/v.mp4", "video_sha256": "abc", "start": 0.0, "end": 1.0} | kw))


def test_store_round_trip_active_finished_and_expiry(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    done = JobRecord("j-done", spec(), status="succeeded", result={"takes": 1}, cache_key="k", finished=5.0)
    store.save(done)
    store.save(JobRecord("j-queued", spec(), status="queued", created=1.0))
    store.save(JobRecord("j-running", spec(), status="running", created=2.0, attempts=2, resumed=1))
    assert store.get("j-done").result == {"takes": 1} and store.get("j-nope") is None
    assert store.find_succeeded("k").id == "j-done" and store.find_succeeded("other") is None
    assert [r.id for r in store.active()] == ["j-running", "j-queued"]  # the running one first
    assert (store.get("j-running").attempts, store.get("j-running").resumed) == (2, 1)
    assert [(j.id, j.last_used) for j in store.finished()] == [("j-done", 5.0)]
    store.mark_downloaded("j-done", 9.0)
    assert store.finished()[0].last_used == 9.0 and store.get("j-done").downloaded == 9.0
    store.mark_expired("j-done", 10.0)
    assert store.find_succeeded("k") is None and store.get("j-done").expired == 10.0
    store.delete(["j-done"])
    assert store.get("j-done") is None
    store.close()


def test_store_opens_a_database_written_by_the_first_release(tmp_path: Path) -> None:
    import json
    import sqlite3

    path = tmp_path / "jobs.sqlite3"
    old = sqlite3.connect(path)
    old.executescript("""CREATE TABLE jobs (id TEXT PRIMARY KEY, status TEXT NOT NULL, phase TEXT NOT NULL DEFAULT '',
        progress REAL NOT NULL DEFAULT 0, error TEXT, hint TEXT, error_id TEXT, created REAL NOT NULL, started REAL,
        finished REAL, spec TEXT NOT NULL, result TEXT, cache_key TEXT);""")
    old_spec = {k: v for k, v in spec().to_json().items() if k != "visual_guidance"}
    old.execute(
        "INSERT INTO jobs (id, status, created, spec, cache_key) VALUES ('j-old', 'queued', 1.0, ?, 'k')",
        (json.dumps(old_spec),),
    )
    old.commit()
    old.close()
    store = JobStore(path)
    record = store.get("j-old")
    assert record.status == "queued" and record.attempts == 0 and record.spec.params.visual_guidance == 1.0
    record.attempts = 1
    store.save(record)
    assert store.get("j-old").attempts == 1
    store.close()


def test_cache_key_ignores_the_path_but_not_the_content_or_parameters() -> None:
    base = spec().cache_key()
    assert spec(video="/elsewhere.mp4", uploaded=False).cache_key() == base
    assert spec(video_sha256="other").cache_key() != base
    assert spec(seed=1).cache_key() != base and spec(end=0.5).cache_key() != base
    assert spec(auto_prompt=True).cache_key("f/1") != spec(auto_prompt=True).cache_key("f/2")
    assert spec(visual_guidance=2.0, adapter="a").cache_key() not in (
        spec(adapter="a").cache_key(),
        spec(visual_guidance=3.0, adapter="a").cache_key(),
    )
    assert spec(visual_guidance=0.5).cache_key() == base  # off, like the default
    assert spec(precision="int8").cache_key() not in (base, spec(precision="bf16").cache_key())


def test_queue_is_bounded_fifo_and_cancellable() -> None:
    queue = JobQueue(2)
    queue.put("a")
    queue.put("b")
    with pytest.raises(QueueFull):
        queue.put("c")
    assert queue.remove("a") and not queue.remove("a")
    queue.put("c")
    assert [queue.take(0.01), queue.take(0.01), queue.take(0.01)] == ["b", "c", None]
    queue.close()
    assert queue.take(5) is None


def test_uploads_are_content_addressed_and_deleted_with_the_last_reference(tmp_path: Path) -> None:
    uploads = UploadStore(tmp_path / "up")
    uploads.reset()
    first = uploads.store(io.BytesIO(b"movie"), "Clip.MP4")
    second = uploads.store(io.BytesIO(b"movie"), "again.mp4")
    a, digest, size = first.path, first.sha256, first.size
    assert a == second.path and digest == second.sha256 and size == 5 and a.name.endswith(".mp4")
    uploads.release(a)
    assert a.is_file()
    uploads.release(a)
    assert not a.exists() and uploads.in_use() == 0
    assert safe_suffix("x.../../evil") == ".bin" and safe_suffix(None) == ".bin"


def test_progress_covers_0_to_1_and_is_throttled() -> None:
    reports = []
    now = [0.0]
    progress = JobProgress(lambda *r: reports.append(r), features=False, min_interval_s=0.05, clock=lambda: now[0])
    progress("decode", 0, 1)
    for step in range(1, 101):
        now[0] += 0.001
        progress("generate", step, 100)
    progress("decode_audio", 1, 1)
    progress("write", 1, 1)
    fractions = [r[1] for r in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert len(reports) < 10  # 100 steps in 0.1 s are coalesced


def test_holder_loads_lazily_and_unloads_after_idle(tiny) -> None:
    now = [0.0]
    holder = ModelHolder(lambda: tiny, model_id="tiny", device="cpu", idle_unload_s=10, clock=lambda: now[0])
    assert not holder.loaded and holder.untrained
    first = holder.scorer()
    assert holder.loaded and holder.scorer() is first and holder.loads == 1
    now[0] = 5
    assert not holder.maybe_unload()
    now[0] = 16
    assert holder.maybe_unload() and not holder.loaded
    never = ModelHolder(lambda: tiny, model_id="tiny", idle_unload_s=-1, clock=lambda: now[0])
    never.scorer()
    now[0] = 1e9
    assert not never.maybe_unload()


def test_out_of_memory_detection() -> None:
    import torch

    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried... out of memory"))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


class _BrokenScorer:
    def __init__(self, errors: list[BaseException]) -> None:
        self.errors = errors

    def __call__(self, request, progress, cancel):
        raise self.errors.pop(0)


class _FakeHolder:
    """A holder whose scorer raises the given errors in turn (the worker's failure paths)."""

    feature_cache = None

    def __init__(self, errors: list[BaseException]) -> None:
        self._scorer = _BrokenScorer(errors)
        self.unloads = 0

    def scorer(self, adapter=None, *, progress=None, cancel=None):
        return self._scorer

    def needs_load(self, adapter=None) -> bool:
        return False

    def unload(self) -> None:
        self.unloads += 1

    def touch(self) -> None: ...

    def maybe_unload(self) -> bool:
        return False


def test_the_worker_survives_every_kind_of_job_failure(tmp_path: Path) -> None:
    errors: list[BaseException] = [
        VideoError("decode failed at 0.4 s"),
        OSError(28, "No space left on device"),
        RuntimeError("CUDA out of memory"),
        ZeroDivisionError("surprise"),
    ]
    store = JobStore(tmp_path / "jobs.sqlite3")
    board, queue, files = JobBoard(store), JobQueue(8), ResultFiles(tmp_path / "results")
    holder = _FakeHolder(errors)
    worker = Worker(board, queue, holder, files, ResultCache(store, files), idle_poll_s=0.01)  # type: ignore[arg-type]
    worker.start()
    try:
        for i in range(4):
            board.add(JobRecord(f"j-{i}", spec(seed=i), cache_key=f"k{i}"))
            queue.put(f"j-{i}")
        records = [board.wait_terminal(f"j-{i}", 10) for i in range(4)]
    finally:
        worker.stop()
        store.close()
    assert [r.status for r in records] == ["failed"] * 4
    assert "decode failed" in records[0].error and records[0].hint
    assert "No space left" in records[1].error and "disk" in records[1].hint
    assert "out of memory" in records[2].error and holder.unloads == 1
    assert "ZeroDivisionError" in records[3].error and records[3].error_id in records[3].hint


def test_wait_terminal_returns_on_change(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    board = JobBoard(store)
    board.add(JobRecord("j-1", spec()))
    threading.Timer(0.05, lambda: board.cancelled("j-1")).start()
    started = time.monotonic()
    # woken by the change, not by the (long) timeout
    assert board.wait_terminal("j-1", 60).status == "cancelled" and time.monotonic() - started < 60
    store.close()


def test_switching_adapters_reloads_the_base_model(tiny) -> None:
    attached = []
    holder = ModelHolder(
        lambda: tiny,
        model_id="tiny",
        device="cpu",
        adapter_loader=lambda name, path, music: attached.append(name) or None,
    )
    holder.scorer()
    holder.scorer(("a", "/a"))
    assert holder.loads == 1 and attached == ["a"]
    holder.scorer(("a", "/a"))
    holder.scorer(("b", "/b"))
    assert holder.loads == 2 and attached == ["a", "b"]


def test_specs_round_trip_and_flat_specs_stored_before_0_2_still_load() -> None:
    flat = {
        "video": "/v.mp4",
        "video_sha256": "abc",
        "start": 0.5,
        "end": 1.0,
        "prompt": "p",
        "seed": 3,
        "visual_guidance": 1.0,
        "model": "tiny",
        "uploaded": False,
    }
    old = JobSpec.from_json(flat)
    assert (old.params.seed, old.params.prompt, old.start, old.end, old.uploaded) == (3, "p", 0.5, 1.0, False)
    assert JobSpec.from_json(old.to_json()) == old
    assert old.cache_key() == spec(video_sha256="abc", start=0.5, end=1.0, prompt="p", seed=3, model="tiny").cache_key()
