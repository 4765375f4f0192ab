"""The request guards and path mode against a real `python -m generator_service serve --model tiny`
process (docs/http-api.md, "Security"): `Origin: null` and other page origins on a token-less
service, the `WWW-Authenticate` challenge of a 401, and path-mode files swapped or changed between
submit and run. Plus the same swap for `POST /v1/analyze`, between its probe and its analysis,
through the app in-process (only there can the test hold the analysis slot to place the swap)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import anyio
import httpx
import pytest

from generator_service.demo_clip import make_performer_clip

from .conftest import job_form, wait_done
from .test_app import assert_error

pytestmark = [pytest.mark.anyio]

TOKEN = "a-long-test-token"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(media root, a folder outside it holding a private video)."""
    base = tmp_path_factory.mktemp("security")
    root, outside = base / "root", base / "private"
    root.mkdir()
    outside.mkdir()
    make_performer_clip(outside / "secret.mp4", duration=1.0, fps=25, size=(160, 90), seed=9)
    return root, outside


@pytest.fixture(scope="module")
def open_server(server_factory, places):
    return server_factory(None, "--media-root", str(places[0]))


@pytest.fixture(scope="module")
def token_server(server_factory):
    return server_factory(None, "--token", TOKEN)


def upload(clip: Path) -> dict:
    return {"files": {"video": ("clip.mp4", clip.read_bytes(), "video/mp4")}, "data": {"params": json.dumps({})}}


async def test_a_tokenless_service_refuses_origin_null_and_page_origins(open_server, clip) -> None:
    async with open_server.client() as client:
        for origin in ("null", "https://evil.example", "file://", "http://localhost.evil.example", ""):
            response = await client.post("/v1/jobs", headers={"Origin": origin}, **upload(clip))
            assert_error(response, 403, "web pages")
            assert_error(await client.get("/v1/health", headers={"Origin": origin}), 403)
        for origin in ("http://127.0.0.1:3000", "http://localhost:8080", "http://[::1]"):
            assert (await client.get("/v1/health", headers={"Origin": origin})).status_code == 200
        assert (await client.get("/v1/health")).status_code == 200  # no Origin: not a browser
        assert_error(await client.get("/v1/health", headers={"Host": "[::1"}), 403, "loopback")  # not a 500


async def test_with_a_token_the_token_decides_and_a_401_names_the_scheme(token_server) -> None:
    async with token_server.client() as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}, {"Origin": "null"}):
            response = await client.get("/v1/health", headers=headers)
            assert_error(response, 401, "token")
            assert response.headers["www-authenticate"].startswith("Bearer")
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert (await client.get("/v1/health", headers=good | {"Origin": "null"})).status_code == 200


@pytest.mark.slow
async def test_a_path_mode_file_swapped_or_changed_after_submit_is_not_read(open_server, places, tmp_path) -> None:
    root, outside = places
    linked, changed, kept = root / "linked.mp4", root / "changed.mp4", root / "kept.mp4"
    for i, path in enumerate((linked, changed, kept)):
        make_performer_clip(path, duration=1.0, fps=25, size=(160, 90), seed=i)
    make_performer_clip(tmp_path / "other.mp4", duration=1.0, fps=25, size=(160, 90), seed=7)
    (root / "alias.mp4").symlink_to("kept.mp4")  # a link that stays inside the root is fine
    long_clip = make_performer_clip(tmp_path / "long.mp4", duration=30.0, fps=10, size=(64, 36))
    async with open_server.client() as client:
        busy = (await client.post("/v1/jobs", **upload(long_clip))).json()["id"]  # holds the worker
        ids = {}
        for name, extra in (
            ("linked.mp4", {"auto_prompt": True}),
            ("changed.mp4", {}),
            ("alias.mp4", {"auto_prompt": True}),
        ):
            response = await client.post("/v1/jobs", **job_form(path=name, **extra))
            assert response.status_code == 202, response.text
            ids[name] = response.json()["id"]
        linked.unlink()
        linked.symlink_to(outside / "secret.mp4")  # now leads out of the root
        os.replace(tmp_path / "other.mp4", changed)  # other content under the same name
        for job_id in ids.values():  # the swaps happened before any of them ran
            assert (await client.get(f"/v1/jobs/{job_id}")).json()["status"] == "queued"
        assert (await client.delete(f"/v1/jobs/{busy}")).status_code in (200, 202)
        done = {name: await wait_done(client, job_id, timeout=300) for name, job_id in ids.items()}
    for name in ("linked.mp4", "changed.mp4"):
        status = done[name]
        assert status["status"] == "failed", (name, status)
        assert str(root.resolve()) in status["error"] and "changed" in status["error"]
        assert "media root" in status["hint"]
        assert status["result"] is None
    kept_status = done["alias.mp4"]  # read through the open file, features included
    assert kept_status["status"] == "succeeded" and kept_status["result"]["suggested_prompt"], kept_status


async def test_analyze_does_not_read_a_file_swapped_after_its_probe(make_app, tmp_path, clip) -> None:
    root, outside = tmp_path / "root", tmp_path / "private"
    root.mkdir()
    outside.mkdir()
    video = root / "take.mp4"
    video.write_bytes(clip.read_bytes())
    make_performer_clip(outside / "secret.mp4", duration=1.0, fps=25, size=(160, 90), seed=9)
    app = make_app(media_root=root)
    read: list[bytes] = []

    def analyzer(path: Path, start: float, end: float) -> dict:  # stands in for MediaPipe: what is it handed?
        read.append(Path(path).read_bytes())
        return {"start": start, "end": end}

    app.app.state.analyzer = analyzer
    slots: anyio.CapacityLimiter = app.app.state.analyze_slots
    async with app.client() as client:
        answer: list[httpx.Response] = []

        async def analyze() -> None:
            answer.append(await client.post("/v1/analyze", **job_form(path="take.mp4")))

        await slots.acquire()  # an analysis "in progress": the request probes, then waits for the slot
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(analyze)
            with anyio.fail_after(120):
                while slots.statistics().tasks_waiting == 0:
                    await anyio.sleep(0.01)
            video.unlink()
            video.symlink_to(outside / "secret.mp4")
            slots.release()
        assert_error(answer[0], 400, "media root")
        assert read == []
        video.unlink()
        video.write_bytes(clip.read_bytes())
        assert (await client.post("/v1/analyze", **job_form(path="take.mp4"))).status_code == 200
        assert read == [clip.read_bytes()]
