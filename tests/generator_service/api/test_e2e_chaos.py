"""Chaos (issue #23): a batch of distinct jobs against a real `serve --model tiny` that is killed
(SIGKILL) at seeded random moments — mid-submit, while the model loads, mid-generation, while the
result is written — and restarted on the same work dir each time. The client retries like an
operator's script: every submit carries an Idempotency-Key and is resent with it until answered;
429/503 are waited out; the batch is polled until every job is terminal.

Asserted: 0 lost (every key maps to a job, every job is in GET /v1/jobs), 0 duplicated (one job per
key, one result folder per job holding exactly its takes), 0 stuck (all succeeded within a bounded
wall time), every take exactly `round(duration * 32000)` samples, and a sample of the jobs
bit-identical to the same jobs on a fresh service that was never killed. The figures are printed
(`pytest -s`) so they can be copied.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from generator_service.demo_clip import make_performer_clip

from .server import ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SEED = 2312  # the kill schedule's RNG: the same moments are aimed at on every run
JOBS = 40
KILLS = 8
SAMPLE = 4  # jobs re-run on a fresh service and compared bit for bit
WALL_S = 420.0  # bound on the whole batch (target <= 4 min on a 2-core machine; generous when loaded)
TARGET_S = 20.0  # how long a kill waits for its moment before it lands anyway ("late")
#: the poison-job guard (`--max-attempts`, default 3) is not under test: a job the schedule hits
#: mid-generation several times must not fail for it
SERVE_ARGS = ("--queue-size", "64", "--max-attempts", "20")
TERMINAL = ("succeeded", "failed", "cancelled")


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class Spec:
    key: str
    clip: int
    params: dict[str, Any]

    @property
    def samples(self) -> int:
        return round((self.params["end"] - self.params["start"]) * 32000)


def batch(rng: random.Random) -> list[Spec]:
    """`JOBS` distinct jobs over 3 clips: different seeds and ranges, some with 2-3 takes."""
    specs = []
    for i in range(JOBS):
        start = rng.choice([0.0, 0.1, 0.25])
        end = round(start + rng.choice([0.2, 0.3, 0.4]), 2)
        variants = rng.choice([1, 1, 1, 2, 3])
        params = {"seed": 1000 + i, "start": start, "end": end, "variants": variants, "beat_lock": "off"}
        specs.append(Spec(f"chaos-{SEED}-{i:03d}", i % 3, params))
    return specs


def kill_plan(rng: random.Random) -> list[tuple[str, float]]:
    """(moment, extra delay s) of each kill: 3 during the submits, the rest spread over the work."""
    later = ["load_model", "load_model", "generate", "generate", "write"]
    later += [rng.choice(["generate", "decode", "write", "random"]) for _ in range(KILLS - 3 - len(later))]
    rng.shuffle(later)
    return [("submit", rng.uniform(0.0, 0.005)) for _ in range(3)] + [(m, rng.uniform(0.0, 0.02)) for m in later]


@dataclass
class Chaos:
    """The service under test (restarted after each kill) and a client that outlives it."""

    work: Path
    server: ServerProcess
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    inflight: int | None = None  # index of the submit being sent
    submitted: int = 0
    resent: set[str] = field(default_factory=set)  # keys whose submit a kill cut and was sent again
    restarts: float = 0.0  # seconds spent starting services

    def client(self) -> httpx.AsyncClient:
        url = self.server.url
        if url not in self.clients:
            self.clients[url] = self.server.client(timeout=30)
        return self.clients[url]

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, resent (as an operator's script would) until a live service answers it."""
        while True:
            try:
                response = await self.client().request(method, path, **kwargs)
            except httpx.TransportError:  # killed mid-request, or not back yet
                await asyncio.sleep(0.1)
                continue
            if response.status_code in (429, 503):
                await asyncio.sleep(min(float(response.headers.get("retry-after", "1")), 2.0))
                continue
            return response

    async def kill_and_restart(self) -> None:
        assert self.server.proc is not None
        self.server.proc.kill()
        self.server.proc.wait(10)
        started = time.monotonic()
        self.server = await asyncio.to_thread(ServerProcess(self.work, list(SERVE_ARGS)).start)
        self.restarts += time.monotonic() - started

    async def running_phases(self) -> set[str]:
        try:
            answer = await self.client().get("/v1/jobs", params={"status": "running", "limit": 10})
        except httpx.TransportError:
            return set()
        return {job["phase"] for job in answer.json()["jobs"]} if answer.status_code == 200 else set()


