"""End to end against a real `python -m generator_service serve --model tiny` process on loopback:
SSE to completion, exact WAV length, cancel frees the worker, 50 concurrent submissions with a
queue of 8, bad uploads, and a restart that keeps earlier results. Tests run in file order and
share one server (the last one restarts it)."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import time
import wave
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

RESULTS: dict[str, bytes] = {}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-work")


@pytest.fixture(scope="module")
def server(server_factory, work_dir):
    return server_factory(work_dir, "--queue-size", "8", "--max-upload-mb", "2")


def form(clip: Path, **params) -> dict:
    return {"files": {"video": (clip.name, clip.read_bytes(), "video/mp4")}, "data": {"params": json.dumps(params)}}


async def follow(client: httpx.AsyncClient, job_id: str, timeout: float = 60.0) -> list[tuple[str, dict, float]]:
    """(event, data, arrival time) of the job's server-sent events until `done`."""
    events: list[tuple[str, dict, float]] = []
    async with asyncio.timeout(timeout), client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        name = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:]), time.monotonic()))
    return events


def samples(data: bytes) -> int:
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (32000, 1, 2)
        return w.getnframes()


async def test_submit_follow_events_and_download_exact_length(server, clip) -> None:
    async with server.client() as client:
        health = (await client.get("/v1/health")).json()
        assert health["untrained"] and health["model"] == "tiny" and health["model_loaded"] is False
        r = await client.post("/v1/jobs", **form(clip, prompt="e2e", seed=1, start=0.12, end=0.93))
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        events = await follow(client, job_id)
        assert events[-1][0] == "done" and events[-1][1]["status"] == "succeeded"
        phases = {data["phase"] for name, data, _ in events if name == "progress"}
        assert "generate" in phases
        assert len([e for e in events if e[0] == "progress"]) >= 3  # streamed while running, not at the end
        wav = await client.get(f"/v1/jobs/{job_id}/result")
        assert samples(wav.content) == round((0.93 - 0.12) * 32000) == events[-1][1]["result"]["num_samples"]
        RESULTS[job_id] = wav.content
        assert (await client.get("/v1/health")).json()["model_loaded"] is True


async def test_cancel_mid_generation_frees_the_worker_at_once(server, media) -> None:
    """The worker leaves a cancelled job within a step or so: the next job starts long before the
    cancelled one could have finished (judged against the job's own measured speed, so a loaded
    machine slows both sides alike; `bench service` reports the absolute figures)."""
    from generator_service.demo_clip import make_performer_clip

    long_clip = make_performer_clip(media / "performer-20s.mp4", duration=20.0, fps=25, size=(160, 90), seed=5)
    async with server.client() as client:
        long_id = (await client.post("/v1/jobs", **form(long_clip, seed=11, guidance=1.0))).json()["id"]
        next_id = (await client.post("/v1/jobs", **form(long_clip, seed=12, end=0.5))).json()["id"]
        seen: list[tuple[float, float]] = []  # (time, progress) while generating
        async with asyncio.timeout(120):
            while len(seen) < 2 or seen[-1][1] - seen[0][1] < 0.02:
                status = (await client.get(f"/v1/jobs/{long_id}")).json()
                if status["phase"] == "generate":
                    seen.append((time.monotonic(), status["progress"]))
                await asyncio.sleep(0.01)
        (t0, p0), (t1, p1) = seen[0], seen[-1]
        left_s = (1.0 - p1) * (t1 - t0) / (p1 - p0)  # what the long job still needed at its own speed
        cancelled_at = time.monotonic()
        r = await client.delete(f"/v1/jobs/{long_id}")
        assert r.status_code == 200 and r.json() == {"id": long_id, "status": "cancelled"}
        async with asyncio.timeout(120):
            while (await client.get(f"/v1/jobs/{next_id}")).json()["status"] == "queued":
                await asyncio.sleep(0.005)
        freed_s = time.monotonic() - cancelled_at
        assert freed_s < left_s / 4, (freed_s, left_s)
        events = await follow(client, next_id)
        assert events[-1][1]["status"] == "succeeded" and events[-1][1]["result"]["num_samples"] == 16000
        assert (await client.get(f"/v1/jobs/{long_id}")).json()["status"] == "cancelled"
        print(f"worker free {freed_s * 1000:.0f} ms after the cancel ({left_s:.1f} s of the job were left)")


async def test_fifty_concurrent_submissions_with_a_queue_of_eight(server, clip) -> None:
    async with server.client() as client:
        started = time.monotonic()
        responses = await asyncio.gather(
            *(client.post("/v1/jobs", **form(clip, seed=100 + i, end=0.5, guidance=1.0)) for i in range(50))
        )
        burst = time.monotonic() - started
        accepted = [r.json()["id"] for r in responses if r.status_code == 202]
        rejected = [r for r in responses if r.status_code != 202]
        assert all(r.status_code == 429 and r.json()["hint"] and r.json()["error_id"] for r in rejected)
        assert len(accepted) >= 8 and len(rejected) >= 20, (len(accepted), len(rejected), burst)
        assert len(set(accepted)) == len(accepted)
        audio = set()
        async with asyncio.timeout(120):
            for job_id in accepted:
                events = await follow(client, job_id)
                result = events[-1][1]["result"]
                assert events[-1][1]["status"] == "succeeded" and result["num_samples"] == 16000
                wav = (await client.get(f"/v1/jobs/{job_id}/result")).content
                assert samples(wav) == 16000
                audio.add(wav)
        assert len(audio) == len(accepted)  # every job has its own take (distinct seeds)
        health = (await client.get("/v1/health")).json()
        assert health["status"] == "ok" and health["queue_depth"] == 0
        print(f"burst of 50 in {burst:.2f} s: {len(accepted)} accepted, {len(rejected)} got 429")


def raw_request(url: str, head: str, body: bytes = b"") -> tuple[int, dict]:
    """Send a hand-made request (e.g. a lying Content-Length) -> (status, JSON body)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1])


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


async def test_bad_uploads_get_clear_4xx_then_a_good_job_succeeds(server, clip, tmp_path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a movie\n" * 100)
    data = clip.read_bytes()
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(data[: len(data) // 3])
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * (3 * 2**20))
    async with server.client() as client:
        for path, status, word in [
            (text, 422, "not a readable media file"),
            (truncated, 422, "cut.mp4"),
            (empty, 422, "empty"),
            (big, 413, "limit"),
        ]:
            r = await client.post("/v1/jobs", **form(path))
            assert r.status_code == status and word in r.json()["detail"] and r.json()["hint"], r.text
    head = (
        "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {10**12}\r\nConnection: close\r\n\r\n"
    )
    status, body = raw_request(server.url, head, b"--x\r\n")
    assert status == 413 and "exceeds the limit" in body["detail"] and body["error_id"]
    async with server.client() as client:
        assert (await client.get("/v1/health")).json()["status"] == "ok"
        job_id = (await client.post("/v1/jobs", **form(clip, seed=21))).json()["id"]
        assert (await follow(client, job_id))[-1][1]["status"] == "succeeded"


async def test_restart_keeps_earlier_results(server, server_factory, work_dir) -> None:
    assert RESULTS, "the first test must have produced a result"
    assert server.stop() == 0
    again = server_factory(work_dir)
    async with again.client() as client:
        for job_id, audio in RESULTS.items():
            status = (await client.get(f"/v1/jobs/{job_id}")).json()
            assert status["status"] == "succeeded"
            assert (await client.get(f"/v1/jobs/{job_id}/result")).content == audio
