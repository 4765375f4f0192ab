"""Uploads over HTTP: streamed once to their place, and nothing half-written left on any failure."""

from __future__ import annotations

import json

import pytest

from generator_service.jobs import uploads as uploads_module

from ..jobs.full_disk import FullDisk
from .conftest import job_form, wait_done
from .test_app import assert_error

pytestmark = pytest.mark.anyio


def upload_files(app) -> list[str]:
    return sorted(p.name for p in app.service.uploads.folder.iterdir())


async def test_an_upload_streams_to_its_place_without_a_spooled_copy(make_app, clip, monkeypatch) -> None:
    import starlette.formparsers

    def spooled(*args, **kwargs):
        raise AssertionError("the upload went through Starlette's spooled form parser")

    monkeypatch.setattr(starlette.formparsers.MultiPartParser, "parse", spooled)
    app = make_app()
    written: list[int] = []
    original = uploads_module.UploadWriter.write
    monkeypatch.setattr(
        uploads_module.UploadWriter, "write", lambda self, data: (written.append(len(data)), original(self, data))[1]
    )
    async with app.client() as client:
        r = await client.post("/v1/jobs", **job_form(clip, seed=2))
        assert r.status_code == 202, r.text
        assert sum(written) == clip.stat().st_size  # every byte written once, straight into the store
        assert (await wait_done(client, r.json()["id"]))["status"] == "succeeded"
    assert upload_files(app) == [] and app.service.uploads.in_use() == 0


async def test_a_full_disk_is_507_and_leaves_nothing_behind(make_app, clip, monkeypatch) -> None:
    app = make_app()
    async with app.client() as client:
        monkeypatch.setattr(uploads_module, "os", FullDisk(room=1000))
        for route in ("/v1/jobs", "/v1/analyze"):
            body = assert_error(await client.post(route, **job_form(clip)), 507, "No space left on device")
            assert "Free disk space" in body["hint"]
            assert upload_files(app) == [] and app.service.uploads.in_use() == 0
        monkeypatch.undo()
        assert (await client.get("/v1/health")).json()["status"] == "ok"
        job_id = (await client.post("/v1/jobs", **job_form(clip))).json()["id"]
        assert (await wait_done(client, job_id))["status"] == "succeeded"


async def test_a_body_cut_inside_the_video_or_over_the_limit_leaves_nothing(make_app, clip) -> None:
    app = make_app(max_upload_mb=0.5)
    head = (
        b'--b\r\nContent-Disposition: form-data; name="params"\r\n\r\n{}\r\n'
        b'--b\r\nContent-Disposition: form-data; name="video"; filename="clip.mp4"\r\n\r\n'
    )
    async with app.client() as client:
        cut = await client.post(
            "/v1/jobs",
            content=head + clip.read_bytes()[:5000],
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
        assert_error(cut, 400, "incomplete")
        assert upload_files(app) == []

        async def endless():  # chunked: no Content-Length, the limit trips while streaming
            yield head
            for _ in range(64):
                yield b"\0" * 65536

        over = await client.post(
            "/v1/jobs", content=endless(), headers={"Content-Type": "multipart/form-data; boundary=b"}
        )
        assert_error(over, 413, "limit")
        assert upload_files(app) == [] and app.service.uploads.in_use() == 0


async def test_form_shapes_answer_as_before(client, clip) -> None:
    assert_error(await client.post("/v1/jobs", data={"params": json.dumps({"seed": -1})}), 422, "seed")  # urlencoded
    assert_error(await client.post("/v1/jobs", json={"seed": 1}), 400, "exactly one")
    assert_error(await client.post("/v1/jobs", files={"video": (None, b"abc")}), 422, "video")
    assert_error(await client.post("/v1/jobs", files={"params": ("p.json", b"{}")}), 422, "params")
    two = [("video", ("a.mp4", b"a", "video/mp4")), ("video", ("b.mp4", b"b", "video/mp4"))]
    assert_error(await client.post("/v1/jobs", files=two), 400, "more than one")
    assert_error(
        await client.post("/v1/jobs", content=b"x", headers={"Content-Type": "multipart/form-data"}), 400, "boundary"
    )
    schema = (await client.get("/openapi.json")).json()["paths"]["/v1/jobs"]["post"]["requestBody"]
    props = schema["content"]["multipart/form-data"]["schema"]["properties"]
    assert set(props) == {"params", "video"}
