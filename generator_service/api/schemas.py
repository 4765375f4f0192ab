"""Request and response models of the HTTP API v1 (docs/http-api.md); they also shape /openapi.json.

`JobParams` is the `params` JSON of `POST /v1/jobs` and `POST /v1/analyze`; it validates every field
at the boundary with messages naming the field. Response models document the JSON the routes return.
`VideoRequest`, `FileCreated` and `ContractModel` are the shapes of the contract face (api/contract.py,
Pallaidium's "Backend Contract v0.1"); the contract's fields in health, models and job status are
additions to the models the rest of the API returns.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import ConfigError

#: Largest number of takes per job (GenerationConfig allows 1..8).
MAX_VARIANTS = 8
#: Versions of Pallaidium's "Backend Contract" the contract face speaks.
CONTRACT_VERSIONS = ("v0.1",)


class JobParams(BaseModel):
    """Parameters of a job. Times are seconds in the source file; `end: null` is the clip's end.

    Strict: JSON types are taken as they are (a boolean is not a number, "3" is not a seed), so
    what the OpenAPI schema says is exactly what is accepted."""

    model_config = ConfigDict(extra="forbid", strict=True)

    prompt: str = Field("", max_length=2000, description="text description of the music")
    auto_prompt: bool = Field(False, description="append the prompt suggested from the video")
    start: float = Field(0.0, ge=0.0, allow_inf_nan=False)
    end: float | None = Field(None, gt=0.0, allow_inf_nan=False)
    duration: float | None = Field(None, gt=0.0, allow_inf_nan=False,
                                   description="must equal end - start, or sets end = start + duration")
    seed: int = Field(0, ge=0, lt=2**31)
    variants: int = Field(1, ge=1, le=MAX_VARIANTS, description="takes; take i uses seed + i")
    top_k: int = Field(250, ge=1, le=100_000)
    temperature: float = Field(1.0, ge=0.01, le=10.0, allow_inf_nan=False)
    guidance: float = Field(3.0, ge=0.0, le=50.0, allow_inf_nan=False,
                            description="classifier-free guidance on the text; values <= 1 mean none")
    visual_guidance: float = Field(1.0, ge=0.0, le=50.0, allow_inf_nan=False,
                                   description="guidance on the visual condition; needs an adapter trained with "
                                               "visual dropout; values <= 1 mean none")
    adapter: str | None = Field(None, max_length=200)
    path: str | None = Field(None, max_length=4096, description="a file under the media root (path mode)")

    @model_validator(mode="after")
    def _range(self) -> JobParams:
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end {self.end} s is not after start {self.start} s")
        if self.duration is not None and self.end is not None:
            if not math.isclose(self.end - self.start, self.duration, abs_tol=1e-3):
                raise ValueError(f"duration {self.duration} s differs from end - start = {self.end - self.start:.6f} s")
        return self

    def resolved_end(self) -> float | None:
        """`end`, or `start + duration`, or None (the clip's end)."""
        if self.end is not None:
            return self.end
        return None if self.duration is None else self.start + self.duration

    @classmethod
    def parse_form(cls, raw: str | None) -> JobParams:
        """The `params` form field (JSON text) -> JobParams; `ConfigError` naming the field."""
        try:
            data = json.loads(raw) if raw else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f"params: not valid JSON ({exc.msg} at position {exc.pos})",
                              "Send `params` as a JSON object, e.g. {\"prompt\": \"warm piano\"}.") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"params: expected a JSON object, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError("params: " + "; ".join(_field_error(e) for e in exc.errors()[:5])) from exc


def _field_error(err: Any) -> str:
    where = ".".join(str(p) for p in err.get("loc", ())) or "params"
    return f"{where}: {err.get('msg', 'invalid')}"


class ErrorOut(BaseModel):
    detail: str
    hint: str
    error_id: str


class HealthOut(BaseModel):
    status: str
    version: str
    device: str
    model: str
    model_loaded: bool
    untrained: bool
    queue_depth: int
    queue_limit: int
    path_mode: bool
    #: A job can run now: the worker is alive and the model's weights are here or may be downloaded.
    ready: bool = True
    #: The model's weights are on this machine (loaded, a local folder, `tiny`, or in the hub cache).
    model_available: bool = True
    #: What to do when not ready, or what the first job will do (download); empty otherwise.
    hint: str = ""
    #: Versions of Pallaidium's backend contract this service speaks (api/contract.py).
    contract_versions: list[str] = Field(default_factory=lambda: list(CONTRACT_VERSIONS))


class AdapterOut(BaseModel):
    name: str
    path: str


class ContractModel(BaseModel):
    """One entry of `data` in `GET /v1/models`: a model a contract client can run (`POST /v1/videos`
    with a `control_file_id`)."""

    id: str
    type: Literal["video"] = "video"
    modes: list[str] = Field(default_factory=lambda: ["control"])
    display_name: str
    description: str
    object: str = "model"
    owned_by: str = "expotion"


class ModelsOut(BaseModel):
    base_model: str
    untrained: bool
    adapters: list[AdapterOut]
    licence: str
    #: The same models for contract clients: the base model and each adapter.
    data: list[ContractModel] = Field(default_factory=list)


class VideoRequest(BaseModel):
    """`POST /v1/videos` of the contract: score the whole control clip. The picture fields describe
    a video to generate; the music is as long as the uploaded clip, so they are read and not used.
    Other fields are ignored (clients send keys meant for other backends)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    model: str = Field(max_length=400, description="an id from `data` of GET /v1/models")
    control_file_id: str = Field(max_length=100, description="the clip uploaded with POST /v1/files")
    prompt: str = Field("", max_length=2000, description="text description of the music")
    seed: int | None = Field(None, description="any integer; wrapped into 0..2^31-1 (null: 0)")
    negative_prompt: str | None = Field(None, max_length=2000, description="not used")
    width: float | None = Field(None, description="not used")
    height: float | None = Field(None, description="not used")
    num_frames: float | None = Field(None, description="not used: the music is as long as the clip")
    fps: float | None = Field(None, description="not used")
    strength: float | None = Field(None, description="not used")
    control_strength: float | None = Field(None, description="not used")


class VideoCreated(BaseModel):
    id: str
    status: str
    #: Set when an identical earlier request answered at once (status succeeded).
    file_id: str | None = None


class FileCreated(BaseModel):
    file_id: str
    purpose: str
    bytes: int
    filename: str


class JobCreated(BaseModel):
    id: str
    status: str


class JobStatusOut(BaseModel):
    id: str
    status: str
    phase: str
    progress: float
    eta_s: float | None
    error: str | None
    hint: str | None
    created: float
    result: dict[str, Any] | None
    attempts: int = Field(0, description="runs of the job started so far, not counting runs a clean stop "
                                         "interrupted (those are handed back)")
    resumed: int = Field(0, description="times the job was resumed after the service restarted")
    bytes_done: int | None = Field(None, description="phase download: bytes of the model's files fetched so far")
    bytes_total: int | None = Field(None, description="phase download: bytes of the model's files to fetch")
    file_id: str | None = Field(None, description="contract jobs (POST /v1/videos) once succeeded: the MP4 at "
                                                  "GET /v1/files/{file_id}")


#: Error responses documented on every route (for clients and the OpenAPI schema).
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 422, 429, 500, 503, 507)
}
