"""A job that follows a melody temp, through the HTTP API (httpx.ASGITransport, the built-in
tiny-melody model): the `melody` part and `params.melody_path`, the refusals, the upload released
with its job and kept across a restart, and the faces that take no melody (analyze, the contract)."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from expotion_protocol.shapes import JobResult

from .conftest import job_form, wait_done
from .test_app import assert_error

pytestmark = pytest.mark.anyio

RATE = 44100


@pytest.fixture(scope="module")
def tiny_melody(cache_dir: Path):
    from generator_service.model.loading import load_music_model

    return load_music_model("tiny-melody", cache_dir=cache_dir, device="cpu")


@pytest.fixture(scope="module")
def temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 s of A then C (stereo at 44.1 kHz: not the model's rate or channel count)."""
    t = np.arange(RATE) / RATE
    tune = 0.5 * np.sin(2 * np.pi * np.where(t < 0.5, 440.0, 523.25) * t).astype(np.float32)
    path = tmp_path_factory.mktemp("temps") / "temp.wav"
    sf.write(path, np.stack([tune, tune], axis=1), RATE)
    return path


@pytest.fixture
def melody_app(make_app, tiny_melody, tmp_path):
    """A service on tiny-melody with path mode on (media root `tmp_path / "root"`)."""
    (tmp_path / "root").mkdir()
    return make_app(loader=lambda: tiny_melody, model="tiny-melody", media_root=tmp_path / "root")


def melody_form(clip: Path, melody: bytes | None, name: str = "temp.wav", **params: Any) -> dict[str, Any]:
    """A job form with the video and (when given) the `melody` part."""
    form = job_form(clip, **params)
    if melody is not None:
        form["files"]["melody"] = (name, melody, "audio/wav")
    return form


def wav_frames(data: bytes) -> int:
    with wave.open(io.BytesIO(data)) as w:
        return w.getnframes()


def uploads_left(app) -> list[Path]:
    return sorted(p for p in app.service.uploads.folder.iterdir() if p.is_file())


async def test_an_uploaded_temp_is_followed_and_released_with_its_job(melody_app, clip, temp) -> None:
    async with melody_app.client() as client:
        form = melody_form(clip, temp.read_bytes(), seed=3, end=0.6, melody_start=0.25, beat_lock="off")
        created = await client.post("/v1/jobs", **form)
        assert created.status_code == 202, created.text
        status = await wait_done(client, created.json()["id"], timeout=120)
        assert status["status"] == "succeeded", status
        result = status["result"]
        assert result["num_samples"] == round(0.6 * 32000)
        wav = (await client.get(f"/v1/jobs/{status['id']}/result")).content
        assert wav_frames(wav) == result["num_samples"]
        melody = result["melody"]
        assert melody["file"] == "upload" and melody["sha256"] == hashlib.sha256(temp.read_bytes()).hexdigest()
        assert melody["start"] == 0.25 and melody["looped"] is False and isinstance(melody["follows"], bool)
        assert JobResult.from_json(result).melody == melody
        # the same request again is the same music: answered from the result (the temp is in the key)
        again = await client.post("/v1/jobs", **form)
        assert again.json()["status"] == "succeeded"
        other = melody_form(clip, temp.read_bytes()[:-4000] + bytes(4000), seed=3, end=0.6, beat_lock="off")
        assert (await client.post("/v1/jobs", **other)).json()["status"] == "queued"
        await wait_done(client, (await client.get("/v1/jobs?limit=1")).json()["jobs"][0]["id"], timeout=120)
    assert melody_app.service.uploads.in_use() == 0 and uploads_left(melody_app) == []


async def test_a_path_mode_temp_is_confined_to_the_media_root(
    melody_app, make_app, tiny_melody, tmp_path, clip, temp
) -> None:
    root = tmp_path / "root"
    shutil.copy(temp, root / "temp.wav")
    outside = tmp_path / "secret.wav"
    shutil.copy(temp, outside)
    (root / "escape.wav").symlink_to(outside)
    async with melody_app.client() as client:
        for bad, word in [
            (str(outside), "outside"),
            ("../secret.wav", ".."),
            ("escape.wav", "outside"),
            ("missing.wav", "not an existing file"),
        ]:
            assert_error(await client.post("/v1/jobs", **job_form(clip, melody_path=bad)), 400, "melody_path", word)
        ok = await client.post("/v1/jobs", **job_form(clip, seed=4, end=0.4, melody_path="temp.wav", beat_lock="off"))
        assert ok.status_code == 202, ok.text
        status = await wait_done(client, ok.json()["id"], timeout=120)
        assert status["status"] == "succeeded", status
        assert status["result"]["melody"]["file"] == str((root / "temp.wav").resolve())
        assert (root / "temp.wav").is_file()  # the user's file is never deleted
    plain = make_app(loader=lambda: tiny_melody, model="tiny-melody")
    async with plain.client() as client:
        assert_error(await client.post("/v1/jobs", **job_form(clip, melody_path="temp.wav")), 400, "path mode is off")


