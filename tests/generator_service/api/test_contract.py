"""The contract face (Pallaidium's "Backend Contract v0.1"): a contract client scores a clip against a
real `serve` process with a token; the face goes through the same queue, cache and limits; its files
expire, survive a restart with their job, and a cancelled contract job reads `failed`."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import av
import pytest

from .conftest import wait_done
from .contract_client import ContractClient, ContractError

pytestmark = pytest.mark.anyio
TOKEN = "contract-token-123"


def packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.video[0]) if p.size]


def audio_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(stream)) / stream.rate


@pytest.mark.slow
def test_contract_client_scores_a_clip_through_a_real_service(server_factory, clip, tmp_path) -> None:
    server = server_factory(tmp_path / "work", "--token", TOKEN)
    client = ContractClient(server.url, TOKEN, poll_s=0.05)
    assert client.check_compatible()["contract_versions"] == ["v0.1"]
    (model,) = client.models()
    assert model["id"] == "expotion" and model["type"] == "video" and model["modes"] == ["control"]
    file_id = client.upload(clip)
    payload = {
        "model": model["id"],
        "prompt": "warm piano",
        "negative_prompt": "",
        "width": 1280,
        "height": 720,
        "num_frames": 25,
        "fps": 25,
        "seed": -123456789,
        "strength": 0.8,
        "control_file_id": file_id,
        "control_strength": 0.8,
        "control_type": "pose",
    }
    movie = client.run(payload, tmp_path / "first.mp4")
    assert "generate" in client.phases and client.progress[-1] == 1.0
    assert packets(movie) == packets(clip)  # the picture stream-copied
    assert audio_seconds(movie) == pytest.approx(1.0, abs=0.05)  # AAC frames cover the music (1 s)
    again = ContractClient(server.url, TOKEN, poll_s=0.05)
    second = again.run(payload | {"control_file_id": again.upload(clip)}, tmp_path / "second.mp4")
    assert again.phases == [] and packets(second) == packets(clip)  # answered at once from the cache
    with pytest.raises(ContractError, match="HTTP 401"):
        ContractClient(server.url, "wrong-token-456").models()


async def test_the_token_may_come_three_ways(make_app) -> None:
    app = make_app(token=TOKEN)
    async with app.client() as c:
        assert (await c.get("/v1/models")).status_code == 401
        assert (await c.get("/v1/models", headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 200
        assert (await c.get("/v1/models", headers={"X-API-Key": TOKEN})).status_code == 200
        assert (await c.get("/v1/models", params={"api_key": TOKEN})).status_code == 200
        refused = await c.get("/v1/models", headers={"X-API-Key": "wrong-token"}, params={"api_key": "nope"})
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
        schema = (await c.get("/openapi.json", params={"api_key": TOKEN})).json()
        assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKeyHeader", "apiKeyQuery"}


def upload(content: bytes, name: str = "clip.mp4", purpose: str | None = "control") -> dict[str, Any]:
    data = {} if purpose is None else {"purpose": purpose}
    return {"files": {"file": (name, content, "video/mp4")}, "data": data}


async def test_models_list_base_and_adapters_and_unknown_ids_are_refused(make_app, tmp_path, clip) -> None:
    adapters = tmp_path / "adapters"
    (adapters / "mine").mkdir(parents=True)
    (adapters / "mine" / "expotion_config.json").write_text("{}")
    async with make_app(adapters_dir=adapters).client() as c:
        data = (await c.get("/v1/models")).json()["data"]
        assert [(m["id"], m["type"], m["modes"]) for m in data] == [
            ("expotion", "video", ["control"]),
            ("expotion/mine", "video", ["control"]),
        ]
        assert "UNTRAINED" in data[0]["description"]
        file_id = (await c.post("/v1/files", **upload(clip.read_bytes()))).json()["file_id"]
        wrong_model = await c.post("/v1/videos", json={"model": "other", "control_file_id": file_id})
        assert wrong_model.status_code == 404 and "expotion/mine" in wrong_model.json()["detail"]
        wrong_file = await c.post("/v1/videos", json={"model": "expotion", "control_file_id": "f-0000"})
        assert wrong_file.status_code == 404 and "POST /v1/files" in wrong_file.json()["hint"]
        missing = await c.post("/v1/videos", json={"model": "expotion"})
        assert missing.status_code == 422 and "control_file_id" in missing.json()["detail"]
        bad_purpose = await c.post("/v1/files", **upload(b"x", purpose="other"))
        assert bad_purpose.status_code == 422 and "purpose" in bad_purpose.json()["detail"]
        # the file is still waiting after the refused submits
        assert (await c.get(f"/v1/files/{file_id}")).content == clip.read_bytes()


async def test_a_contract_job_is_a_job_of_the_same_queue_and_cache(make_app, clip) -> None:
    app = make_app()
    async with app.client() as c:
        file_id = (await c.post("/v1/files", **upload(clip.read_bytes()))).json()["file_id"]
        created = await c.post(
            "/v1/videos", json={"model": "expotion", "control_file_id": file_id, "prompt": "calm", "seed": -1}
        )
        assert created.status_code == 202 and created.json()["status"] == "queued"
        status = await wait_done(c, created.json()["id"])
        assert status["status"] == "succeeded" and status["file_id"] == f"{status['id']}-mp4"
        assert status["result"]["seeds"] == [2**31 - 1] and status["result"]["prompt_used"] == "calm"
        # the same clip, prompt and seed through the native API: the contract job's result is reused
        native = await c.post(
            "/v1/jobs",
            files={"video": ("c.mp4", clip.read_bytes(), "video/mp4")},
            data={"params": '{"prompt": "calm", "seed": 2147483647}'},
        )
        assert native.json()["status"] == "succeeded"
        assert (await c.get(f"/v1/jobs/{native.json()['id']}")).json()["file_id"] is None  # not a contract job
        movie = await c.get(f"/v1/files/{status['file_id']}")
        assert movie.status_code == 200 and movie.headers["content-type"] == "video/mp4"
        assert not list(app.service.uploads.folder.iterdir())  # the clip went with its MP4
        assert (await c.get(f"/v1/files/{status['file_id']}")).content == movie.content  # kept as a result file


async def test_a_full_waiting_list_answers_429_and_unused_uploads_expire(make_app, clip) -> None:
    app = make_app(queue_size=2, file_ttl_s=60)
    now = [1000.0]
    app.app.state.contract.clock = lambda: now[0]
    async with app.client() as c:
        ids = [(await c.post("/v1/files", **upload(clip.read_bytes(), f"{i}.mp4"))).json()["file_id"] for i in range(2)]
        full = await c.post("/v1/files", **upload(clip.read_bytes()))
        assert full.status_code == 429 and "waiting" in full.json()["detail"]
        now[0] += 61  # the next upload sweeps the expired ones first
        assert (await c.post("/v1/files", **upload(b"other bytes"))).status_code == 201
        gone = await c.post("/v1/videos", json={"model": "expotion", "control_file_id": ids[0]})
        assert gone.status_code == 404 and "expired after 60 s" in gone.json()["detail"]
        assert (await c.get(f"/v1/files/{ids[1]}")).status_code == 404
    assert [p.read_bytes() for p in app.service.uploads.folder.iterdir()] == [b"other bytes"]


async def test_a_cancelled_contract_job_reads_failed(make_app, clip, clip2, tiny) -> None:
    gate = threading.Event()

    def slow_load() -> Any:
        gate.wait(30)
        return tiny

    app = make_app(loader=slow_load)
    async with app.client() as c:
        first = await c.post("/v1/jobs", files={"video": ("a.mp4", clip2.read_bytes(), "video/mp4")})
        file_id = (await c.post("/v1/files", **upload(clip.read_bytes()))).json()["file_id"]
        queued = (await c.post("/v1/videos", json={"model": "expotion", "control_file_id": file_id})).json()
        assert (await c.delete(f"/v1/jobs/{queued['id']}")).json()["status"] == "cancelled"  # native answer
        status = (await c.get(f"/v1/jobs/{queued['id']}")).json()
        assert status["status"] == "failed" and "cancelled" in status["error"] and status["file_id"] is None
        gate.set()
        assert (await wait_done(c, first.json()["id"]))["status"] == "succeeded"


async def test_a_contract_job_queued_at_a_stop_keeps_its_clip_and_contract_shape(
    make_app, clip, clip2, tiny, tmp_path
) -> None:
    gate = threading.Event()

    def slow_load() -> Any:
        gate.wait(30)
        return tiny

    work = tmp_path / "work"
    before = make_app(loader=slow_load, work_dir=work)
    async with before.client() as c:
        await c.post("/v1/jobs", files={"video": ("a.mp4", clip2.read_bytes(), "video/mp4")})
        file_id = (await c.post("/v1/files", **upload(clip.read_bytes()))).json()["file_id"]
        job_id = (await c.post("/v1/videos", json={"model": "expotion", "control_file_id": file_id})).json()["id"]
    gate.set()
    before.stop()  # a clean stop: the queued contract job stays queued with its upload
    after = make_app(work_dir=work)
    async with after.client() as c:
        status = await wait_done(c, job_id)
        assert status["status"] == "succeeded" and status["resumed"] == 1 and status["file_id"]
        movie = await c.get(f"/v1/files/{status['file_id']}")
        assert movie.status_code == 200
    out = tmp_path / "resumed.mp4"
    out.write_bytes(movie.content)
    assert packets(out) == packets(clip)
