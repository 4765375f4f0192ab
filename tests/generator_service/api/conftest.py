"""Fixtures of the API tests: real clips, an app whose job service holds the already-loaded tiny
model (fast), an httpx client over `ASGITransport`, and a real `serve` process on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from generator_service.api import ServiceSettings, create_app
from generator_service.api.app import build_service
from generator_service.demo_clip import make_performer_clip
from generator_service.jobs.holder import ModelHolder

from .server import ServerProcess

BASE = "http://127.0.0.1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def clip(media: Path) -> Path:
    """A real 1 s H.264 clip of a performer, 160x90 at 25 fps."""
    return make_performer_clip(media / "performer.mp4", duration=1.0, fps=25, size=(160, 90))


@pytest.fixture(scope="session")
def clip2(media: Path) -> Path:
    """A real 2 s clip (long enough to cancel mid-generation)."""
    return make_performer_clip(media / "performer-2s.mp4", duration=2.0, fps=25, size=(160, 90), seed=2)


class App:
    """An app + its started job service; `client()` talks to it through ASGITransport."""

    def __init__(
        self, work_dir: Path, loader: Callable[[], Any], fetcher: Any = None, model: str = "tiny", **settings: Any
    ) -> None:
        self.settings = ServiceSettings(work_dir=work_dir, model=model, device="cpu", **settings)
        # the session's `tiny` is loaded at fp32: the holder says so (results are keyed by precision)
        self.holder = ModelHolder(
            loader,
            model_id=model,
            device="cpu",
            precision="fp32",
            idle_unload_s=self.settings.idle_unload_s,
            fetcher=fetcher,
        )
        self.service = build_service(self.settings, self.holder)
        self.service.start()  # before the app: it resumes what depends on the started service
        self.app = create_app(self.settings, self.service)

    def client(self, **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=BASE, headers=headers, timeout=30
        )

    def stop(self) -> None:
        self.service.stop()


@pytest.fixture
def make_app(tmp_path: Path, tiny) -> Iterator[Callable[..., App]]:
    """Factory of started apps (stopped at teardown); `loader` defaults to the loaded tiny model
    (pass `model` with a loader of another one); `fetcher` (the holder's download before a load)
    and settings are passed on."""
    apps: list[App] = []

    def make(loader: Callable[[], Any] | None = None, work_dir: Path | None = None, **settings: Any) -> App:
        app = App(work_dir or tmp_path / f"work{len(apps)}", loader or (lambda: tiny), **settings)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.stop()


@pytest.fixture
async def client(make_app) -> AsyncIterator[httpx.AsyncClient]:
    async with make_app().client() as c:
        yield c


def job_form(clip: Path | None = None, content: bytes | None = None, name: str = "clip.mp4", **params: Any):
    """(files, data) of a POST /v1/jobs or /v1/analyze request."""
    files = None
    if clip is not None:
        files = {"video": (name, clip.read_bytes(), "video/mp4")}
    elif content is not None:
        files = {"video": (name, content, "video/mp4")}
    return {"files": files, "data": {"params": json.dumps(params)}}


async def wait_done(client: httpx.AsyncClient, job_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll the job until it finished -> its status JSON."""
    import anyio

    with anyio.fail_after(timeout):
        while True:
            status = (await client.get(f"/v1/jobs/{job_id}")).json()
            if status["status"] in ("succeeded", "failed", "cancelled"):
                return status
            await anyio.sleep(0.02)


@pytest.fixture(scope="module")
def server_factory(tmp_path_factory: pytest.TempPathFactory, tiny) -> Iterator[Callable[..., ServerProcess]]:
    """Starts real `python -m generator_service serve --model tiny` processes; all stopped at teardown.
    (Depends on `tiny` so the model is built in the private cache before a server loads it.)"""
    servers: list[ServerProcess] = []

    def start(work_dir: Path | None = None, *args: str) -> ServerProcess:
        server = ServerProcess(work_dir or tmp_path_factory.mktemp("served"), list(args)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
