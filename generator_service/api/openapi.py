"""The OpenAPI document of this service instance (`GET /openapi.json`): FastAPI's generated one plus
what FastAPI cannot derive from routes that read their bodies themselves.

- The multipart forms of `POST /v1/jobs` and `/v1/analyze`: `video` is a file part (binary),
  `params` a JSON object part (`JobParams`, `additionalProperties: false`); exactly one of a `video`
  part and `params.path` — with path mode off (`--media-root` unset) the path branch does not exist
  and `video` is required. Parts with other names are ignored by the service, so the form does not
  forbid them.
- The melody temp of a job (melody models only): the `melody` file part or `params.melody_path`
  (path mode), not both; `melody_start` above 0 only with one of them. Where a request cannot carry a
  melody — an analysis, or a job on a model that cannot take one — the form has no `melody` part,
  `melody_path` is null and `melody_start` at most 0 (the service answers such a melody 422).
- A job's `adapter` lists the adapters this instance has (`null` only, without any); an
  analysis takes any name (it uses no model).
- The contract's `POST /v1/files` form (`file` + `purpose`); the `model` of `POST /v1/videos` lists
  this instance's contract models.
- Links from the operations that create things to those that read them (a job id to its status,
  events, result and metadata; an uploaded file id to the file and to `POST /v1/videos`; a contract
  job's `file_id` to its MP4). `DELETE /v1/jobs/{id}` is not linked: it cancels a job, whose record stays
  readable, which is not the removal a link to a DELETE announces.
- With a token: the three ways a client may send it (bearer header, `X-API-Key`, `?api_key=`).

- `visual_guidance` above 1 needs an adapter (the protocol's rule between the two fields): without
  any adapter its `maximum` is 1, otherwise an `anyOf` of the two ways to satisfy it.
- The result's `X-Expotion-Metadata` header (present when the result JSON fits, api/routes.py).

What a schema cannot say — a file part that is not a movie FFmpeg can read, a range outside the
clip, `end <= start`, `duration` unequal to `end - start` — is answered 422 (docs/http-api.md).
The document is built on every request: it reflects the adapters present now.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from expotion_protocol.params import GUIDANCE_OFF

from .contract import model_entries
from .schemas import JobParams

JSON = dict[str, Any]
REF = "#/components/schemas/{model}"
#: Routes reading `read_job_form`, and the name of their `params` schema.
FORM_ROUTES = {"/v1/jobs": "JobParams", "/v1/analyze": "AnalyzeParams"}

VIDEO_PART: JSON = {
    "type": "string",
    "format": "binary",
    "description": "the movie clip: any file FFmpeg can read as video (omit in path mode)",
}
MELODY_PART: JSON = {
    "type": "string",
    "format": "binary",
    "description": "the temp track whose melody the music follows (WAV, FLAC, OGG, MP3, AIFF); melody models only",
}
FILE_PART: JSON = {"type": "string", "format": "binary", "description": "the whole file, in one request"}
PURPOSE_PART: JSON = {
    "type": "string",
    "enum": ["control", "reference", "speaker_reference"],
    "default": "control",
    "description": "what the file is for; only `control` files (videos) are scored",
}

#: The ways a token may be sent when the service has one (api/security.py accepts each).
SECURITY_SCHEMES: JSON = {
    "bearer": {"type": "http", "scheme": "bearer"},
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "api_key"},
}


def require_adapter_for_visual_guidance(params: JSON) -> None:
    """`visual_guidance` > 1 only with an adapter (`JobParams.validate` in the protocol): a `maximum`
    of 1 where `adapter` can only be null, else an `anyOf` (guidance off, or a non-empty adapter)."""
    adapter = params["properties"]["adapter"]
    if adapter.get("enum") == [None]:
        params["properties"]["visual_guidance"]["maximum"] = GUIDANCE_OFF
        return
    params["anyOf"] = [
        {"properties": {"visual_guidance": {"maximum": GUIDANCE_OFF}}},
        {"required": ["adapter"], "properties": {"adapter": {"type": "string", "minLength": 1}}},
    ]


def melody_params(params: JSON, melody: bool, path_mode: bool) -> None:
    """`melody_path` null where it cannot be used (no melody here, or path mode off); `melody_start`
    at most 0 where no melody can be sent at all."""
    properties = params["properties"]
    if not (melody and path_mode):
        properties["melody_path"] = {
            "type": "null",
            "default": None,
            "title": "Melody Path",
            "description": "no path-mode melody on this service" if melody else "takes no melody",
        }
    if not melody:
        properties["melody_start"] = {**properties["melody_start"], "maximum": 0}


def melody_rule(path_mode: bool) -> JSON:
    """The form's melody rule: the `melody` part (no `params.melody_path`), or `params.melody_path`
    (path mode, no `melody` part), or neither with `melody_start` at most 0."""

    def params(**properties: JSON) -> JSON:
        return {"properties": {"params": {"properties": properties}}}

    no_part: JSON = {"not": {"required": ["melody"]}}
    branches: list[JSON] = [
        {"required": ["melody"], **params(melody_path={"type": "null"})},
        {**no_part, **params(melody_path={"type": "null"}, melody_start={"maximum": 0})},
    ]
    if path_mode:
        by_path = params(melody_path={"type": "string"})
        by_path["properties"]["params"]["required"] = ["melody_path"]
        branches.append({**no_part, **by_path})
    return {"anyOf": branches}


def params_schemas(name: str, adapter: JSON, path_mode: bool, melody: bool = False) -> dict[str, JSON]:
    """Component schemas of a `params` part: `<name>` (as the service validates it, `adapter` as
    given, the melody fields as `melody` allows) and, in path mode, `<name>Upload` / `<name>Path`
    (the two branches of the form); the schemas of list items (`HitPoint`) beside them."""
    base = JobParams.model_json_schema(ref_template=REF)
    items = base.pop("$defs", {})
    base["title"] = name
    base["properties"]["adapter"] = adapter
    require_adapter_for_visual_guidance(base)
    melody_params(base, melody, path_mode)
    if not path_mode:
        base["properties"]["path"] = {
            "type": "null",
            "default": None,
            "title": "Path",
            "description": "path mode is off on this service",
        }
        return {name: base, **items}
    upload = copy.deepcopy(base)
    upload["title"] = f"{name}Upload"
    upload["properties"]["path"] = {"type": "null", "default": None, "title": "Path"}
    by_path = copy.deepcopy(base)
    by_path["title"] = f"{name}Path"
    by_path["properties"]["path"] = {
        "type": "string",
        "minLength": 1,
        "maxLength": 4096,
        "title": "Path",
        "description": "a file under the service's media root",
    }
    by_path["required"] = ["path"]
    return {name: base, f"{name}Upload": upload, f"{name}Path": by_path, **items}


def adapter_choice(adapters: list[str]) -> JSON:
    """`adapter` of a job: one of this instance's adapters, or null."""
    return {
        "enum": [*adapters, None],
        "default": None,
        "title": "Adapter",
        "description": "an adapter of GET /v1/models (null: the base model)",
    }


