"""Uploads from outside (a real `serve`, loopback, raw sockets where a client must misbehave):

- a stalled upload (headers and part of the body, then nothing) is answered `408` after the read
  timeout and its partial file is removed;
- uploads beyond the cap are answered `503` with `Retry-After` before their body is read, and
  uploads work again once the stalled ones are gone;
- a client that drops the connection mid-upload, and a service killed (SIGKILL) mid-upload or
  mid-download, leave no job the client never learned of and nothing on disk after the next start's
  sweep; a finished result downloads bit-identical after the kill.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

BOUNDARY = "expotion-test-boundary"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


def form(clip: Path, seed: int, **params) -> dict:
    return {
        "files": {"video": (clip.name, clip.read_bytes(), "video/mp4")},
        "data": {"params": json.dumps({"seed": seed, **params})},
    }


def half_upload(url: str) -> socket.socket:
    """A POST /v1/jobs whose multipart body stops half way through a 3 MiB video part (the socket
    stays open): the service has begun writing the upload (it writes in 1 MiB batches)."""
    video = os.urandom(3 << 20)
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="params"\r\n\r\n{{}}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="video"; filename="clip.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    length = len(head) + len(video) + len(tail)
    where = urlsplit(url)
    sock = socket.create_connection((where.hostname, where.port), timeout=30)
    request = (
        f"POST /v1/jobs HTTP/1.1\r\nHost: {where.netloc}\r\nContent-Length: {length}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n"
    ).encode()
    sock.sendall(request + head + video[: len(video) // 2])
    return sock


def response_status(sock: socket.socket) -> int:
    """The status code of the response the service sends on this socket."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed without a response")
        data += chunk
    return int(data.split(b" ", 2)[1])


def leftovers(work: Path) -> list[str]:
    """Files under uploads/ (partial or whole) that no job holds."""
    return sorted(p.name for p in (work / "uploads").glob("*") if p.is_file())


async def wait_for(predicate, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_stalled_uploads_get_408_and_leave_nothing_and_the_cap_answers_503(
    server_factory, clip, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    server = server_factory(work, "--upload-read-timeout", "1.5", "--max-concurrent-uploads", "3")
    stalled = [half_upload(server.url) for _ in range(3)]
    async with server.client() as client:
        await wait_for(lambda: len([p for p in (work / "uploads").glob(".upload-*.part")]) == 3)
        refused = await client.post("/v1/jobs", **form(clip, seed=1))
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5", refused.text
        assert "limit is 3" in refused.json()["detail"]
        started = time.monotonic()
        statuses = [await asyncio.to_thread(response_status, sock) for sock in stalled]
        assert statuses == [408, 408, 408], statuses
        assert time.monotonic() - started < 10
        for sock in stalled:
            sock.close()
        assert leftovers(work) == []  # the partial uploads were removed
        accepted = await client.post("/v1/jobs", **form(clip, seed=1))
        assert accepted.status_code == 202, accepted.text
        assert (await client.get("/v1/jobs")).json()["jobs"][0]["id"] == accepted.json()["id"]
    assert "Traceback" not in "".join(server.log)


async def test_drops_and_kills_mid_transfer_leave_no_ghost_job_and_nothing_on_disk(
    server_factory, clip, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    server = server_factory(work)
    async with server.client() as client:
        done = (await client.post("/v1/jobs", **form(clip, seed=7))).json()["id"]
        async with asyncio.timeout(180):
            while (await client.get(f"/v1/jobs/{done}")).json()["status"] != "succeeded":
                await asyncio.sleep(0.05)
        wav = (await client.get(f"/v1/jobs/{done}/result")).content
        # the client drops the connection mid-upload: no job, no file
        half_upload(server.url).close()
        await wait_for(lambda: not list((work / "uploads").glob(".upload-*.part")))
        assert [job["id"] for job in (await client.get("/v1/jobs")).json()["jobs"]] == [done]
        # the client drops mid-download: the result is intact
        async with client.stream("GET", f"/v1/jobs/{done}/result") as response:
            await anext(response.aiter_bytes(1024))
    # the service is killed mid-upload and mid-download
    sock = half_upload(server.url)
    await wait_for(lambda: bool(list((work / "uploads").glob(".upload-*.part"))))
    async with server.client() as client, client.stream("GET", f"/v1/jobs/{done}/result") as response:
        await anext(response.aiter_bytes(1024))
        assert server.proc is not None
        server.proc.kill()
        server.proc.wait(10)
    sock.close()

    again = server_factory(work)
    async with again.client() as client:
        assert [job["id"] for job in (await client.get("/v1/jobs")).json()["jobs"]] == [done]
        assert leftovers(work) == []  # the sweep at start removed the partial upload
        assert (await client.get(f"/v1/jobs/{done}/result")).content == wav
