"""Routes of the HTTP API v1 (docs/http-api.md): health, models, jobs, events, results, analyze
(the contract face's own routes are in api/contract.py).

Routes are thin: they parse and validate at the boundary and call the `JobService` found on
`request.app.state`. Routes that touch files or block are plain `def` (FastAPI runs them in its
thread pool); cheap reads are `async def`. `POST /v1/jobs` and `/v1/analyze` are `async def`: they
stream the upload to its place (api/form.py), then run their blocking part in a worker thread —
analyses one at a time behind `app.state.analyze_slots`, so waiting ones hold no pool thread and
status polling stays responsive.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from expotion_protocol.params import JobParams
from expotion_protocol.shapes import CONTRACT_VERSIONS, Health, JobStatus
from expotion_protocol.wire import IDEMPOTENCY_HEADER

from .. import __version__
from ..errors import ConfigError
from ..jobs.analyzer import Analyzer
from ..jobs.records import CANCELLED, InputFile, JobSpec
from ..jobs.service import JobService
from .contract import contract_status, model_entries
from .errors import ApiError
from .form import JobForm, read_job_form
from .inputs import VideoInput, analyze_range, probe_melody, probe_range, receive_melody, receive_video
from .schemas import ERRORS, JobCreated, JobList, ModelsOut
from .schemas import JobParams as JobParamsSchema
from .settings import ServiceSettings
from .sse import job_events

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", responses=ERRORS)


def _service(request: Request) -> JobService:
    return request.app.state.service


def _settings(request: Request) -> ServiceSettings:
    return request.app.state.settings


@router.get("/health", response_model=Health)
def health(request: Request) -> Health:
    service, settings = _service(request), _settings(request)
    holder = service.holder
    available, hint = model_availability(holder.model_id, holder.loaded, settings.allow_network)
    alive = service.worker.alive
    if not alive:
        hint = "The service's job worker has stopped: restart the service (its log says why)."
    return Health(
        status="ok" if alive else "degraded",
        version=__version__,
        device=holder.device,
        model=holder.model_id,
        model_loaded=holder.loaded,
        untrained=holder.untrained,
        queue_depth=service.queue_depth(),
        queue_limit=service.queue.limit,
        path_mode=settings.media_root is not None,
        ready=alive and available is not None,
        model_available=bool(available),
        hint=hint,
        precision=holder.precision,
        contract_versions=CONTRACT_VERSIONS,
    )


def model_availability(model_id: str, loaded: bool, allow_network: bool) -> tuple[bool | None, str]:
    """Whether the model's weights are here -> (True: on this machine, False: not here but may be
    downloaded by the first job, None: not here and cannot be fetched; a hint saying what to do).

    Cheap (a few file lookups in the Hugging Face cache): `GET /v1/health` is polled."""
    # the loader's own rule for contacting the hub (HF_HUB_OFFLINE included), so health and the
    # first job agree
    from ..model.loading import TINY_MODELS, hub_weights_cached, network_allowed

    if loaded or model_id in TINY_MODELS or Path(model_id).expanduser().is_dir():
        return True, ""
    try:
        cached = hub_weights_cached(model_id)
    except ValueError:  # not a hub id either (huggingface_hub's HFValidationError)
        return None, (
            f"the model {model_id!r} is neither a folder nor a Hugging Face id: "
            "start the service with an existing --model"
        )
    if cached:
        return True, ""
    if network_allowed(allow_network):
        return False, (
            f"the weights of {model_id} are not on this machine: the first job downloads them "
            f"from the Hugging Face hub (needs internet), or fetch them ahead: `expotion download {model_id}`"
        )
    return None, (
        f"the weights of {model_id} are not in the local cache and the hub is off: "
        f"`huggingface-cli download {model_id}`, or serve --model tiny"
    )


@router.get("/models", response_model=ModelsOut)
def models(request: Request) -> dict[str, Any]:
    from ..model.loading import LICENCE_NOTE

    service = _service(request)
    adapters = [{"name": name, "path": path} for name, path in service.adapters().items()]
    return {
        "base_model": service.holder.model_id,
        "untrained": service.holder.untrained,
        "adapters": adapters,
        "licence": LICENCE_NOTE,
        "data": model_entries(service),
    }


def _accept_video(request: Request, params: JobParams, form: JobForm) -> tuple[VideoInput, float, float]:
    """Take the stored upload (or confine params.path) and resolve the range."""
    source = receive_video(_service(request), params, form.upload, form.filename)
    start, end = probe_range(_service(request), source, params, form.filename)
    return source, start, end


def _accept_melody(service: JobService, params: JobParams, form: JobForm) -> InputFile | None:
    """Take the stored `melody` upload (or confine params.melody_path) and read it as audio."""
    part = form.part("melody")
    upload, filename = (None, None) if part is None else (part.upload, part.filename)
    melody = receive_melody(service, params, upload, filename)
    if melody is not None:
        probe_melody(service, melody, params.melody_start, filename)
    return melody


def wants_melody(params: JobParams, form: JobForm) -> bool:
    """Whether the request sends a melody temp (or its start) in any of its ways."""
    return form.part("melody") is not None or params.melody_path is not None or params.melody_start > 0


def _check_job_params(service: JobService, params: JobParams, form: JobForm) -> None:
    if wants_melody(params, form) and service.holder.takes_melody is False:
        from ..model.loading import SERVICE_MELODY_HINT

        raise ConfigError(
            f"melody: the service's model {service.holder.model_id!r} cannot take a melody", SERVICE_MELODY_HINT
        )
    if params.adapter is not None and params.adapter not in service.adapters():
        known = ", ".join(service.adapters()) or "none"
        raise ConfigError(
            f"adapter: no adapter named {params.adapter!r} (available: {known})",
            "Pick a name from GET /v1/models, or send adapter null.",
        )


def _submit(request: Request, form: JobForm, idempotency_key: str | None) -> dict[str, str]:
    """The blocking part of `POST /v1/jobs`: validate, probe, queue (the upload goes to the job)."""
    service = _service(request)
    handed_over = False
    try:
        parsed = JobParamsSchema.parse_form(form.params)
        _check_job_params(service, parsed, form)
        source, start, end = _accept_video(request, parsed, form)
        melody = _accept_melody(service, parsed, form)
        spec = JobSpec.create(
            parsed,
            video=str(source.path),
            video_sha256=source.sha256,
            start=start,
            end=end,
            model=service.holder.model_id,
            precision=service.holder.precision,
            uploaded=source.uploaded,
            melody=melody,
        )
        record = service.submit(spec, idempotency_key)
        handed_over = True
    finally:
        if not handed_over:
            form.release(service.uploads)
    return {"id": record.id, "status": record.status}


#: The `Idempotency-Key` header of `POST /v1/jobs`: printable ASCII, no spaces (a UUID fits).
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        min_length=1,
        max_length=200,
        pattern=r"^[!-~]+$",
        description="The same key answers the job the first request with it made (a retry after a dropped "
        "connection makes no second job); the key with a different request -> 422.",
    ),
]


@router.post("/jobs", status_code=202, response_model=JobCreated)
async def submit_job(request: Request, idempotency_key: IdempotencyKey = None) -> dict[str, str]:
    """Queue a scoring job; an identical earlier request is answered from the stored result.

    Form: `params` (JSON text, see JobParams), `video` (the movie file; omit in path mode) and, to
    follow a temp track (melody models only), `melody` (the audio file; or params.melody_path)."""
    form = await read_job_form(request, _service(request).uploads)
    return await run_in_threadpool(_submit, request, form, idempotency_key)


@router.get("/jobs", response_model=JobList)
def list_jobs(
    request: Request,
    status: Annotated[Literal["queued", "running", "succeeded", "failed", "cancelled"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """The newest jobs first (of `status` when given), at most `limit`: find a job whose 202 was lost."""
    contract = request.app.state.contract
    return {"jobs": [contract_status(record, contract) for record in _service(request).newest(limit, status)]}


@router.get("/jobs/{job_id}", response_model=JobStatus)
async def job_status(request: Request, job_id: str) -> dict[str, Any]:
    return contract_status(_service(request).get(job_id), request.app.state.contract)


@router.get(
    "/jobs/{job_id}/events", response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}}
)
async def job_events_route(
    request: Request,
    job_id: str,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="The id of the last event seen: resume after it (nothing is resent until the job changes).",
        ),
    ] = None,
) -> StreamingResponse:
    """`progress` events on every change, `done` at the end, or `shutdown` if the service stops first."""
    service = _service(request)
    service.get(job_id)  # 404 before the stream starts
    return StreamingResponse(
        job_events(service, job_id, last_event_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


#: The longest `X-Expotion-Metadata` sent, in bytes: proxies and HTTP clients limit a header line
#: (nginx 8 KiB by default, Python's http.client 64 KiB), and a result echoing 2,000 hits is longer.
METADATA_HEADER_LIMIT = 8192
METADATA_HEADER: dict[str, Any] = {
    "description": (
        f"the result JSON (as GET /v1/jobs/{{id}}/metadata answers it), compact; left out when longer "
        f"than {METADATA_HEADER_LIMIT} bytes"
    ),
    "schema": {"type": "string", "maxLength": METADATA_HEADER_LIMIT},
}


def metadata_header(meta: dict[str, Any]) -> dict[str, str]:
    """`X-Expotion-Metadata` of a result download, or nothing when the JSON is over the limit."""
    text = json.dumps(meta, separators=(",", ":"))  # ASCII (escapes), as a header value must be
    return {"X-Expotion-Metadata": text} if len(text) <= METADATA_HEADER_LIMIT else {}


@router.get(
    "/jobs/{job_id}/result",
    response_class=FileResponse,
    responses={200: {"content": {"audio/wav": {}}, "headers": {"X-Expotion-Metadata": METADATA_HEADER}}},
)
def job_result(request: Request, job_id: str, take: Annotated[int, Query(ge=0, le=1000)] = 0) -> FileResponse:
    path, meta = _service(request).result_file(job_id, take, download=True)
    return FileResponse(
        path, media_type="audio/wav", filename=f"{job_id}-take{take}.wav", headers=metadata_header(meta)
    )


@router.get("/jobs/{job_id}/metadata")
def job_metadata(request: Request, job_id: str) -> dict[str, Any]:
    _, meta = _service(request).result_file(job_id, 0)
    return meta


@router.delete(
    "/jobs/{job_id}",
    response_model=JobCreated,
    responses={202: {"model": JobCreated, "description": "still running after 5 s; it ends cancelled"}},
)
def cancel_job(request: Request, job_id: str) -> JSONResponse:
    """Cancel on the server; a running job stops within one generation step."""
    record = _service(request).cancel(job_id)
    if record.terminal and record.status != CANCELLED:
        raise ApiError(
            409,
            f"job {job_id} already finished: {record.status}",
            "Nothing to cancel; fetch its result or submit a new job.",
        )
    return JSONResponse({"id": record.id, "status": record.status}, status_code=200 if record.terminal else 202)


@router.post("/analyze")
async def analyze(request: Request) -> dict[str, Any]:
    """Face/pose features of the range: coverage, motion, expression, suggested prompt.

    Form: like `POST /v1/jobs` (`params` with `start`, `end` or `path`; `video`); a melody is refused
    (422): an analysis reads the video only."""
    service = _service(request)
    form = await read_job_form(request, service.uploads)
    try:
        parsed = JobParamsSchema.parse_form(form.params)
        if wants_melody(parsed, form):
            raise ConfigError(
                "melody: an analysis reads the video only and takes no melody",
                "Send the temp track with POST /v1/jobs, or leave melody, melody_path and melody_start out.",
            )
        source, start, end = await run_in_threadpool(_accept_video, request, parsed, form)
        analyzer: Analyzer = request.app.state.analyzer
        return await anyio.to_thread.run_sync(
            analyze_range, service, analyzer, source, start, end, limiter=request.app.state.analyze_slots
        )
    finally:
        form.release(service.uploads)