def form(spec: Spec, clips: list[Path]) -> dict[str, Any]:
    clip = clips[spec.clip]
    return {
        "files": {"video": (clip.name, clip.read_bytes(), "video/mp4")},
        "data": {"params": json.dumps(spec.params)},
        "headers": {"Idempotency-Key": spec.key},
    }


async def submit_all(chaos: Chaos, specs: list[Spec], clips: list[Path], ids: dict[str, str]) -> None:
    for i, spec in enumerate(specs):
        while True:
            chaos.inflight = i  # only while the request is outstanding: a "submit" kill cuts one
            try:
                answer = await chaos.client().post("/v1/jobs", **form(spec, clips))
            except httpx.TransportError:  # cut by a kill: resent with the same key
                chaos.resent.add(spec.key)
                await asyncio.sleep(0.1)
                continue
            finally:
                chaos.inflight = None
            if answer.status_code not in (429, 503):
                break
            await asyncio.sleep(1.0)
        assert answer.status_code == 202, answer.text
        assert ids.setdefault(spec.key, answer.json()["id"]) == answer.json()["id"]
        chaos.submitted = i + 1
        await asyncio.sleep(0.05)  # an operator's script, not a flood: submits span the first kills


async def aim(chaos: Chaos, moment: str, rng: random.Random) -> bool:
    """Wait for `moment` on the current service -> whether it came before `TARGET_S`."""
    deadline = time.monotonic() + TARGET_S
    while time.monotonic() < deadline:
        if moment == "submit":
            if chaos.inflight is None and chaos.submitted == JOBS:
                return False
            if chaos.inflight is not None:
                return True
            await asyncio.sleep(0.002)
        elif moment == "random":
            await asyncio.sleep(rng.uniform(0.5, 4.0))
            return True
        elif moment in await chaos.running_phases():
            return True
        else:
            await asyncio.sleep(0.005)
    return False


async def kill_on_schedule(chaos: Chaos, plan: list[tuple[str, float]], rng: random.Random) -> list[str]:
    hits = []
    for moment, delay in plan:
        on_time = await aim(chaos, moment, rng)
        await asyncio.sleep(delay)
        hits.append(moment if on_time else f"{moment} (late)")
        await chaos.kill_and_restart()
        await asyncio.sleep(rng.uniform(0.3, 1.5))  # the next moment comes after the service is up
    return hits


