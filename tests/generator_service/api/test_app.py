"""The HTTP API through httpx.ASGITransport, with the already-loaded tiny model and real clips."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import wave

import anyio
import pytest

from generator_service.api import ServiceSettings, create_app
from generator_service.errors import ConfigError

from .conftest import job_form, wait_done

pytestmark = pytest.mark.anyio


def wav_samples(data: bytes) -> tuple[int, int, int]:
    with wave.open(io.BytesIO(data)) as w:
        return w.getframerate(), w.getnchannels(), w.getnframes()


def assert_error(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail", "hint", "error_id"} and body["hint"] and body["error_id"].startswith("e-")
    for word in words:
        assert word in body["detail"], body
    return body


def test_importing_the_api_does_not_import_torch() -> None:
    code = "import sys; import generator_service.api; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.split() == ["False"]


async def test_health_and_models_before_any_job(client) -> None:
    health = (await client.get("/v1/health")).json()
    assert health == {
        "status": "ok",
        "version": health["version"],
        "device": "cpu",
        "model": "tiny",
        "model_loaded": False,
        "untrained": True,
        "queue_depth": 0,
        "queue_limit": 8,
        "path_mode": False,
        "ready": True,
        "model_available": True,
        "hint": "",
        "precision": "fp32",
        "contract_versions": ["v0.1"],
    }
    models = (await client.get("/v1/models")).json()
    assert models["base_model"] == "tiny" and models["untrained"] and models["adapters"] == []
    assert "CC-BY-NC" in models["licence"]
    assert (await client.get("/openapi.json")).json()["paths"]["/v1/jobs"]["post"]


async def test_job_end_to_end_exact_length_metadata_and_cache(client, clip) -> None:
    r = await client.post("/v1/jobs", **job_form(clip, prompt="warm piano", seed=3, variants=2, end=0.77))
    assert r.status_code == 202 and r.json()["status"] == "queued"
    job_id = r.json()["id"]
    status = await wait_done(client, job_id)
    assert status["status"] == "succeeded" and status["progress"] == 1.0
    result = status["result"]
    expected = round(0.77 * 32000)
    assert result["num_samples"] == expected and result["seeds"] == [3, 4] and result["takes"] == 2
    assert result["untrained"] and result["model"] == "tiny" and result["cached"] is False
    assert result["prompt_used"] == "warm piano" and result["sample_rate"] == 32000
    for take in (0, 1):
        wav = await client.get(f"/v1/jobs/{job_id}/result", params={"take": take})
        assert wav.headers["content-type"] == "audio/wav"
        assert wav_samples(wav.content) == (32000, 1, expected)
        assert json.loads(wav.headers["x-expotion-metadata"])["num_samples"] == expected
    assert (await client.get(f"/v1/jobs/{job_id}/metadata")).json()["seeds"] == [3, 4]
    assert_error(await client.get(f"/v1/jobs/{job_id}/result", params={"take": 2}), 404, "take 2")
    # The same request again: answered from the stored result, no generation, identical audio.
    again = await client.post("/v1/jobs", **job_form(clip, prompt="warm piano", seed=3, variants=2, duration=0.77))
    assert again.json()["status"] == "succeeded"
    cached = (await client.get(f"/v1/jobs/{again.json()['id']}")).json()["result"]
    assert cached["cached"] is True and cached["num_samples"] == expected
    first = (await client.get(f"/v1/jobs/{job_id}/result")).content
    assert (await client.get(f"/v1/jobs/{again.json()['id']}/result")).content == first


async def test_a_job_records_its_beat_lock_and_hits_and_is_cached_by_them(client, clip) -> None:
    hits = [{"t": 0.3, "kind": "cut"}, {"t": 0.9, "kind": "marker", "strength": 0.5}]  # on the clip's clock
    r = await client.post("/v1/jobs", **job_form(clip, seed=2, start=0.2, beat_lock="hits", hits=hits))
    result = (await wait_done(client, r.json()["id"]))["result"]
    assert result["beat_lock"] == "hits" and result["num_samples"] == round(0.8 * 32000)
    assert result["hits"] == [
        {"t": pytest.approx(0.1), "kind": "cut", "strength": 1.0},
        {"t": pytest.approx(0.7), "kind": "marker", "strength": 0.5},
    ]  # the range's clock
    (report,) = result["lock"]
    assert report["mode"] == "hits" and report["reason"] and set(report["alignment"]) >= {"before", "after"}
    assert report["alignment"]["before"]["hits"] == 2 and len(report["stretch_range"]) == 2
    # other lock parameters are another result (not answered from the cache)
    off = await client.post("/v1/jobs", **job_form(clip, seed=2, start=0.2, beat_lock="off", hits=hits))
    assert off.json()["status"] == "queued"
    result = (await wait_done(client, off.json()["id"]))["result"]
    assert result["cached"] is False and result["lock"] == [{"mode": "off", "locked": False, "reason": "beat lock off"}]
    same = await client.post("/v1/jobs", **job_form(clip, seed=2, start=0.2, beat_lock="off", hits=hits))
    assert same.json()["status"] == "succeeded"


async def test_events_stream_progress_then_done(client, clip) -> None:
    job_id = (await client.post("/v1/jobs", **job_form(clip, seed=9))).json()["id"]
    body = (await client.get(f"/v1/jobs/{job_id}/events")).text  # ASGITransport returns the whole stream
    blocks = body.strip().split("\n\n")
    assert blocks[0] == "retry: 2000"  # clients wait 2 s before reconnecting
    events = [block.split("\n") for block in blocks[1:]]
    names = [lines[0].removeprefix("event: ") for lines in events]
    assert names[-1] == "done" and set(names[:-1]) <= {"progress"}
    last = json.loads(events[-1][1].removeprefix("data: "))
    assert last["status"] == "succeeded" and last["result"]["num_samples"] == 32000
    progress = [json.loads(lines[1].removeprefix("data: "))["progress"] for lines in events]
    assert progress == sorted(progress)
    ids = [lines[2].removeprefix("id: ") for lines in events]  # <process epoch>-<job version>, rising
    assert len({i.split("-")[0] for i in ids}) == 1 and len(set(ids)) == len(ids)


async def test_result_before_finish_is_409_and_unknown_ids_404(make_app, clip, tiny) -> None:
    gate = threading.Event()
    app = make_app(loader=lambda: (gate.wait(10), tiny)[1])
    async with app.client() as client:
        job_id = (await client.post("/v1/jobs", **job_form(clip))).json()["id"]
        assert_error(await client.get(f"/v1/jobs/{job_id}/result"), 409, job_id)
        assert_error(await client.get("/v1/jobs/j-nope"), 404, "j-nope")
        assert_error(await client.get("/v1/jobs/j-nope/events"), 404)
        assert_error(await client.delete("/v1/jobs/j-nope"), 404)
        gate.set()
        assert (await wait_done(client, job_id))["status"] == "succeeded"
        assert_error(await client.delete(f"/v1/jobs/{job_id}"), 409, "succeeded")


@pytest.mark.parametrize(
    "params,words",
    [
        ({"seed": -1}, ["seed"]),
        ({"variants": 0}, ["variants"]),
        ({"start": 0.5, "end": 0.2}, ["end"]),
        ({"end": 0.5, "duration": 0.3}, ["duration"]),
        ({"temperature": 0}, ["temperature"]),
        ({"bogus": 1}, ["bogus"]),
        ({"end": 5.0}, ["past the clip end"]),
        ({"adapter": "nope"}, ["adapter", "nope"]),
        ({"beat_lock": "beats"}, ["beat_lock", "'off', 'motion', 'hits' or 'both'"]),
        ({"hits": [{"t": 0.2, "kind": "fade"}]}, ["hits[0].kind"]),
        ({"hits": [{"t": 0.2, "kind": "cut"}, {"t": -1, "kind": "marker"}]}, ["hits[1].t"]),
        ({"hits": [{"t": 0.2, "kind": "cut", "strength": 2}]}, ["hits[0].strength"]),
        ({"hits": [{"kind": "cut"}]}, ["hits[0].t"]),
        ({"hits": {"t": 0.2, "kind": "cut"}}, ["hits", "list"]),
    ],
)
async def test_bad_parameters_are_422_naming_the_field(client, clip, params, words) -> None:
    assert_error(await client.post("/v1/jobs", **job_form(clip, **params)), 422, *words)


async def test_the_openapi_schema_shows_beat_lock_and_hits(client) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    props = schemas["JobParams"]["properties"]
    assert props["beat_lock"]["anyOf"][0]["enum"] == ["off", "motion", "hits", "both"]
    assert props["beat_lock"]["default"] is None and "person" in props["beat_lock"]["description"]
    assert props["hits"]["type"] == "array" and props["hits"]["items"] == {"$ref": "#/components/schemas/HitPoint"}
    hit = schemas["HitPoint"]
    assert hit["required"] == ["t", "kind"] and hit["additionalProperties"] is False
    assert hit["properties"]["kind"]["enum"] == ["cut", "marker"]
    assert hit["properties"]["strength"]["maximum"] == 1.0 and hit["properties"]["t"]["minimum"] == 0.0


@pytest.mark.parametrize("with_adapter", [False, True])
async def test_the_openapi_schema_says_visual_guidance_needs_an_adapter(make_app, tmp_path, with_adapter) -> None:
    # what the schema accepts is what the service accepts (schemathesis' ST202 reads the schema so)
    jsonschema = pytest.importorskip("jsonschema")
    adapters = tmp_path / "adapters"
    (adapters / "dance").mkdir(parents=True)
    (adapters / "dance" / "expotion_config.json").write_text("{}")
    app = make_app(adapters_dir=adapters) if with_adapter else make_app()
    async with app.client() as client:
        doc = (await client.get("/openapi.json")).json()
    for name in ("JobParams", "AnalyzeParams"):
        schema = {**doc["components"]["schemas"][name], "components": doc["components"]}
        valid = jsonschema.Draft202012Validator(schema).is_valid
        assert valid({"visual_guidance": 1.0}) and valid({"visual_guidance": 0.5, "adapter": None})
        assert not valid({"visual_guidance": 2.0}) and not valid({"visual_guidance": 2.0, "adapter": None})
        assert valid({"visual_guidance": 2.0, "adapter": "dance"}) is (with_adapter or name == "AnalyzeParams")
        assert not valid({"visual_guidance": 2.0, "adapter": ""})


def test_the_metadata_header_is_left_out_when_too_long_for_a_header_line() -> None:
    from generator_service.api.routes import METADATA_HEADER_LIMIT, metadata_header

    short = {"num_samples": 16000, "prompt_used": "warm piano ♪"}
    assert json.loads(metadata_header(short)["X-Expotion-Metadata"]) == short
    assert metadata_header(short)["X-Expotion-Metadata"].isascii()
    hits = [{"t": i / 10, "kind": "cut", "strength": 1.0} for i in range(2000)]
    assert metadata_header({"num_samples": 16000, "hits": hits}) == {}
    assert len(json.dumps({"hits": hits})) > METADATA_HEADER_LIMIT


async def test_bad_uploads_are_clear_4xx_and_the_service_stays_healthy(make_app, clip) -> None:
    app = make_app(max_upload_mb=0.5)
    data = clip.read_bytes()
    async with app.client() as client:
        assert_error(
            await client.post("/v1/jobs", **job_form(content=b"this is not a video\n" * 50)),
            422,
            "clip.mp4",
            "not a readable media file",
        )
        assert_error(await client.post("/v1/jobs", **job_form(content=data[: len(data) // 2])), 422, "clip.mp4")
        assert_error(await client.post("/v1/jobs", **job_form(content=b"")), 422, "empty")
        assert_error(await client.post("/v1/jobs", **job_form(content=b"\0" * 600_000)), 413, "limit")
        assert_error(await client.post("/v1/jobs", data={"params": "{"}), 422, "JSON")
        assert_error(await client.post("/v1/jobs", **job_form()), 400, "exactly one")
        assert app.service.uploads.in_use() == 0
        assert (await client.get("/v1/health")).json()["status"] == "ok"
        job_id = (await client.post("/v1/jobs", **job_form(clip))).json()["id"]
        assert (await wait_done(client, job_id))["status"] == "succeeded"


async def test_path_mode_is_confined_to_the_media_root(make_app, tmp_path, clip) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "take.mp4").write_bytes(clip.read_bytes())
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(clip.read_bytes())
    (root / "escape.mp4").symlink_to(outside)
    app = make_app(media_root=root)
    async with app.client() as client:
        assert (await client.get("/v1/health")).json()["path_mode"] is True
        for bad, word in [
            (str(outside), "outside"),
            ("sub/../../secret.mp4", ".."),
            ("escape.mp4", "outside"),
            ("sub/missing.mp4", "not an existing file"),
            (str(root), "not an existing file"),
        ]:
            assert_error(await client.post("/v1/jobs", **job_form(path=bad)), 400, word)
        ok = await client.post("/v1/jobs", **job_form(path="sub/take.mp4", seed=5))
        assert ok.status_code == 202
        assert (await wait_done(client, ok.json()["id"]))["status"] == "succeeded"
        assert (root / "sub" / "take.mp4").is_file()  # the user's file is never deleted
    plain = make_app()
    async with plain.client() as client:
        assert_error(await client.post("/v1/jobs", **job_form(path=str(clip))), 400, "path mode is off")


async def test_token_host_and_origin_guards(make_app) -> None:
    app = make_app(token="s3cret-token")
    async with app.client() as client:
        assert_error(await client.get("/v1/health"), 401, "token")
        assert_error(await client.get("/openapi.json", headers={"Authorization": "Bearer wrong-token"}), 401)
        ok = await client.get("/v1/health", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200
    open_app = make_app()
    async with open_app.client() as client:
        assert_error(await client.get("/v1/health", headers={"Host": "evil.example:8765"}), 403, "loopback")
        assert_error(await client.get("/v1/health", headers={"Origin": "https://evil.example"}), 403, "web pages")
        assert (await client.get("/v1/health", headers={"Origin": "http://localhost:3000"})).status_code == 200


def test_a_public_bind_without_a_token_refuses_to_start(tmp_path) -> None:
    with pytest.raises(ConfigError, match="needs a token"):
        create_app(ServiceSettings(host="0.0.0.0", work_dir=tmp_path))
    with pytest.raises(ConfigError, match="media_root"):
        create_app(ServiceSettings(media_root=tmp_path / "missing", work_dir=tmp_path))


def test_settings_come_from_expotion_environment(monkeypatch, tmp_path) -> None:
    from generator_service.api.app import retention_policy

    monkeypatch.setenv("EXPOTION_PORT", "9999")
    monkeypatch.setenv("EXPOTION_QUEUE_SIZE", "3")
    monkeypatch.setenv("EXPOTION_IDLE_UNLOAD_S", "-1")
    monkeypatch.setenv("EXPOTION_RETENTION_DAYS", "7")
    monkeypatch.setenv("EXPOTION_MAX_STORAGE_MB", "-1")
    monkeypatch.setenv("EXPOTION_MAX_ATTEMPTS", "5")
    settings = ServiceSettings(work_dir=tmp_path, queue_size=4)
    assert (settings.port, settings.queue_size, settings.idle_unload_s, settings.host) == (9999, 4, -1, "127.0.0.1")
    assert settings.max_attempts == 5
    policy = retention_policy(settings)
    assert (policy.max_age_s, policy.max_bytes, policy.download_grace_s) == (7 * 86400, None, 86400)
    for bad in ({"retention_days": 0}, {"max_storage_mb": 0}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            create_app(ServiceSettings(work_dir=tmp_path, **bad))


async def test_full_queue_is_429_and_cancel_frees_a_slot(make_app, clip, tiny) -> None:
    gate = threading.Event()
    app = make_app(loader=lambda: (gate.wait(10), tiny)[1], queue_size=2)
    async with app.client() as client:
        ids = [(await client.post("/v1/jobs", **job_form(clip, seed=i))).json()["id"] for i in range(3)]
        full = assert_error(await client.post("/v1/jobs", **job_form(clip, seed=9)), 429, "full")
        assert "Wait" in full["hint"]
        assert (await client.get("/v1/health")).json()["queue_depth"] == 2
        cancelled = await client.delete(f"/v1/jobs/{ids[2]}")
        assert cancelled.json() == {"id": ids[2], "status": "cancelled"}
        assert (await client.post("/v1/jobs", **job_form(clip, seed=10))).status_code == 202
        gate.set()
        assert [(await wait_done(client, i))["status"] for i in ids] == ["succeeded", "succeeded", "cancelled"]


async def test_cancel_running_job_stops_within_a_step(make_app, clip2) -> None:
    app = make_app()
    async with app.client() as client:
        job_id = (await client.post("/v1/jobs", **job_form(clip2, seed=1))).json()["id"]
        with anyio.fail_after(20):
            while (await client.get(f"/v1/jobs/{job_id}")).json()["phase"] != "generate":
                await anyio.sleep(0.005)
        started = anyio.current_time()
        r = await client.delete(f"/v1/jobs/{job_id}")
        assert r.json() == {"id": job_id, "status": "cancelled"} and anyio.current_time() - started < 1.0
        status = (await client.get(f"/v1/jobs/{job_id}")).json()
        assert status["status"] == "cancelled" and status["result"] is None
        assert_error(await client.get(f"/v1/jobs/{job_id}/result"), 409, "cancelled")
        nxt = (await client.post("/v1/jobs", **job_form(clip2, seed=2, end=0.5))).json()["id"]
        assert (await wait_done(client, nxt))["status"] == "succeeded"


async def test_load_errors_and_out_of_memory_fail_the_job_with_a_hint(make_app, clip, tiny) -> None:
    import torch

    from generator_service.errors import ModelLoadError

    failures = [ModelLoadError("cannot load music model 'x'"), torch.OutOfMemoryError("CUDA out of memory. Tried")]

    def loader():
        if failures:
            raise failures.pop(0)
        return tiny

    app = make_app(loader=loader)
    async with app.client() as client:
        first = await wait_done(client, (await client.post("/v1/jobs", **job_form(clip, seed=1))).json()["id"])
        assert first["status"] == "failed" and "cannot load" in first["error"] and "tiny" in first["hint"]
        second = await wait_done(client, (await client.post("/v1/jobs", **job_form(clip, seed=2))).json()["id"])
        assert second["status"] == "failed" and "out of memory" in second["error"]
        assert "unloaded" in second["hint"]
        assert (await client.get("/v1/health")).json()["status"] == "ok"
        third = await wait_done(client, (await client.post("/v1/jobs", **job_form(clip, seed=3))).json()["id"])
        assert third["status"] == "succeeded"


async def test_model_loads_lazily_and_unloads_when_idle(make_app, clip, tiny) -> None:
    loads = []
    app = make_app(loader=lambda: (loads.append(1), tiny)[1], idle_unload_s=0.2)
    async with app.client() as client:
        assert (await client.get("/v1/health")).json()["model_loaded"] is False and loads == []
        job_id = (await client.post("/v1/jobs", **job_form(clip))).json()["id"]
        assert (await wait_done(client, job_id))["status"] == "succeeded" and loads == [1]
        with anyio.fail_after(5):
            while (await client.get("/v1/health")).json()["model_loaded"]:
                await anyio.sleep(0.05)
        job_id = (await client.post("/v1/jobs", **job_form(clip, seed=4))).json()["id"]
        assert (await wait_done(client, job_id))["status"] == "succeeded" and loads == [1, 1]


async def test_results_survive_a_restart_and_interrupted_jobs_without_their_video_fail(
    make_app, tmp_path, clip
) -> None:
    from generator_service.jobs.records import JobRecord, JobSpec
    from generator_service.jobs.store import JobStore

    work = tmp_path / "shared-work"
    first = make_app(work_dir=work)
    async with first.client() as client:
        done = (await client.post("/v1/jobs", **job_form(clip, seed=7))).json()["id"]
        await wait_done(client, done)
        audio = (await client.get(f"/v1/jobs/{done}/result")).content
    first.stop()
    # A process that died mid-job leaves its record "running" (no graceful stop wrote anything).
    store = JobStore(work / "jobs.sqlite3")
    store.save(
        JobRecord("j-crashed", JobSpec.create(video="/gone.mp4", video_sha256="0", start=0, end=1), status="running")
    )
    store.close()
    second = make_app(work_dir=work)
    async with second.client() as client:
        assert (await client.get(f"/v1/jobs/{done}/result")).content == audio
        crashed = (await client.get("/v1/jobs/j-crashed")).json()
        assert crashed["status"] == "failed" and "interrupted" in crashed["error"] and "resubmit" in crashed["error"]
        assert crashed["hint"]


async def test_analyze_reports_the_performer(client, clip) -> None:
    r = await client.post("/v1/analyze", **job_form(clip, end=1.0))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["person"]["coverage"] > 0.5 and body["face"]["coverage"] > 0.5
    assert {"duration_s", "motion", "expression", "suggested_prompt"} <= set(body)
    assert_error(await client.post("/v1/analyze", **job_form(content=b"junk")), 422, "not a readable")


async def test_adapters_are_listed_and_a_broken_one_fails_only_its_job(make_app, tmp_path, clip) -> None:
    adapters = tmp_path / "adapters"
    (adapters / "broken").mkdir(parents=True)
    (adapters / "broken" / "expotion_config.json").write_text("{not json")
    (adapters / "not-an-adapter").mkdir()
    app = make_app(adapters_dir=adapters)
    async with app.client() as client:
        listed = (await client.get("/v1/models")).json()["adapters"]
        assert [a["name"] for a in listed] == ["broken"]
        failed = await wait_done(
            client, (await client.post("/v1/jobs", **job_form(clip, adapter="broken"))).json()["id"]
        )
        assert failed["status"] == "failed" and failed["error"] and failed["hint"]
        ok = await wait_done(client, (await client.post("/v1/jobs", **job_form(clip, seed=3))).json()["id"])
        assert ok["status"] == "succeeded" and ok["result"]["adapter"] is None


async def test_visual_guidance_is_validated_and_reaches_the_generation_config(
    make_app, tmp_path, clip, monkeypatch
) -> None:
    from generator_service.errors import VideoError

    adapters = tmp_path / "adapters"
    (adapters / "dance").mkdir(parents=True)
    (adapters / "dance" / "expotion_config.json").write_text("{}")
    app = make_app(adapters_dir=adapters)
    seen = []

    def recording_scorer(request, progress, cancel):  # stands in for the pipeline: records what it was asked
        seen.append(request.generation)
        raise VideoError("recorded, not generated")

    monkeypatch.setattr(app.holder, "scorer", lambda adapter=None, **_: recording_scorer)
    async with app.client() as client:
        assert_error(
            await client.post("/v1/jobs", **job_form(clip, visual_guidance=2.0)), 422, "visual_guidance", "adapter"
        )
        for bad in (-1, 51, "x"):
            assert_error(
                await client.post("/v1/jobs", **job_form(clip, adapter="dance", visual_guidance=bad)),
                422,
                "visual_guidance",
            )
        for params in ({"visual_guidance": 2.5, "guidance": 4.0}, {"visual_guidance": 0.5}, {}):
            r = await client.post("/v1/jobs", **job_form(clip, adapter="dance", **params))
            assert r.status_code == 202, r.text
            assert "recorded" in (await wait_done(client, r.json()["id"]))["error"]
    assert [(g.visual_guidance, g.guidance_scale) for g in seen] == [(2.5, 4.0), (1.0, 3.0), (1.0, 3.0)]


async def test_status_polling_stays_responsive_while_analyses_run(make_app, clip) -> None:
    app = make_app()
    entered, release = threading.Event(), threading.Event()
    running, most = [0], [0]

    def slow_analyzer(video, start, end):  # stands in for MediaPipe: blocks until released
        running[0] += 1
        most[0] = max(most[0], running[0])
        entered.set()
        release.wait(10)
        running[0] -= 1
        return {"start": start, "end": end, "suggested_prompt": "calm"}

    app.app.state.analyzer = slow_analyzer
    answers = []
    async with app.client() as client:
        job_id = (await client.post("/v1/jobs", **job_form(clip, seed=8))).json()["id"]

        async def analyze() -> None:
            answers.append(await client.post("/v1/analyze", **job_form(clip, end=0.5)))

        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(analyze)
            await anyio.to_thread.run_sync(entered.wait, 10)
            with anyio.fail_after(5):
                status = await client.get(f"/v1/jobs/{job_id}")
                health = await client.get("/v1/health")
            assert status.status_code == 200 and health.status_code == 200
            assert answers == [] and not release.is_set()  # answered while the analyses were still running
            release.set()
        await wait_done(client, job_id)
    assert [a.status_code for a in answers] == [200] * 3 and most[0] == 1
    assert app.service.uploads.in_use() == 0


async def test_retention_removes_old_jobs_keeps_downloaded_results_and_explains_expired_ones(make_app, clip) -> None:
    import time

    from generator_service.jobs.retention import DAY

    app = make_app(retention_days=1, download_grace_s=3 * DAY)
    async with app.client() as client:
        old, kept = [(await client.post("/v1/jobs", **job_form(clip, seed=s, end=0.5))).json()["id"] for s in (1, 2)]
        for job_id in (old, kept):
            await wait_done(client, job_id)
        assert (await client.get(f"/v1/jobs/{kept}/result")).status_code == 200  # downloaded: kept for 3 days
        app.service.janitor.clock = lambda: time.time() + 2 * DAY
        assert app.service.janitor.sweep().removed_jobs == 1
        assert_error(await client.get(f"/v1/jobs/{old}"), 404, old)
        assert_error(await client.get(f"/v1/jobs/{old}/result"), 404)
        assert (await client.get(f"/v1/jobs/{kept}/result")).status_code == 200
    capped = make_app(max_storage_mb=0.01)  # 10 KiB: less than one 0.5 s take
    async with capped.client() as client:
        job_id = (await client.post("/v1/jobs", **job_form(clip, seed=3, end=0.5))).json()["id"]
        await wait_done(client, job_id)
        assert capped.service.janitor.sweep().expired_results == 1
        assert (await client.get(f"/v1/jobs/{job_id}")).json()["status"] == "succeeded"
        assert_error(await client.get(f"/v1/jobs/{job_id}/result"), 404, "storage", "cap")
        again = await client.post("/v1/jobs", **job_form(clip, seed=3, end=0.5))
        assert again.json()["status"] == "queued"  # not answered from the removed files
        assert (await wait_done(client, again.json()["id"]))["status"] == "succeeded"


def test_the_service_start_pays_the_submit_path_s_one_time_costs(tmp_path, clip, monkeypatch) -> None:
    """The precision a job records is resolved (torch imported) while the service starts, before the
    port opens, and kept: the first submit after a start no longer pays it. (Measured: it took
    1.1-1.6 s alone, and a burst of 30 submits all waited on it; now ~40 ms.)"""
    from starlette.testclient import TestClient

    from generator_service.model.precision import choice

    calls: list[tuple] = []
    real = choice.resolve_precision
    monkeypatch.setattr(choice, "resolve_precision", lambda *a: calls.append(a) or real(*a))
    app = create_app(ServiceSettings(work_dir=tmp_path, model="tiny", idle_unload_s=60))
    assert not calls
    with TestClient(app, base_url="http://127.0.0.1:8765") as client:
        assert len(calls) == 1  # at start-up, before any request
        for seed in (1, 2):
            assert client.post("/v1/jobs", **job_form(clip, seed=seed, beat_lock="off")).status_code == 202
        assert len(calls) == 1  # kept, not resolved per submit
