"""The service on Ray Serve with real parts: a local Ray instance, 2 generator replicas of the tiny model,
HTTP through Serve's proxy. The same API and job semantics as the single-process service: the extension's
own client works unchanged; 8 jobs at once all succeed with exact lengths on both replicas; cancel
reaches jobs on either replica; a generator replica killed mid-job is restarted and every job still
succeeds; adapter jobs go to the replica holding the adapter; a killed ingress comes back and resumes its jobs from the job store. (Tests run in file order.)"""

from __future__ import annotations

import io
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import soundfile as sf

from expotion_blender.client import Client, ClientSettings, ServiceError
from expotion_protocol.params import JobParams
from expotion_protocol.wire import read_wav_info

from .conftest import RayService, params, replica_pids

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

DEADLINE = 600.0  # generous: this machine's 2 cores are shared; a deadline, not a speed assertion
TERMINAL = ("succeeded", "failed", "cancelled")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(ray_service: RayService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=ray_service.url, timeout=120, trust_env=False) as c:
        yield c


async def status(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    r = await client.get(f"/v1/jobs/{job_id}")
    r.raise_for_status()
    return r.json()


async def healthy(client: httpx.AsyncClient) -> bool:
    """Whether the service answers its health check now; a request that times out while Serve
    starts a replica (minutes on a loaded machine) counts as not yet."""
    try:
        return (await client.get("/v1/health")).status_code == 200
    except httpx.TimeoutException:
        return False


async def wait_until(client: httpx.AsyncClient, job_ids: list[str], done: Any) -> list[dict[str, Any]]:
    """Poll until `done(statuses)` -> the statuses then."""
    with anyio.fail_after(DEADLINE):
        while True:
            statuses = [await status(client, j) for j in job_ids]
            if done(statuses):
                return statuses
            await anyio.sleep(0.1)


async def finished(client: httpx.AsyncClient, job_ids: list[str]) -> list[dict[str, Any]]:
    return await wait_until(client, job_ids, lambda ss: all(s["status"] in TERMINAL for s in ss))


async def generating(client: httpx.AsyncClient, job_ids: list[str], count: int) -> None:
    """Until `count` of the jobs are in their generation steps (progress flows back from the replicas)."""
    await wait_until(
        client, job_ids, lambda ss: sum(s["status"] == "running" and s["phase"] == "generate" for s in ss) >= count
    )


async def submit(
    client: httpx.AsyncClient, ray_service: RayService, upload: bool = False, long: bool = False, **values: Any
) -> str:
    clip = ray_service.long_clip if long else ray_service.clip
    files = {"video": ("clip.mp4", clip.read_bytes(), "video/mp4")} if upload else None
    if not upload:
        values["path"] = str(clip)
    r = await client.post("/v1/jobs", files=files, data=params(**values))
    assert r.status_code == 202, r.text
    return r.json()["id"]


async def test_the_extension_client_talks_to_it_unchanged(ray_service: RayService, tmp_path: Path) -> None:
    client = Client(ClientSettings(base_url=ray_service.url, poll_interval_s=0.1, timeout_s=60, job_timeout_s=DEADLINE))

    def scenario() -> None:
        health = client.health()
        assert health.path_mode and health.device == "ray" and health.untrained
        uploaded = client.submit(JobParams(prompt="contract", seed=4, duration=0.5), str(ray_service.clip))
        by_path = client.submit(JobParams(seed=5, start=0.25, end=0.75, path=str(ray_service.clip)))
        for job_id in (uploaded, by_path):
            result = client.wait(job_id)
            assert result.num_samples == 16000 and result.untrained
            client.download(job_id, 0, str(tmp_path / f"{job_id}.wav"))
            assert read_wav_info(str(tmp_path / f"{job_id}.wav")).num_samples == 16000
        assert client.analyze(JobParams(end=1.0), str(ray_service.clip))["suggested_prompt"]
        with pytest.raises(ServiceError) as bad:
            client.submit(JobParams(duration=5.0), str(ray_service.clip))
        assert bad.value.status == 422 and "past the clip end" in bad.value.message and bad.value.hint

    await anyio.to_thread.run_sync(scenario)


async def test_eight_jobs_at_once_all_succeed_with_exact_lengths_on_both_replicas(
    ray_service: RayService, client: httpx.AsyncClient
) -> None:
    ids: list[str] = [""] * 8

    async def one(i: int) -> None:
        ids[i] = await submit(client, ray_service, upload=i % 2 == 0, seed=100 + i, duration=0.5)

    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(one, i)
    async with client.stream("GET", f"/v1/jobs/{ids[7]}/events") as events:  # progress over SSE, through Ray
        lines = [line async for line in events.aiter_lines() if line.startswith("event:")]
    assert lines[-1] == "event: done"
    statuses = await finished(client, ids)
    assert [s["status"] for s in statuses] == ["succeeded"] * 8
    for job_id in ids:
        r = await client.get(f"/v1/jobs/{job_id}/result")
        assert sf.info(io.BytesIO(r.content)).frames == 16000
        assert json.loads(r.headers["X-Expotion-Metadata"])["num_samples"] == 16000
    replicas = {s["result"]["replica"] for s in statuses}
    assert len(replicas) == 2 and all(name.startswith("Generator#") for name in replicas)


async def test_cancel_reaches_a_running_job_on_either_replica(
    ray_service: RayService, client: httpx.AsyncClient
) -> None:
    ids = [await submit(client, ray_service, long=True, seed=200 + i) for i in range(2)]
    await generating(client, ids, 2)  # one job per replica at a time: both replicas are generating
    async with anyio.create_task_group() as tg:
        for job_id in ids:
            tg.start_soon(client.delete, f"/v1/jobs/{job_id}")
    statuses = await finished(client, ids)
    assert [(s["status"], s["attempts"]) for s in statuses] == [("cancelled", 1)] * 2
    after = await submit(client, ray_service, seed=210, duration=0.5)  # both replicas took new work after
    assert (await finished(client, [after]))[0]["status"] == "succeeded"


async def test_jobs_for_an_adapter_go_to_the_replica_that_holds_it(
    ray_service: RayService, client: httpx.AsyncClient
) -> None:
    assert [a["name"] for a in (await client.get("/v1/models")).json()["adapters"]] == ["dance"]
    results = []
    for seed in range(4):  # one after the other: both replicas are free each time (by chance: 1 in 8)
        job_id = await submit(client, ray_service, seed=250 + seed, duration=0.5, adapter="dance")
        (done,) = await finished(client, [job_id])
        assert done["status"] == "succeeded", done["error"]
        results.append(done["result"])
    assert {r["adapter"] for r in results} == {"dance"} and {r["visual"] for r in results} == {"present"}
    assert len({r["replica"] for r in results}) == 1  # Serve routes them to the replica that loaded it


async def test_a_generator_replica_killed_mid_job_is_restarted_and_every_job_succeeds(
    ray_service: RayService, client: httpx.AsyncClient
) -> None:
    ids = [await submit(client, ray_service, long=True, seed=300 + i, duration=6.0) for i in range(3)]
    await generating(client, ids, 2)
    pids = replica_pids("Generator")
    assert len(pids) == 2
    os.kill(pids[0], signal.SIGKILL)
    statuses = await finished(client, ids)
    assert [s["status"] for s in statuses] == ["succeeded"] * 3
    assert max(s["attempts"] for s in statuses) == 2  # the killed replica's job ran again
    assert all(s["result"]["num_samples"] == 6 * 32000 for s in statuses)
    health = (await client.get("/v1/health")).json()
    assert health["status"] == "ok" and health["queue_depth"] == 0


async def test_a_killed_ingress_comes_back_and_resumes_its_jobs(
    ray_service: RayService, client: httpx.AsyncClient
) -> None:
    ids = [await submit(client, ray_service, long=True, seed=400 + i, duration=6.0) for i in range(3)]
    await generating(client, ids, 1)
    (ingress,) = replica_pids("Ingress")
    os.kill(ingress, signal.SIGKILL)
    with anyio.fail_after(DEADLINE):  # Serve starts a new ingress replica; the job store is where it was
        while not await healthy(client):  # requests meanwhile wait in Serve's proxy
            await anyio.sleep(0.2)
    statuses = await finished(client, ids)
    assert [s["status"] for s in statuses] == ["succeeded"] * 3
    assert all(s["resumed"] == 1 for s in statuses if s["attempts"] > 1)
    assert any(s["resumed"] == 1 for s in statuses)