#: `adapter` of an analysis: read and checked for its type only (an analysis uses no model).
ANY_ADAPTER: JSON = {
    "anyOf": [{"type": "string", "maxLength": 200}, {"type": "null"}],
    "default": None,
    "title": "Adapter",
    "description": "ignored by an analysis",
}


def job_form_body(name: str, path_mode: bool, melody: bool = False) -> JSON:
    """The `requestBody` of `POST /v1/jobs` and `/v1/analyze` (`params` described by `<name>`; with
    `melody`, the optional `melody` part and its rule)."""
    schema: JSON = {"type": "object", "properties": {"video": VIDEO_PART, "params": {"$ref": REF.format(model=name)}}}
    if melody:
        schema["properties"]["melody"] = MELODY_PART
        schema["allOf"] = [melody_rule(path_mode)]
    if path_mode:
        schema["oneOf"] = [
            {"required": ["video"], "properties": {"params": {"$ref": REF.format(model=f"{name}Upload")}}},
            {
                "required": ["params"],
                "properties": {"params": {"$ref": REF.format(model=f"{name}Path")}},
                "not": {"required": ["video"]},
            },
        ]
    else:
        schema["required"] = ["video"]
    return {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": schema, "encoding": {"params": {"contentType": "application/json"}}}
        },
    }


