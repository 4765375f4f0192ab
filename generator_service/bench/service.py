"""Service overhead at the tiny model: submit -> first progress event, last generation step -> result
available, and requests per second of status polling.

Overhead is measured in-process against a real uvicorn server on 127.0.0.1 (a thread), so server-side
phase timestamps (first/last call of each pipeline phase) share the client's clock. Status polling
is measured against a separate `serve` process (as the extension sees it) with 1 and 8 concurrent
keep-alive connections.
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from . import table

logger = logging.getLogger(__name__)


class _PhaseClock:
    """Records the first and last time each pipeline phase reported progress, per job."""

    def __init__(self) -> None:
        self.times: dict[str, tuple[float, float]] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.perf_counter()
        first = self.times.get(phase, (now, now))[0]
        self.times[phase] = (first, now)


def _instrument(clocks: list[_PhaseClock]) -> Any:
    """Make every job's progress callback also stamp a `_PhaseClock` -> the original class (restore it)."""
    from ..jobs import job_progress, worker

    class StampedProgress(job_progress.JobProgress):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.clock = _PhaseClock()
            clocks.append(self.clock)

        def __call__(self, phase: str, done: int, total: int) -> None:
            self.clock(phase, done, total)
            super().__call__(phase, done, total)

    original = worker.JobProgress
    worker.JobProgress = StampedProgress  # type: ignore[misc]
    return original


def _start_server(app: Any) -> tuple[Any, threading.Thread, str]:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the bench server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


async def _one_job(client: Any, clip: Path, seed: int) -> dict[str, float]:
    """Submit, follow the events, download -> client-side timestamps."""
    t: dict[str, float] = {"submit": time.perf_counter()}
    files = {"video": (clip.name, clip.read_bytes(), "video/mp4")}
    r = await client.post("/v1/jobs", files=files, data={"params": json.dumps({"seed": seed, "prompt": "bench"})})
    r.raise_for_status()
    job_id = r.json()["id"]
    t["accepted"] = time.perf_counter()
    async with client.stream("GET", f"/v1/jobs/{job_id}/events") as events:
        async for line in events.aiter_lines():
            if line.startswith("data: ") and "first_event" not in t:
                t["first_event"] = time.perf_counter()
            if line.startswith("event: done"):
                t["done_event"] = time.perf_counter()
    (await client.get(f"/v1/jobs/{job_id}/result")).raise_for_status()
    t["downloaded"] = time.perf_counter()
    return t


def _overhead_rows(clip: Path, work: Path, jobs: int) -> list[list[object]]:
    import httpx

    from ..api import ServiceSettings, create_app
    from ..jobs import worker
    from ..jobs.holder import ModelHolder
    from ..jobs.service import JobService
    from ..model.loading import load_music_model

    clocks: list[_PhaseClock] = []
    original = _instrument(clocks)
    tiny = load_music_model("tiny", device="cpu")
    settings = ServiceSettings(work_dir=work, model="tiny", device="cpu")
    service = JobService(work, ModelHolder(lambda: tiny, model_id="tiny", device="cpu"))
    server, thread, url = _start_server(create_app(settings, service))

    async def run_all() -> list[dict[str, float]]:
        async with httpx.AsyncClient(base_url=url, timeout=60, trust_env=False) as client:
            await _one_job(client, clip, 10_000)  # warm-up: model load, first-call costs
            return [await _one_job(client, clip, i) for i in range(jobs)]

    try:
        stamps = asyncio.run(run_all())
    finally:
        server.should_exit = True
        thread.join(10)
        worker.JobProgress = original  # type: ignore[misc]
    return _summarise(stamps, clocks[1:])


