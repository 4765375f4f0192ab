"""The form of `POST /v1/jobs` and `POST /v1/analyze`, read while the request body streams in.

`read_job_form` parses `multipart/form-data` with python-multipart's push parser: the `params` text
field is collected (at most 1 MiB); the `video` file part goes straight into the job service's
upload store, hashed on the way (jobs/uploads.py) — the upload is written to disk once, with no
spooled temporary copy in between. Parsing and writing run in a worker thread on batches of about
1 MiB, so the event loop only moves bytes. Whatever goes wrong — a malformed body, the body size
limit, a client that goes away, a full disk (507) — the partial upload is removed before the error
propagates. `application/x-www-form-urlencoded` (params only) is read with Starlette's parser; any
other content type is an empty form (as FastAPI's form handling treats it).
"""

from __future__ import annotations

import codecs
import logging
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.requests import ClientDisconnect, Request

try:
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import MultipartParser, parse_options_header
except ModuleNotFoundError:  # python-multipart < 0.0.13 (pyproject allows >= 0.0.9) names its module `multipart`
    from multipart.exceptions import FormParserError  # type: ignore[no-redef]
    from multipart.multipart import MultipartParser, parse_options_header  # type: ignore[no-redef]

from ..errors import ConfigError
from ..jobs.errors import InputRejected
from ..jobs.uploads import StoredUpload, UploadStore, UploadWriter
from .errors import ApiError

logger = logging.getLogger(__name__)

#: Bytes handed to the parser thread at once.
BATCH = 1 << 20
#: Largest `params` field (it is a few hundred bytes; Starlette's limit for fields is the same).
MAX_FIELD = 1 << 20

_VIDEO_DESCRIPTION = "the movie clip (omit in path mode)"
_PARAMS_DESCRIPTION = "JSON object of job parameters (see JobParams)"


def form_body(title: str) -> dict[str, Any]:
    """The OpenAPI `requestBody` of a route reading its form with `read_job_form` (the same schema
    FastAPI generated when the form was declared with `Form`/`File`)."""
    schema = {"title": title, "type": "object", "properties": {
        "params": {"type": "string", "title": "Params", "description": _PARAMS_DESCRIPTION, "default": "{}"},
        "video": {"anyOf": [{"type": "string", "contentMediaType": "application/octet-stream"}, {"type": "null"}],
                  "title": "Video", "description": _VIDEO_DESCRIPTION}}}
    return {"requestBody": {"content": {"multipart/form-data": {"schema": schema}}}}


@dataclass
class JobForm:
    """The parsed form: the `params` JSON text and the stored upload (a reference the caller owns)."""

    params: str = "{}"
    upload: StoredUpload | None = None
    filename: str | None = None

    def release(self, uploads: UploadStore) -> None:
        """Drop the upload's reference (when no job took it over)."""
        if self.upload is not None:
            uploads.release(self.upload.path)
            self.upload = None


class _Parts:
    """Callbacks of the multipart parser: each part's headers pick where its bytes go."""

    def __init__(self, uploads: UploadStore, charset: str) -> None:
        self.uploads = uploads
        self.charset = charset
        self.form = JobForm()
        self.writer: UploadWriter | None = None
        self._headers: dict[bytes, bytes] = {}
        self._name, self._value = b"", b""
        self._params: bytearray | None = None

    def callbacks(self) -> dict[str, Any]:
        return {"on_part_begin": self.on_part_begin, "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value, "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished, "on_part_data": self.on_part_data,
                "on_part_end": self.on_part_end}

    def on_part_begin(self) -> None:
        self._headers, self._params = {}, None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._name.lower()] = self._value
        self._name, self._value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if b"name" not in options:
            raise ApiError(400, 'a form part has no name (Content-Disposition needs name="...")')
        name = options[b"name"].decode(self.charset, "replace")
        filename = options[b"filename"].decode(self.charset, "replace") if b"filename" in options else None
        if name == "video":
            if filename is None:
                raise ConfigError("video: expected a file part (with a filename), got a text field")
            if self.writer is not None or self.form.upload is not None:
                raise InputRejected("the request has more than one `video` part", "Send one video per request.")
            self.writer = self.uploads.writer(filename)
            self.form.filename = filename
        elif name == "params":
            if filename is not None:
                raise ConfigError("params: expected a text field, got a file part")
            self._params = bytearray()
        # other parts are skipped unread

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.writer is not None:
            self.writer.write(data[start:end])
        elif self._params is not None:
            if len(self._params) + end - start > MAX_FIELD:
                raise ApiError(400, f"the params field is larger than {MAX_FIELD // 1024} KiB")
            self._params += data[start:end]

    def on_part_end(self) -> None:
        if self.writer is not None:
            self.form.upload = self.writer.commit()
            self.writer = None
        elif self._params is not None:
            try:
                self.form.params = self._params.decode(self.charset)
            except UnicodeDecodeError as exc:
                raise ConfigError(f"params: not {self.charset} text ({exc.reason})") from exc

    def finish(self) -> JobForm:
        if self.writer is not None:
            raise ApiError(400, "the request body ended inside the `video` part: the upload is incomplete",
                           "Send the whole file; the connection may have been cut.")
        return self.form

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
            self.writer = None
        self.form.release(self.uploads)


def _charset(raw: bytes) -> str:
    try:
        return codecs.lookup(raw.decode("latin-1")).name
    except LookupError:
        return "utf-8"


def _feed(parser: MultipartParser, chunks: list[bytes]) -> None:
    parser.write(b"".join(chunks))


async def read_job_form(request: Request, uploads: UploadStore) -> JobForm:
    """The request's form; the upload (if any) is stored with one reference the caller must release."""
    ctype, options = parse_options_header(request.headers.get("content-type"))
    if ctype == b"application/x-www-form-urlencoded":
        form = await request.form()
        params = form.get("params")
        return JobForm(params=params if isinstance(params, str) else "{}")
    if ctype != b"multipart/form-data":
        return JobForm()
    boundary = options.get(b"boundary")
    if not boundary:
        raise ApiError(400, "the multipart Content-Type has no boundary", "Send the request as multipart/form-data.")
    parts = _Parts(uploads, _charset(options.get(b"charset", b"utf-8")))
    parser = MultipartParser(boundary, parts.callbacks())
    try:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            chunks.append(chunk)
            size += len(chunk)
            if size >= BATCH:
                await anyio.to_thread.run_sync(_feed, parser, chunks)
                chunks, size = [], 0
        if chunks:
            await anyio.to_thread.run_sync(_feed, parser, chunks)
        return parts.finish()
    except FormParserError as exc:
        parts.abort()
        raise ApiError(400, f"the multipart body is malformed: {exc}",
                       "Send the request as multipart/form-data.") from exc
    except ClientDisconnect as exc:
        parts.abort()
        raise ApiError(400, "the client closed the connection before the request body was complete") from exc
    except BaseException:
        parts.abort()
        raise
