"""`GET /v1/health` says whether a job can run: the model's weights are here, may be downloaded by the
first job, or cannot be had (then `ready` is false with a hint) — before any job is sent."""

from __future__ import annotations

import httpx
import pytest

from generator_service.api import ServiceSettings, create_app
from generator_service.api.app import build_service
from generator_service.jobs.holder import ModelHolder

pytestmark = pytest.mark.anyio
NOT_CACHED = "expotion-test/never-cached"


def never_loaded():
    raise AssertionError("health must not load the model")


async def health_of(tmp_path, model: str, allow_network: bool) -> dict:
    settings = ServiceSettings(work_dir=tmp_path / "work", model=model, device="cpu", allow_network=allow_network)
    service = build_service(settings, ModelHolder(never_loaded, model_id=model, device="cpu"))
    service.start()
    try:
        transport = httpx.ASGITransport(app=create_app(settings, service))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return (await client.get("/v1/health")).json()
    finally:
        service.stop()


async def test_weights_missing_and_hub_forbidden_is_not_ready(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    health = await health_of(tmp_path, NOT_CACHED, allow_network=False)
    assert health["status"] == "ok" and health["ready"] is False and health["model_available"] is False
    assert NOT_CACHED in health["hint"] and "--model tiny" in health["hint"]


async def test_hf_hub_offline_forbids_the_hub_too(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    health = await health_of(tmp_path, NOT_CACHED, allow_network=True)
    assert health["ready"] is False and "not in the local cache" in health["hint"]


async def test_weights_missing_but_downloadable_is_ready_with_a_note(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    health = await health_of(tmp_path, NOT_CACHED, allow_network=True)
    assert health["ready"] is True and health["model_available"] is False and "downloads" in health["hint"]


async def test_a_model_folder_that_does_not_exist_is_not_ready(tmp_path) -> None:
    health = await health_of(tmp_path, str(tmp_path / "no-such-model"), allow_network=True)
    assert health["ready"] is False and health["model_available"] is False


async def test_tiny_and_local_folders_are_available(tmp_path) -> None:
    (tmp_path / "mine").mkdir()
    for model in ("tiny", str(tmp_path / "mine")):
        health = await health_of(tmp_path, model, allow_network=False)
        assert (health["ready"], health["model_available"], health["hint"]) == (True, True, ""), model
