"""Request and response models of the HTTP API v1 (docs/http-api.md); they also shape /openapi.json.

`JobParams` is the `params` JSON of `POST /v1/jobs` and `POST /v1/analyze`, built from the one
declaration of the job parameters (expotion_protocol.params); it validates every field at the
boundary with messages naming the field and hands the service the protocol's `JobParams`. Response models document the JSON the routes return; health and job status are the protocol's
own shapes (expotion_protocol.shapes), used directly as response models.
`VideoRequest`, `FileCreated` and `ContractModel` are the shapes of the contract face (api/contract.py,
Pallaidium's "Backend Contract v0.1"); the contract's fields in health, models and job status are
additions to the models the rest of the API returns.
"""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from expotion_protocol import params as protocol
from expotion_protocol.params import ParamError
from expotion_protocol.shapes import JobStatus

from ..errors import ConfigError


class _ParamsModel(BaseModel):
    """Strict: JSON types are taken as they are (a boolean is not a number, "3" is not a seed), so
    what the OpenAPI schema says is exactly what is accepted."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="after")
    def _rules_between_fields(self) -> _ParamsModel:
        try:
            self.to_protocol()
        except ParamError as exc:
            raise ValueError(exc.message) from exc
        return self

    def to_protocol(self) -> protocol.JobParams:
        """The validated protocol object the rest of the service works with."""
        return protocol.JobParams(**self.model_dump()).validate()

    @classmethod
    def parse_form(cls, raw: str | None) -> protocol.JobParams:
        """The `params` form field (JSON text) -> validated JobParams; `ConfigError` naming the field."""
        try:
            data = json.loads(raw) if raw else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"params: not valid JSON ({exc.msg} at position {exc.pos})",
                'Send `params` as a JSON object, e.g. {"prompt": "warm piano"}.',
            ) from exc
        if not isinstance(data, dict):
            raise ConfigError(f"params: expected a JSON object, got {type(data).__name__}")
        try:
            return cls.model_validate(data).to_protocol()
        except ValidationError as exc:
            raise ConfigError("params: " + "; ".join(_field_error(e) for e in exc.errors()[:5])) from exc


def _params_field(annotation: Any, default: Any, rule: protocol.Rule) -> tuple[Any, Any]:
    """One field of a request schema from its protocol declaration: numbers finite and bounded,
    `Literal[...]` as an enum, `tuple[Item, ...]` as an array of `Item`'s own strict schema."""
    finite = {"allow_inf_nan": False} if protocol.base_type(annotation) is float else {}
    item = protocol.item_type(annotation)
    if item is not None:
        annotation, default = list[_item_model(item)], list(default)  # type: ignore[misc]
    if default is dataclasses.MISSING:
        default = ...
    return annotation, Field(
        default,
        description=rule.doc,
        ge=rule.ge,
        gt=rule.gt,
        le=rule.le,
        lt=rule.lt,
        max_length=rule.max_length,
        **finite,
    )


@cache
def _item_model(item: type) -> type[BaseModel]:
    """The strict schema of a list item declared in the protocol (e.g. `HitPoint`)."""
    return create_model(  # type: ignore[call-overload,no-any-return]
        item.__name__,
        __config__=ConfigDict(extra="forbid", strict=True),
        __doc__=item.__doc__,
        **{name: _params_field(*rule) for name, rule in protocol.rules(item).items()},
    )


#: The request schema of the job parameters, built from their one declaration (expotion_protocol.params).
JobParams: type[_ParamsModel] = create_model(  # type: ignore[call-overload]
    "JobParams",
    __base__=_ParamsModel,
    __doc__=protocol.JobParams.__doc__,
    **{name: _params_field(*rule) for name, rule in protocol.rules().items()},
)


def _field_error(err: Any) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.get("loc", ())).lstrip(".") or "params"
    return f"{where}: {err.get('msg', 'invalid')}"


class ErrorOut(BaseModel):
    detail: str
    hint: str
    error_id: str


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


class JobList(BaseModel):
    """`GET /v1/jobs`: job statuses, newest first."""

    jobs: list[JobStatus]


#: Error responses documented on every route (for clients and the OpenAPI schema).
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 503, 507)
}
