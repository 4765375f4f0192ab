"""A job whose model's files are not here yet: its status shows the `download` phase with bytes
done/total (huggingface_hub's own download, against a local stand-in for the hub), then runs; a
download that stops fails the job saying so and the next job continues it; a cancel stops it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from generator_service.model.download import fetch_model
from generator_service.progress import CancelToken, ProgressCallback

from ..model.fake_hub import FakeHub, serve_hub
from .conftest import job_form, wait_done

pytestmark = pytest.mark.anyio
REPO = "acme/weights"
WEIGHTS = 12_000_000


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    fake = serve_hub(
        REPO, {"config.json": b"{}", "model.safetensors": os.urandom(WEIGHTS)}, tmp_path / "hub", monkeypatch
    )
    yield fake
    fake.stop()


def fetcher(hub: FakeHub) -> Any:
    def fetch(progress: ProgressCallback, cancel: CancelToken | None) -> None:
        fetch_model(REPO, progress=progress, cancel=cancel, endpoint=hub.url)

    return fetch


async def status_when(client, job_id: str, ready) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    with anyio.fail_after(60):
        while not ready(status := (await client.get(f"/v1/jobs/{job_id}")).json()):
            await anyio.sleep(0.02)
    return status


async def test_the_job_shows_the_download_with_bytes_then_runs(make_app, hub: FakeHub, clip) -> None:
    hub.gate.clear()  # the weights wait to be sent
    async with make_app(fetcher=fetcher(hub)).client() as c:
        job_id = (await c.post("/v1/jobs", **job_form(clip))).json()["id"]
        status = await status_when(c, job_id, lambda s: s["phase"] == "download")
        assert status["status"] == "running" and status["bytes_total"] == WEIGHTS + 2
        assert status["bytes_done"] <= 2 and status["progress"] == pytest.approx(status["bytes_done"] / (WEIGHTS + 2))
        hub.gate.set()
        done = await wait_done(c, job_id, timeout=120)
    assert done["status"] == "succeeded" and done["bytes_done"] is None and done["bytes_total"] is None


async def test_a_stopped_download_fails_the_job_saying_so_and_the_next_job_continues(
    make_app, hub: FakeHub, clip
) -> None:
    hub.broken = {"model.safetensors"}
    async with make_app(fetcher=fetcher(hub)).client() as c:
        first = await wait_done(c, (await c.post("/v1/jobs", **job_form(clip))).json()["id"])
        assert first["status"] == "failed" and f"the download of {REPO} stopped at" in first["error"]
        assert "continues" in first["hint"]
        hub.broken = set()
        second = await wait_done(c, (await c.post("/v1/jobs", **job_form(clip, seed=1))).json()["id"], timeout=120)
    assert second["status"] == "succeeded"
    assert [name for name, _ in hub.starts] == ["config.json", "model.safetensors"]  # config.json kept


async def test_a_cancel_stops_the_download(make_app, hub: FakeHub, clip) -> None:
    hub.gate.clear()
    async with make_app(fetcher=fetcher(hub)).client() as c:
        job_id = (await c.post("/v1/jobs", **job_form(clip))).json()["id"]
        await status_when(c, job_id, lambda s: s["phase"] == "download")
        await c.delete(f"/v1/jobs/{job_id}")  # answered when the download next reports, or after 5 s
        hub.gate.set()
        assert (await wait_done(c, job_id))["status"] == "cancelled"
