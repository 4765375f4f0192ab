"""Latency under load: a real `serve --model tiny` process gets a burst of concurrent submits while
pollers read job status in a loop (as clients polling their jobs do), until every job finished.

Measured from the client side on 127.0.0.1: the latency of each `POST /v1/jobs` (upload, probe,
queue) and of each `GET /v1/jobs/{id}` while the burst is answered and the jobs run; errors are
transport failures and any answer other than 202 / 200 (a 429 from a full queue included: the
service is started with a queue large enough for the burst).
"""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import table
from .service import ServeProcess

TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass
class Load:
    """What the clients saw: latencies in seconds, errors by kind."""

    submit_s: list[float] = field(default_factory=list)
    poll_s: list[float] = field(default_factory=list)
    submit_errors: list[str] = field(default_factory=list)
    poll_errors: list[str] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    submitted: bool = False  # every submit was answered (or failed)
    wall_s: float = 0.0

    def finished(self, ids: list[str]) -> bool:
        return self.submitted and len(self.statuses) >= len(ids)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (`q` in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


async def _timed(request: Any, latencies: list[float], errors: list[str], expected: int) -> Any:
    """Await one request, timing it -> its answer, or None with the transport error or the status
    other than `expected` recorded in `errors`."""
    import httpx

    started = time.perf_counter()
    try:
        answer = await request
    except httpx.TransportError as exc:
        errors.append(type(exc).__name__)
        return None
    latencies.append(time.perf_counter() - started)
    if answer.status_code != expected:
        errors.append(str(answer.status_code))
        return None
    return answer


async def _submit(client, clip: Path, seed: int, load: Load, ids: list[str]) -> None:
    files = {"video": (clip.name, clip.read_bytes(), "video/mp4")}
    data = {"params": json.dumps({"seed": seed, "prompt": "load bench", "beat_lock": "off"})}
    answer = await _timed(client.post("/v1/jobs", files=files, data=data), load.submit_s, load.submit_errors, 202)
    if answer is not None:
        ids.append(answer.json()["id"])


async def _poll(url: str, index: int, load: Load, ids: list[str], deadline: float) -> None:
    """One poller on its own keep-alive connection: the accepted jobs in turn, until all finished."""
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False) as client:
        turn = index
        while time.monotonic() < deadline and not load.finished(ids):
            if not ids:
                await asyncio.sleep(0.001)
                continue
            job_id = ids[turn % len(ids)]
            turn += 1
            answer = await _timed(client.get(f"/v1/jobs/{job_id}"), load.poll_s, load.poll_errors, 200)
            if answer is not None and (status := answer.json()["status"]) in TERMINAL:
                load.statuses[job_id] = status


async def measure(url: str, clip: Path, jobs: int, pollers: int, timeout_s: float) -> Load:
    """`jobs` concurrent submits and `pollers` pollers against the service at `url`."""
    import httpx

    load, ids = Load(), []
    started = time.monotonic()
    limits = httpx.Limits(max_connections=jobs + 8)
    async with httpx.AsyncClient(base_url=url, timeout=60, trust_env=False, limits=limits) as client:
        deadline = started + timeout_s
        polling = [asyncio.create_task(_poll(url, i, load, ids, deadline)) for i in range(pollers)]
        await asyncio.gather(*(_submit(client, clip, seed, load, ids) for seed in range(jobs)))
        load.submitted = True
        await asyncio.gather(*polling)
    load.wall_s = time.monotonic() - started
    return load


def _rows(load: Load, jobs: int, pollers: int) -> list[list[object]]:
    def row(name: str, values: list[float], errors: list[str]) -> list[object]:
        if not values:
            return [name, "-", "-", "-", len(values), len(errors)]
        ms = [percentile(values, 50) * 1000, percentile(values, 99) * 1000, max(values) * 1000]
        return [name, *ms, len(values), len(errors)]

    return [
        row(f"POST /v1/jobs, {jobs} at once", load.submit_s, load.submit_errors),
        row(f"GET /v1/jobs/{{id}}, {pollers} pollers", load.poll_s, load.poll_errors),
    ]


def run(seconds: float | None = None, jobs: int = 30, pollers: int = 8, timeout_s: float = 600.0) -> str:
    """Measure and return the printed table; `seconds` is the clip length (default 1.0)."""
    from ..demo_clip import make_performer_clip

    seconds = seconds or 1.0
    with tempfile.TemporaryDirectory(prefix="expotion-bench-load-") as tmp:
        clip = make_performer_clip(Path(tmp) / "clip.mp4", duration=seconds, size=(160, 90))
        server = ServeProcess(Path(tmp) / "work", ["--queue-size", str(max(jobs + 8, 64))])
        try:
            load = asyncio.run(measure(server.url, clip, jobs, pollers, timeout_s))
        finally:
            server.stop()
    done = sum(status == "succeeded" for status in load.statuses.values())
    head = (
        f"latency under load, `serve --model tiny`, {seconds:.1f} s clip 160x90: {jobs} submits at once, "
        f"{pollers} pollers until every job finished; jobs succeeded {done} of {jobs}, "
        f"wall {load.wall_s:.1f} s"
    )
    headers = ["request", "p50 ms", "p99 ms", "max ms", "requests", "errors"]
    errors = sorted(set(load.submit_errors + load.poll_errors))
    return (
        head + "\n" + table(headers, _rows(load, jobs, pollers)) + (f"\nerrors: {', '.join(errors)}" if errors else "")
    )
