"""Routes of the HTTP API v1 (docs/http-api.md): health, models, jobs, events, results, analyze.

Routes are thin: they parse and validate at the boundary and call the `JobService` found on
`request.app.state`. Routes that touch files or block are plain `def` (FastAPI runs them in its
thread pool); cheap reads are `async def`.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from .. import __version__
from ..errors import ConfigError, ExpotionError
from ..jobs.analyzer import Analyzer
from ..jobs.records import CANCELLED, JobSpec
from ..jobs.service import JobService
from .errors import ApiError
from .inputs import VideoInput, probe_range, receive_video
from .schemas import ERRORS, HealthOut, JobCreated, JobParams, JobStatusOut, ModelsOut
from .settings import ServiceSettings
from .sse import job_events

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", responses=ERRORS)

VideoPart = Annotated[UploadFile | None, File(description="the movie clip (omit in path mode)")]
ParamsPart = Annotated[str, Form(description="JSON object of job parameters (see JobParams)")]


def _service(request: Request) -> JobService:
    return request.app.state.service


def _settings(request: Request) -> ServiceSettings:
    return request.app.state.settings


@router.get("/health", response_model=HealthOut)
def health(request: Request) -> dict[str, Any]:
    service, settings = _service(request), _settings(request)
    holder = service.holder
    return {"status": "ok" if service.worker.alive else "degraded", "version": __version__,
            "device": holder.device, "model": holder.model_id, "model_loaded": holder.loaded,
            "untrained": holder.untrained, "queue_depth": service.queue_depth(),
            "queue_limit": service.queue.limit, "path_mode": settings.media_root is not None}


@router.get("/models", response_model=ModelsOut)
def models(request: Request) -> dict[str, Any]:
    from ..model.loading import LICENCE_NOTE

    service = _service(request)
    adapters = [{"name": name, "path": path} for name, path in service.adapters().items()]
    return {"base_model": service.holder.model_id, "untrained": service.holder.untrained,
            "adapters": adapters, "licence": LICENCE_NOTE}


def _accept_video(request: Request, params: JobParams, video: UploadFile | None) -> tuple[VideoInput, float, float]:
    """Store/confine the video and resolve the range; the upload is released if anything fails."""
    service = _service(request)
    upload = None if video is None else video.file
    filename = None if video is None else video.filename
    source = receive_video(service, _settings(request).media_root, params, upload, filename)
    try:
        start, end = probe_range(source, params, filename)
    except ExpotionError:
        if source.uploaded:
            service.uploads.release(source.path)
        raise
    return source, start, end


@router.post("/jobs", status_code=202, response_model=JobCreated)
def submit_job(request: Request, params: ParamsPart = "{}", video: VideoPart = None) -> dict[str, str]:
    """Queue a scoring job; an identical earlier request is answered from the stored result."""
    parsed = JobParams.parse_form(params)
    service = _service(request)
    if parsed.adapter is not None and parsed.adapter not in service.adapters():
        known = ", ".join(service.adapters()) or "none"
        raise ConfigError(f"adapter: no adapter named {parsed.adapter!r} (available: {known})",
                          "Pick a name from GET /v1/models, or send adapter null.")
    source, start, end = _accept_video(request, parsed, video)
    spec = JobSpec(video=str(source.path), video_sha256=source.sha256, start=start, end=end,
                   prompt=parsed.prompt, auto_prompt=parsed.auto_prompt, seed=parsed.seed,
                   variants=parsed.variants, top_k=parsed.top_k, temperature=parsed.temperature,
                   guidance=parsed.guidance, adapter=parsed.adapter, model=service.holder.model_id,
                   uploaded=source.uploaded)
    try:
        record = service.submit(spec)
    except ExpotionError:
        service.release(spec)
        raise
    return {"id": record.id, "status": record.status}


@router.get("/jobs/{job_id}", response_model=JobStatusOut)
async def job_status(request: Request, job_id: str) -> dict[str, Any]:
    return _service(request).get(job_id).public()


@router.get("/jobs/{job_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
async def job_events_route(request: Request, job_id: str) -> StreamingResponse:
    service = _service(request)
    service.get(job_id)  # 404 before the stream starts
    return StreamingResponse(job_events(service, job_id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/jobs/{job_id}/result", response_class=FileResponse,
            responses={200: {"content": {"audio/wav": {}}}})
def job_result(request: Request, job_id: str, take: Annotated[int, Query(ge=0, le=1000)] = 0) -> FileResponse:
    path, meta = _service(request).result_file(job_id, take)
    return FileResponse(path, media_type="audio/wav", filename=f"{job_id}-take{take}.wav",
                        headers={"X-Expotion-Metadata": json.dumps(meta, separators=(",", ":"))})


@router.get("/jobs/{job_id}/metadata")
def job_metadata(request: Request, job_id: str) -> dict[str, Any]:
    _, meta = _service(request).result_file(job_id, 0)
    return meta


@router.delete("/jobs/{job_id}", response_model=JobCreated)
def cancel_job(request: Request, job_id: str) -> JSONResponse:
    """Cancel on the server; a running job stops within one generation step."""
    record = _service(request).cancel(job_id)
    if record.terminal and record.status != CANCELLED:
        raise ApiError(409, f"job {job_id} already finished: {record.status}",
                       "Nothing to cancel; fetch its result or submit a new job.")
    return JSONResponse({"id": record.id, "status": record.status}, status_code=200 if record.terminal else 202)


@router.post("/analyze")
def analyze(request: Request, params: ParamsPart = "{}", video: VideoPart = None) -> dict[str, Any]:
    """Face/pose features of the range: coverage, motion, expression, suggested prompt."""
    parsed = JobParams.parse_form(params)
    service = _service(request)
    source, start, end = _accept_video(request, parsed, video)
    try:
        analyzer: Analyzer = request.app.state.analyzer
        return analyzer(source.path, start, end)
    finally:
        if source.uploaded:
            service.uploads.release(source.path)
