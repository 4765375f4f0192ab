"""The contract face: Pallaidium's "Backend Contract v0.1" (its `utils/remote_backend.py` client) on
the same service — the same job queue, result cache, limits and token as the rest of the API.

- `GET /v1/health` carries `contract_versions: ["v0.1"]`; `GET /v1/models` carries `data`: one
  `video` model with mode `control` for the base model (`expotion`) and one per adapter
  (`expotion/<adapter>`) — the entries that make the client upload the selected movie strip.
- `POST /v1/files` (multipart `file` + `purpose`) keeps the upload until a job takes it
  (api/contract_files.py) -> `201 {file_id}`.
- `POST /v1/videos` scores the whole uploaded clip (`control_file_id`) with `prompt` and `seed`
  (any integer, wrapped into 0..2^31-1), through `JobService.submit` like `POST /v1/jobs` ->
  `202 {id, status}`; an identical earlier request answers `{id, status: "succeeded", file_id}` at once.
- `GET /v1/jobs/{id}` of a contract job adds `file_id` once it succeeded and reports `cancelled`
  as `failed` (the contract knows no other end); `contract_status` shapes it.
- `GET /v1/files/{id}`: a job's `file_id` is the MP4 of the clip's picture (stream-copied) plus the
  music; an upload's id gives back the uploaded bytes while they are kept.
The token may come as `Authorization: Bearer`, `X-API-Key` or `?api_key=` (api/security.py).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from expotion_protocol.params import JobParams

from ..errors import ConfigError
from ..jobs.records import CANCELLED, FAILED, SUCCEEDED, JobRecord, JobSpec
from ..jobs.service import JobService
from .contract_files import MOVIE_SUFFIX, ContractFiles, Waiting, movie_file_id
from .errors import ApiError
from .form import read_job_form
from .inputs import VideoInput, probe_range
from .schemas import ERRORS, FileCreated, VideoCreated, VideoRequest

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", responses=ERRORS)

#: Id of the base model's entry; an adapter's entry is `expotion/<adapter>`.
BASE_ID = "expotion"
PURPOSES = ("control", "reference", "speaker_reference")
SEED_RANGE = 2**31


def _files(request: Request) -> ContractFiles:
    return request.app.state.contract


def _service(request: Request) -> JobService:
    return request.app.state.service


def model_entries(service: JobService) -> list[dict[str, Any]]:
    """`data` of `GET /v1/models`: the base model, then each adapter."""
    base = service.holder.model_id
    note = " UNTRAINED test model: the output is not music." if service.holder.untrained else ""
    what = "Scores the selected movie strip with music as long as the strip; returns the clip with the music (MP4)."
    entries = [{"id": BASE_ID, "display_name": f"Expotion music ({base})", "description": what + note}]
    for name in service.adapters():
        entries.append(
            {
                "id": f"{BASE_ID}/{name}",
                "display_name": f"Expotion music ({base} + {name})",
                "description": what + f" The adapter {name} makes the music follow the performer." + note,
            }
        )
    return entries


def adapter_of(model: str, service: JobService) -> str | None:
    """The adapter a contract model id names (None: the base model); 404 for an unknown id."""
    if model == BASE_ID:
        return None
    name = model.removeprefix(f"{BASE_ID}/")
    if model.startswith(f"{BASE_ID}/") and name in service.adapters():
        return name
    known = ", ".join(e["id"] for e in model_entries(service))
    raise ApiError(
        404,
        f"no model {model!r} on this service (models: {known})",
        "Refresh the remote models (GET /v1/models) and pick one of them.",
    )


def contract_status(record: JobRecord, files: ContractFiles) -> dict[str, Any]:
    """The status JSON of `GET /v1/jobs/{id}`, in the contract's shape for contract jobs."""
    data = record.public()
    if not files.is_contract_job(record.id):
        return data
    if record.status == SUCCEEDED:
        data["file_id"] = movie_file_id(record.id)
    elif record.status == CANCELLED:
        data["status"] = FAILED
    return data


@router.post("/files", status_code=201, response_model=FileCreated)
async def upload_file(request: Request) -> dict[str, Any]:
    """Keep an uploaded file (`file` part, whole file in one request) until a job takes it."""
    service = _service(request)
    form = await read_job_form(request, service.uploads, file_fields=("file",), text_fields=("purpose",))
    upload, kept = form.upload, False
    try:
        if upload is None:
            raise ConfigError(
                "file: the form has no `file` part", "Send the clip as the `file` part (with a filename)."
            )
        purpose = form.fields.get("purpose", "control")
        if purpose not in PURPOSES:
            raise ConfigError(f"purpose: {purpose!r} is not one of {', '.join(PURPOSES)}")
        service.hashes.remember(upload.path, upload.sha256)
        file_id = _files(request).add(upload, purpose, form.filename or "")
        kept = True
    finally:
        if not kept:
            form.release(service.uploads)
    return {"file_id": file_id, "purpose": purpose, "bytes": upload.size, "filename": form.filename or ""}


def _submit_clip(service: JobService, waiting: Waiting, body: VideoRequest, adapter: str | None) -> JobRecord:
    """Probe the clip and queue its job (the job takes a reference of its own on the upload)."""
    path = waiting.upload.path
    service.uploads.adopt(path)
    queued = False
    try:
        source = VideoInput(path, waiting.upload.sha256, uploaded=True)
        start, end = probe_range(service, source, JobParams(), waiting.filename)
        spec = JobSpec.create(
            video=str(path),
            video_sha256=waiting.upload.sha256,
            start=start,
            end=end,
            prompt=body.prompt,
            seed=(body.seed or 0) % SEED_RANGE,
            adapter=adapter,
            model=service.holder.model_id,
            precision=service.holder.precision,
            uploaded=True,
        )
        record = service.submit(spec)
        queued = True
    finally:
        if not queued:
            service.uploads.release(path)
    return record


@router.post("/videos", status_code=202, response_model=VideoCreated)
def create_video(request: Request, body: VideoRequest) -> dict[str, Any]:
    """Score the whole uploaded clip (`control_file_id`) with `prompt` and `seed`."""
    service, files = _service(request), _files(request)
    adapter = adapter_of(body.model, service)
    waiting = files.claim(body.control_file_id)
    record = None
    try:
        record = _submit_clip(service, waiting, body, adapter)
    finally:
        if record is None:
            files.unclaim(body.control_file_id, waiting)
    files.bind(body.control_file_id, waiting, record.id)
    answer: dict[str, Any] = {"id": record.id, "status": record.status}
    if record.status == SUCCEEDED:
        answer["file_id"] = movie_file_id(record.id)
    return answer


@router.get(
    "/files/{file_id}",
    response_class=FileResponse,
    responses={
        200: {
            "content": {"video/mp4": {}, "application/octet-stream": {}},
            "description": "a job's MP4, or the bytes of an uploaded file",
        }
    },
)
async def get_file(request: Request, file_id: str) -> FileResponse:
    files = _files(request)
    if file_id.endswith(MOVIE_SUFFIX):
        job_id = file_id.removesuffix(MOVIE_SUFFIX)
        movie = await run_in_threadpool(files.movie, job_id)
        return FileResponse(movie, media_type="video/mp4", filename=f"{job_id}.mp4")
    return FileResponse(files.upload_path(file_id), media_type="application/octet-stream")
