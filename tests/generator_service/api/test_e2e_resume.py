"""A real `serve` process killed (SIGKILL) mid-generation: the next process resumes the job and
finishes it, and its status says it was resumed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


async def test_a_job_running_when_the_service_is_killed_is_resumed_by_the_next_one(
    server_factory, clip2, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    server = server_factory(work)
    form = {
        "files": {"video": (clip2.name, clip2.read_bytes(), "video/mp4")},
        "data": {"params": json.dumps({"seed": 31, "end": 1.5})},
    }
    async with server.client() as client:
        job_id = (await client.post("/v1/jobs", **form)).json()["id"]
        async with asyncio.timeout(180):  # generous: a loaded 2-core machine is slow, not broken
            # killed as soon as its own work runs (features or generation; its attempt is counted once
            # the model loaded): the widest window, so a loaded machine cannot finish the tiny model's
            # generation before the kill lands
            while (await client.get(f"/v1/jobs/{job_id}")).json()["attempts"] < 1:
                await asyncio.sleep(0.005)
    assert server.proc is not None
    server.proc.kill()  # no graceful shutdown: the record stays "running"
    server.proc.wait(10)

    again = server_factory(work)
    async with again.client() as client:
        async with asyncio.timeout(180):  # generous: a loaded 2-core machine is slow, not broken
            while (status := (await client.get(f"/v1/jobs/{job_id}")).json())["status"] in ("queued", "running"):
                await asyncio.sleep(0.05)
        assert status["status"] == "succeeded", status
        assert (status["resumed"], status["attempts"]) == (1, 2)
        assert status["result"]["num_samples"] == 48000
        assert len((await client.get(f"/v1/jobs/{job_id}/result")).content) > 96000
    assert "resuming 1 job(s)" in "".join(again.log)