async def wait_terminal(chaos: Chaos, ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    statuses: dict[str, dict[str, Any]] = {}
    while len(statuses) < len(ids):
        for job_id in ids.values():
            if job_id not in statuses:
                status = (await chaos.call("GET", f"/v1/jobs/{job_id}")).json()
                if status["status"] in TERMINAL:
                    statuses[job_id] = status
        await asyncio.sleep(0.2)
    return statuses


def wav_samples(content: bytes) -> int:
    with wave.open(io.BytesIO(content)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (32000, 1, 2)
        return wav.getnframes()


async def takes_of(call, job_id: str, takes: int) -> list[bytes]:
    out = []
    for take in range(takes):
        answer = await call("GET", f"/v1/jobs/{job_id}/result", params={"take": take})
        assert answer.status_code == 200, answer.text
        out.append(answer.content)
    return out


async def test_a_batch_survives_kills_at_random_moments_with_nothing_lost_duplicated_or_stuck(
    server_factory, media: Path, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    clips = [
        make_performer_clip(media / f"chaos-{n}.mp4", duration=0.8, fps=25, size=(96, 54), seed=40 + n)
        for n in range(3)
    ]
    specs, plan = batch(rng), kill_plan(rng)
    assert len({json.dumps([s.clip, s.params], sort_keys=True) for s in specs}) == JOBS  # distinct: no cache hits
    work = tmp_path / "work"
    began = time.monotonic()
    chaos = Chaos(work, server_factory(work, *SERVE_ARGS))
    ids: dict[str, str] = {}
    try:
        async with asyncio.timeout(WALL_S):
            submits = asyncio.create_task(submit_all(chaos, specs, clips, ids))
            hits = await kill_on_schedule(chaos, plan, rng)
            await submits
            statuses = await wait_terminal(chaos, ids)
            wall = time.monotonic() - began
            listed = (await chaos.call("GET", "/v1/jobs", params={"limit": 1000})).json()["jobs"]
            # every success exact in length, checked on the downloaded WAVs
            for spec in specs:
                for content in await takes_of(chaos.call, ids[spec.key], spec.params["variants"]):
                    assert wav_samples(content) == spec.samples, (spec, ids[spec.key])
            sample = rng.sample(specs, SAMPLE)
            chaotic = {spec.key: await takes_of(chaos.call, ids[spec.key], spec.params["variants"]) for spec in sample}
    finally:
        for client in chaos.clients.values():
            await client.aclose()
        chaos.server.stop()

    lost = [spec.key for spec in specs if spec.key not in ids]
    lost += [job_id for job_id in ids.values() if job_id not in {job["id"] for job in listed}]
    duplicated = len(listed) - len(set(ids.values())) + (len(ids) - len(set(ids.values())))
    stuck = [job_id for job_id, status in statuses.items() if status["status"] != "succeeded"]
    folders = sorted(p.name for p in (work / "results").iterdir())
    takes = sum(spec.params["variants"] for spec in specs)
    print(
        f"\nchaos: {JOBS} jobs, {takes} takes, {KILLS} kills (seed {SEED}: {', '.join(hits)}), "
        f"{len(chaos.resent)} submits cut and resent, resumed {sum(s['resumed'] for s in statuses.values())}, "
        f"max attempts {max(s['attempts'] for s in statuses.values())}; lost {len(lost)}, duplicated "
        f"{duplicated}, stuck {len(stuck)}; wall {wall:.1f} s (of which restarts {chaos.restarts:.1f} s)"
    )
    assert lost == [] and duplicated == 0 and stuck == [], (lost, duplicated, stuck)
    assert len(hits) == KILLS
    assert folders == sorted(ids.values())  # one result folder per job, none for a job that does not exist
    for spec in specs:
        files = sorted(p.name for p in (work / "results" / ids[spec.key]).iterdir())
        assert files == sorted(["metadata.json", *(f"take-{t}.wav" for t in range(spec.params["variants"]))])
        assert statuses[ids[spec.key]]["result"]["num_samples"] == spec.samples

    # the same jobs on a fresh service that was never killed: bit-identical takes
    fresh = server_factory(tmp_path / "fresh", *SERVE_ARGS)
    calm = Chaos(tmp_path / "fresh", fresh)
    try:
        async with asyncio.timeout(180):
            fresh_ids = {}
            for spec in sample:
                fresh_ids[spec.key] = (await calm.call("POST", "/v1/jobs", **form(spec, clips))).json()["id"]
            done = await wait_terminal(calm, fresh_ids)
            assert {s["status"] for s in done.values()} == {"succeeded"}, done
            for spec in sample:
                assert await takes_of(calm.call, fresh_ids[spec.key], spec.params["variants"]) == chaotic[spec.key]
    finally:
        for client in calm.clients.values():
            await client.aclose()
