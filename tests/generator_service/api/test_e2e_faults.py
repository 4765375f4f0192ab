"""Faults found from outside (issue #27), each reproduced against a real `serve --model tiny` process
on loopback: kills (SIGKILL) while the model loads, a cancel then lost to a kill, ghost jobs found by
their Idempotency-Key, partial results a kill left, 429's Retry-After."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import job_form, wait_done

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

#: Generous bounds: a loaded 2-core machine is slow, not broken.
LOAD_S = 120.0


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


async def wait_phase(client: httpx.AsyncClient, job_id: str, phase: str, timeout: float = LOAD_S) -> dict[str, Any]:
    """Poll until the job is in `phase` -> its status JSON."""
    async with asyncio.timeout(timeout):
        while (status := (await client.get(f"/v1/jobs/{job_id}")).json())["phase"] != phase:
            assert status["status"] in ("queued", "running"), status
            await asyncio.sleep(0.005)
    return status


def kill(server) -> None:
    """SIGKILL: no graceful shutdown, the records stay as they were."""
    server.proc.kill()
    server.proc.wait(10)


async def test_a_kill_while_the_model_loads_does_not_count_an_attempt(server_factory, clip2, tmp_path: Path) -> None:
    work = tmp_path / "work"
    server = server_factory(work, "--max-attempts", "1")
    async with server.client() as client:
        job_id = (await client.post("/v1/jobs", **job_form(clip2, seed=3, end=0.5))).json()["id"]
        status = await wait_phase(client, job_id, "load_model")
    assert (status["status"], status["attempts"]) == ("running", 0)
    kill(server)

    again = server_factory(work, "--max-attempts", "1")
    async with again.client() as client:
        status = await wait_done(client, job_id, LOAD_S)
    assert status["status"] == "succeeded", status
    assert (status["attempts"], status["resumed"]) == (1, 1)


async def test_a_cancel_answered_during_the_model_load_survives_a_kill(server_factory, clip2, tmp_path: Path) -> None:
    work = tmp_path / "work"
    server = server_factory(work)
    async with server.client() as client:
        job_id = (await client.post("/v1/jobs", **job_form(clip2, seed=4, end=0.5))).json()["id"]
        await wait_phase(client, job_id, "load_model")
        answer = await client.delete(f"/v1/jobs/{job_id}")
    assert answer.status_code in (200, 202), answer.text  # 202: still loading after 5 s; it ends cancelled
    kill(server)

    again = server_factory(work)
    async with again.client() as client:
        status = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert status["status"] == "cancelled", status
    assert status["attempts"] == 0


async def test_a_job_whose_answer_was_lost_is_found_by_its_idempotency_key(
    server_factory, clip, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    server = server_factory(work)
    key = {"Idempotency-Key": "b7e4c0de-0001"}
    async with server.client() as client:
        first = (await client.post("/v1/jobs", **job_form(clip, seed=5, end=0.5), headers=key)).json()
    kill(server)  # as if the 202 never reached the client

    again = server_factory(work)
    async with again.client() as client:
        retry = await client.post("/v1/jobs", **job_form(clip, seed=5, end=0.5), headers=key)
        assert (retry.status_code, retry.json()["id"]) == (202, first["id"])
        other = await client.post("/v1/jobs", **job_form(clip, seed=6, end=0.5), headers=key)
        assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"], other.text
        assert other.json()["hint"] and other.json()["error_id"]
        listed = (await client.get("/v1/jobs", params={"limit": 5})).json()["jobs"]
        assert [job["id"] for job in listed] == [first["id"]]
        assert (await client.get("/v1/jobs", params={"status": "failed"})).json()["jobs"] == []


async def test_partial_result_files_a_kill_left_are_removed_at_start(server_factory, clip, tmp_path: Path) -> None:
    work = tmp_path / "work"
    server = server_factory(work)
    async with server.client() as client:
        job_id = (await client.post("/v1/jobs", **job_form(clip, seed=7, end=0.5))).json()["id"]
        assert (await wait_done(client, job_id, LOAD_S))["status"] == "succeeded"
    kill(server)
    folder = work / "results" / job_id
    partials = [folder / ".take-1-x1y2.wav", folder / ".metadata.json.part"]  # as a kill mid-write leaves them
    for partial in partials:
        partial.write_bytes(b"RIFF half")

    server_factory(work)
    assert not any(p.exists() for p in partials)
    assert (folder / "take-0.wav").is_file() and (folder / "metadata.json").is_file()