def files_form_body() -> JSON:
    """The `requestBody` of the contract's `POST /v1/files`."""
    schema = {"type": "object", "required": ["file"], "properties": {"file": FILE_PART, "purpose": PURPOSE_PART}}
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


def _operation_id(doc: JSON, path: str, method: str) -> str:
    return doc["paths"][path][method]["operationId"]


def _link(doc: JSON, path: str, method: str, **parameters: str) -> JSON:
    return {"operationId": _operation_id(doc, path, method), "parameters": parameters}


def add_links(doc: JSON) -> None:
    """Links from created jobs and files to the operations that read them."""
    job = "$response.body#/id"
    paths = doc["paths"]
    job_links = {
        "GetJob": _link(doc, "/v1/jobs/{job_id}", "get", job_id=job),
        "JobEvents": _link(doc, "/v1/jobs/{job_id}/events", "get", job_id=job),
        "JobResult": _link(doc, "/v1/jobs/{job_id}/result", "get", job_id=job),
        "JobMetadata": _link(doc, "/v1/jobs/{job_id}/metadata", "get", job_id=job),
    }
    paths["/v1/jobs"]["post"]["responses"]["202"]["links"] = job_links
    if "/v1/videos" in paths:
        paths["/v1/videos"]["post"]["responses"]["202"]["links"] = {"GetJob": job_links["GetJob"]}
        paths["/v1/jobs/{job_id}"]["get"]["responses"]["200"]["links"] = {
            "GetMovie": _link(doc, "/v1/files/{file_id}", "get", file_id="$response.body#/file_id")
        }
        paths["/v1/files"]["post"]["responses"]["201"]["links"] = {
            "GetFile": _link(doc, "/v1/files/{file_id}", "get", file_id="$response.body#/file_id"),
            "ScoreFile": {
                "operationId": _operation_id(doc, "/v1/videos", "post"),
                "requestBody": {"control_file_id": "$response.body#/file_id"},
            },
        }


def build_openapi(app: FastAPI) -> JSON:
    """The document for this app's settings and adapters (see the module docstring)."""
    settings, service = app.state.settings, app.state.service
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    path_mode = settings.media_root is not None
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    # a model that may take a melody (None: not known before it loads) has the melody in its jobs' form
    melody = service.holder.takes_melody is not False
    schemas.update(params_schemas("JobParams", adapter_choice(sorted(service.adapters())), path_mode, melody))
    schemas.update(params_schemas("AnalyzeParams", ANY_ADAPTER, path_mode))
    for path, name in FORM_ROUTES.items():
        doc["paths"][path]["post"]["requestBody"] = job_form_body(name, path_mode, melody and path == "/v1/jobs")
    if "/v1/files" in doc["paths"]:
        doc["paths"]["/v1/files"]["post"]["requestBody"] = files_form_body()
        model_ids = [entry["id"] for entry in model_entries(service)]
        schemas["VideoRequest"]["properties"]["model"] = {
            "type": "string",
            "enum": model_ids,
            "title": "Model",
            "description": "an id from `data` of GET /v1/models",
        }
    add_links(doc)
    if settings.token:
        doc["components"]["securitySchemes"] = SECURITY_SCHEMES
        doc["security"] = [{name: []} for name in SECURITY_SCHEMES]
    return doc


def install_openapi(app: FastAPI) -> None:
    """Serve `build_openapi(app)` at /openapi.json (built per request, see the module docstring)."""
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
