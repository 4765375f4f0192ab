"""The one error shape of the HTTP API: `{detail, hint, error_id}` with the right status code.

Domain errors (`ExpotionError` subclasses) map to statuses by type; request validation and
Starlette's HTTP errors get the same shape; any other exception becomes a 500 whose error id is
logged with the traceback. Every error is logged once with its error id. Every 401 carries the
`WWW-Authenticate: Bearer` challenge (RFC 9110 section 15.5.2, RFC 6750); every 405 an `Allow` with
every method the path has (Starlette names only those of the first route matching the path).
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Route

from ..audio import OutputError
from ..errors import Cancelled, ConfigError, ExpotionError, ModelFileError, ModelLoadError, ProtocolError, VideoError
from ..jobs.errors import IdempotencyKeyReused, InputRejected, JobNotFinished, JobNotFound, QueueFull
from ..jobs.records import new_error_id

logger = logging.getLogger(__name__)

#: Status of each domain error (first match wins; subclasses before their bases).
STATUS: tuple[tuple[type[ExpotionError], int], ...] = (
    (QueueFull, 429),
    (IdempotencyKeyReused, 422),
    (JobNotFound, 404),
    (JobNotFinished, 409),
    (Cancelled, 409),
    (InputRejected, 400),
    (VideoError, 422),
    (ConfigError, 422),
    (ProtocolError, 422),
    (ModelFileError, 503),
    (ModelLoadError, 503),
    (OutputError, 507),
)

#: The challenge of every 401: this service authenticates with a bearer token.
BEARER_CHALLENGE = 'Bearer realm="expotion"'

_HINTS = {
    400: "Check the request against docs/http-api.md.",
    401: "Send the header `Authorization: Bearer <token>` with the token the service was started with.",
    403: "Use the service from this machine (a loopback address), not from a web page.",
    404: "Check the URL and the job id.",
    405: "Check the HTTP method against docs/http-api.md.",
    413: "Send a smaller file (the limit is set by --max-upload-mb), or use path mode (--media-root).",
    415: "Send the request as multipart/form-data.",
    422: "Fix the named field and try again.",
}


class ApiError(HTTPException):
    """An HTTP error raised by the API layer itself, with a hint (passes through body parsing)."""

    def __init__(self, status_code: int, detail: str, hint: str = "", headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status_code, detail=detail, headers=headers)
        self.hint = hint or _HINTS.get(status_code, "")


def error_response(status: int, detail: str, hint: str, headers: dict[str, str] | None = None) -> JSONResponse:
    error_id = new_error_id()
    if status == 401 and not any(k.lower() == "www-authenticate" for k in headers or {}):
        headers = {**(headers or {}), "WWW-Authenticate": BEARER_CHALLENGE}
    log = logger.error if status >= 500 else logger.info
    log("HTTP %d [%s]: %s", status, error_id, detail)
    return JSONResponse({"detail": detail, "hint": hint, "error_id": error_id}, status_code=status, headers=headers)


def status_of(exc: ExpotionError) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 500)


async def _expotion(request: Request, exc: ExpotionError) -> JSONResponse:
    retry_after = getattr(exc, "retry_after_s", None)
    headers = None if retry_after is None else {"Retry-After": str(retry_after)}
    return error_response(status_of(exc), exc.message, exc.hint, headers)


def allowed_methods(request: Request) -> str:
    """The methods of every route of the app whose path matches the request's (for `Allow`)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods and route.path_regex.match(request.url.path):
            methods |= route.methods
    return ", ".join(sorted(methods))


async def _http(request: Request, exc: HTTPException) -> JSONResponse:
    hint = getattr(exc, "hint", "") or _HINTS.get(exc.status_code, "")
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": allowed_methods(request)}
    return error_response(exc.status_code, str(exc.detail), hint, headers)


def _describe(errors: list[dict]) -> str:
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    return error_response(422, _describe(json.loads(json.dumps(exc.errors(), default=str))), _HINTS[422])


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The HTTP layer's catch-all (Starlette calls it only for exceptions nothing else handled):
    # answer JSON with an error id and log the traceback under that id.
    error_id = new_error_id()
    logger.error("unexpected error [%s] on %s %s", error_id, request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        {
            "detail": f"internal error ({type(exc).__name__})",
            "hint": f"This is a bug; report error id {error_id} with the service log.",
            "error_id": error_id,
        },
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ExpotionError, _expotion)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