async def test_melody_refusals_are_clear_and_store_nothing(melody_app, make_app, clip, temp, tmp_path) -> None:
    async with melody_app.client() as client:
        (tmp_path / "root" / "temp.wav").write_bytes(temp.read_bytes())
        both = melody_form(clip, temp.read_bytes(), melody_path="temp.wav")
        assert_error(await client.post("/v1/jobs", **both), 400, "at most one", "melody_path")
        assert_error(await client.post("/v1/jobs", **job_form(clip, melody_start=1.0)), 422, "melody_start")
        past = melody_form(clip, temp.read_bytes(), melody_start=5.0)
        assert_error(await client.post("/v1/jobs", **past), 422, "melody_start")
        noise = melody_form(clip, b"not audio at all" * 100, name="temp.mp3")
        body = assert_error(await client.post("/v1/jobs", **noise), 422, "melody", "'temp.mp3'", "cannot be read")
        assert "WAV" in body["hint"]
        assert_error(await client.post("/v1/jobs", **melody_form(clip, b"")), 422, "melody", "empty")
        twice = melody_form(clip, temp.read_bytes())
        twice["files"] = [("video", twice["files"]["video"]), *[("melody", twice["files"]["melody"])] * 2]
        assert_error(await client.post("/v1/jobs", **twice), 400, "more than one `melody` part")
        analysis = await client.post("/v1/analyze", **melody_form(clip, temp.read_bytes()))
        assert_error(analysis, 422, "melody", "analysis")
        assert (await client.get("/v1/jobs")).json()["jobs"] == []
    assert melody_app.service.uploads.in_use() == 0 and uploads_left(melody_app) == []
    tiny = make_app()
    async with tiny.client() as client:
        refused = assert_error(await client.post("/v1/jobs", **melody_form(clip, temp.read_bytes())), 422, "'tiny'")
        assert "tiny-melody" in refused["hint"] and "facebook/musicgen-melody" in refused["hint"]
        assert_error(await client.post("/v1/jobs", **job_form(clip, melody_path="temp.wav")), 422, "cannot take")
        assert (await client.get("/v1/jobs")).json()["jobs"] == []
    assert tiny.service.uploads.in_use() == 0 and uploads_left(tiny) == []


def _stored(folder: Path, source: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(source.read_bytes()).hexdigest()}{source.suffix}"
    shutil.copy(source, path)
    return path


async def test_a_queued_melody_job_survives_a_restart(make_app, tiny_melody, tmp_path, clip, temp) -> None:
    """A process that stopped with a melody job queued: the next one keeps its upload, runs it and
    then releases it; a job whose temp is gone fails saying so."""
    from generator_service.jobs.records import InputFile, JobRecord, JobSpec
    from generator_service.jobs.store import JobStore

    work = tmp_path / "work"
    video, melody = _stored(work / "uploads", clip), _stored(work / "uploads", temp)
    kept = InputFile(str(melody), melody.stem, uploaded=True)
    spec = JobSpec.create(video=str(video), video_sha256=video.stem, start=0, end=0.4, model="tiny-melody", melody=kept)
    gone = InputFile(str(work / "uploads" / "gone.wav"), "0", uploaded=True)
    lost = JobSpec.create(video=str(video), video_sha256=video.stem, start=0, end=0.4, melody=gone)
    store = JobStore(work / "jobs.sqlite3")
    store.save(JobRecord("j-queued", spec, cache_key=spec.cache_key("restart")))
    store.save(JobRecord("j-lost", lost, cache_key=lost.cache_key("restart")))
    store.close()
    assert JobSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    app = make_app(loader=lambda: tiny_melody, model="tiny-melody", work_dir=work)
    async with app.client() as client:
        failed = await wait_done(client, "j-lost")
        assert failed["status"] == "failed" and "melody temp" in failed["error"]
        status = await wait_done(client, "j-queued", timeout=120)
        assert status["status"] == "succeeded" and status["resumed"] == 1, status
        assert status["result"]["melody"]["sha256"] == melody.stem
    assert app.service.uploads.in_use() == 0 and uploads_left(app) == []


async def test_the_openapi_form_has_the_melody_only_where_it_can_be_used(melody_app, make_app) -> None:
    async with melody_app.client() as client:
        doc = (await client.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    jobs = doc["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert jobs["properties"]["melody"]["format"] == "binary" and "allOf" in jobs
    assert {"type": "string", "maxLength": 4096} in schemas["JobParamsPath"]["properties"]["melody_path"]["anyOf"]
    analyze = doc["paths"]["/v1/analyze"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert "melody" not in analyze["properties"]
    assert schemas["AnalyzeParams"]["properties"]["melody_path"]["type"] == "null"
    assert schemas["AnalyzeParams"]["properties"]["melody_start"]["maximum"] == 0
    async with make_app().client() as client:  # tiny: takes no melody
        doc = (await client.get("/openapi.json")).json()
    jobs = doc["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert "melody" not in jobs["properties"]
    assert doc["components"]["schemas"]["JobParams"]["properties"]["melody_path"]["type"] == "null"
    assert doc["components"]["schemas"]["JobParams"]["properties"]["melody_start"]["maximum"] == 0


async def test_the_contract_face_carries_no_melody(melody_app, clip, temp) -> None:
    """Pallaidium's `POST /v1/files` skips a `melody` part unread and `POST /v1/videos` ignores a
    `melody_path` key: its jobs never follow a temp."""
    async with melody_app.client() as client:
        files = {"file": ("clip.mp4", clip.read_bytes(), "video/mp4"), "melody": ("temp.wav", temp.read_bytes())}
        file_id = (await client.post("/v1/files", files=files, data={"purpose": "control"})).json()["file_id"]
        body = {"model": "expotion", "control_file_id": file_id, "melody_path": "temp.wav", "melody_start": 1.0}
        created = await client.post("/v1/videos", json=body)
        assert created.status_code == 202, created.text
        record = melody_app.service.get(created.json()["id"])
        assert record.spec.melody is None and record.spec.params.melody_start == 0.0
        await wait_done(client, record.id, timeout=120)
    assert melody_app.service.uploads.in_use() <= 1  # at most the contract's own file, kept for GET /v1/files