def _summarise(stamps: list[dict[str, float]], clocks: list[_PhaseClock]) -> list[list[object]]:
    def ms(values: list[float]) -> list[object]:
        return [statistics.median(values) * 1000, min(values) * 1000, max(values) * 1000]

    gen_end = [c.times["generate"][1] for c in clocks]
    dec_end = [c.times["decode_audio"][1] for c in clocks]
    return [
        ["submit -> 202 (upload + probe)", *ms([s["accepted"] - s["submit"] for s in stamps])],
        ["submit -> first progress event", *ms([s["first_event"] - s["submit"] for s in stamps])],
        [
            "submit -> first generation step",
            *ms([c.times["generate"][0] - s["submit"] for s, c in zip(stamps, clocks)]),
        ],
        ["last gen step -> done event", *ms([s["done_event"] - g for s, g in zip(stamps, gen_end)])],
        ["  of which EnCodec decode (pipeline)", *ms([d - g for d, g in zip(dec_end, gen_end)])],
        ["  of which WAV write + SSE delivery", *ms([s["done_event"] - d for s, d in zip(stamps, dec_end)])],
        ["last gen step -> WAV downloaded", *ms([s["downloaded"] - g for s, g in zip(stamps, gen_end)])],
    ]


def _polling_rows(clip: Path, work: Path, seconds: float) -> list[list[object]]:
    from ..jobs.records import JobRecord, JobSpec
    from ..jobs.store import JobStore

    store = JobStore(work / "jobs.sqlite3")  # a finished job to poll, without generating
    store.save(JobRecord("j-bench", JobSpec.create(video=str(clip), video_sha256="0", start=0, end=1), status="failed"))
    store.close()
    server = ServeProcess(work)
    rows = []
    try:
        for conns in (1, 8):
            count = poll_count(server.url, "j-bench", conns, seconds)
            rows.append([f"GET /v1/jobs/{{id}}, {conns} connection(s)", count / seconds, count])
    finally:
        server.stop()
    return rows


def poll_count(url: str, job_id: str, connections: int, seconds: float) -> int:
    """Status requests of `job_id` answered in `seconds` to `connections` concurrent keep-alive clients."""
    import httpx

    async def poll() -> int:
        async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=10) as client:
            count, stop = 0, time.perf_counter() + seconds

            async def loop() -> None:
                nonlocal count
                while time.perf_counter() < stop:
                    (await client.get(f"/v1/jobs/{job_id}")).raise_for_status()
                    count += 1

            await asyncio.gather(*(loop() for _ in range(connections)))
            return count

    return asyncio.run(poll())


class ServeProcess:
    """`python -m generator_service serve --model tiny` on a free loopback port (`extra`: more flags)."""

    def __init__(self, work: Path, extra: list[str] | None = None) -> None:
        import re
        import subprocess
        import sys

        cmd = [
            sys.executable,
            "-m",
            "generator_service",
            "serve",
            "--model",
            "tiny",
            "--port",
            "0",
            "--work-dir",
            str(work),
            "--offline",
            *(extra or []),
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.url = ""
        deadline = time.monotonic() + 60
        assert self.proc.stdout is not None
        while time.monotonic() < deadline and not self.url:
            line = self.proc.stdout.readline()
            if not line:
                break
            if match := re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line):
                self.url = match.group(1)
        if not self.url:
            self.stop()
            raise RuntimeError("the bench serve process did not start")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # drain the log

    def stop(self) -> None:
        import signal
        import subprocess

        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def run(seconds: float | None = None, jobs: int = 5, poll_seconds: float = 3.0) -> str:
    """Measure and return the printed tables; `seconds` is the clip length (default 1.0)."""
    import torch

    from ..demo_clip import make_performer_clip

    seconds = seconds or 1.0
    with tempfile.TemporaryDirectory(prefix="expotion-bench-") as tmp:
        clip = make_performer_clip(Path(tmp) / "clip.mp4", duration=seconds, size=(160, 90))
        overhead = _overhead_rows(clip, Path(tmp) / "work", jobs)
        polling = _polling_rows(clip, Path(tmp) / "poll-work", poll_seconds)
    head = (
        f"service overhead, tiny model, {seconds:.1f} s clip 160x90, guidance 3.0, {jobs} jobs after a warm-up, "
        f"{torch.get_num_threads()} torch threads (in-process uvicorn on 127.0.0.1)"
    )
    return (
        head
        + "\n"
        + table(["step", "median ms", "min ms", "max ms"], overhead)
        + "\n\n"
        + "status polling against a `serve` process\n"
        + table(["request", "req/s", "requests"], polling)
    )
