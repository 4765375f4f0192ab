"""The app factory: `create_app(config)` builds the FastAPI app of the generator service.

Settings come in explicitly (`ServiceSettings`); `check()` refuses unsafe ones (a non-loopback
bind without a token). The job service (store, queue, worker, model holder, retention) is built
here unless one is passed in — tests build it with `build_service(config, holder)`, whose holder
returns an already-loaded tiny model. The app's lifespan starts and stops the job service unless
the caller started it already (as tests using httpx.ASGITransport, which runs no lifespan, do).
`serve(config)` runs the app with uvicorn. Nothing here imports torch.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from .. import __version__
from ..config import FeatureConfig
from ..errors import ExpotionError
from ..jobs.analyzer import Analyzer
from ..jobs.execution import Executor
from ..jobs.holder import ModelHolder, default_loader
from ..jobs.retention import DAY, RetentionPolicy
from ..jobs.service import JobService
from ..model.download import hub_fetcher
from .contract import router as contract_router
from .contract_files import ContractFiles
from .errors import install_error_handlers
from .inputs import warm_up
from .openapi import install_openapi
from .routes import router
from .security import GuardMiddleware
from .settings import ServiceSettings
from .upload_gate import UploadGate

logger = logging.getLogger(__name__)


def feature_config(config: ServiceSettings) -> FeatureConfig:
    return FeatureConfig(feature_fps=config.feature_fps, allow_download=config.allow_download)


def retention_policy(config: ServiceSettings) -> RetentionPolicy:
    return RetentionPolicy(
        max_age_s=None if config.retention_days == -1 else config.retention_days * DAY,
        max_bytes=None if config.max_storage_mb == -1 else int(config.max_storage_mb * 2**20),
        download_grace_s=config.download_grace_s,
        interval_s=config.cleanup_interval_s,
    )


def build_service(
    config: ServiceSettings, holder: ModelHolder | None = None, *, executor: Executor | None = None, slots: int = 1
) -> JobService:
    """The job service for these settings (model loaded lazily on the first job); tests pass a
    `holder` whose loader returns an already-loaded model. An `executor` runs jobs elsewhere on
    `slots` worker threads (the Ray Serve face, generator_service/scale/)."""
    if holder is None:
        holder = ModelHolder(
            default_loader(config.model, config.device, config.allow_network, config.precision),
            model_id=config.model,
            device=config.device,
            idle_unload_s=config.idle_unload_s,
            features=feature_config(config),
            fetcher=hub_fetcher(config.model, config.allow_network),
            precision=config.precision,
        )
    return JobService(
        config.work_dir,
        holder,
        queue_size=config.queue_size,
        adapters_dir=config.adapters_dir,
        media_root=config.media_root,
        max_attempts=config.max_attempts,
        retention=retention_policy(config),
        executor=executor,
        slots=slots,
    )


def create_app(config: ServiceSettings, service: JobService | None = None) -> FastAPI:
    """The FastAPI app; raises `ConfigError` for unsafe or invalid settings."""
    config.check()
    service = service or build_service(config)
    contract = ContractFiles(service, ttl_s=config.file_ttl_s, max_waiting=config.queue_size)
    if service.started:  # the caller's (tests through ASGITransport run no lifespan)
        contract.resume()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = not service.started  # a service the caller started is the caller's to stop
        service.start()
        contract.start()
        try:  # before the port opens, so that no first submit pays it
            await anyio.to_thread.run_sync(warm_up, service)
        except (ExpotionError, ImportError, OSError) as exc:  # the first submit meets it again, as an error
            logger.warning("warming up the submit path failed: %s", exc)
        logger.info("Expotion service %s: model %s, work dir %s", __version__, config.model, config.work_dir)
        try:
            yield
        finally:
            contract.stop()
            app.state.analyzer.close()  # the landmarkers go with their owner, not with the GC
            if owned:
                service.stop()

    app = FastAPI(
        title="Expotion generator service",
        version=__version__,
        lifespan=lifespan,
        description="Scores video with music that follows the performer. See docs/http-api.md.",
    )
    app.state.settings = config
    app.state.service = service
    app.state.contract = contract
    app.state.analyzer = Analyzer(service.holder.features, service.features)
    app.state.analyze_slots = anyio.CapacityLimiter(1)  # analyses wait here, not in the thread pool
    app.state.upload_gate = UploadGate(config.max_concurrent_uploads, config.upload_read_timeout_s)
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(contract_router)
    install_openapi(app)
    app.add_middleware(GuardMiddleware, token=config.token, max_body=config.max_upload_bytes)
    return app


def serve(config: ServiceSettings) -> None:
    """Run the service with uvicorn until interrupted (blocks).

    On a clean stop (Ctrl-C, SIGTERM) the event streams end first — each sends `event: shutdown`
    with its job's state — so uvicorn's graceful stop finds no stream left to cut (api/server.py)."""
    import uvicorn

    from .server import DrainingServer

    app = create_app(config)
    settings = uvicorn.Config(
        app, host=config.host, port=config.port, log_level="info", timeout_graceful_shutdown=3, access_log=False
    )
    try:
        DrainingServer(settings, app.state.service).run()
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled; a clean stop exits 0 (as uvicorn.run)
        pass
