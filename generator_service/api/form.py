"""Multipart forms read while the request body streams in: `POST /v1/jobs`, `POST /v1/analyze`
(a `video` file part, an optional `melody` file part + a `params` text part) and the contract's
`POST /v1/files` (a `file` part + `purpose`).

`read_job_form` parses `multipart/form-data` with python-multipart's push parser: the named text
fields are collected (at most 1 MiB each); each named file part (at most one per name) goes straight
into the job service's upload store, hashed on the way (jobs/uploads.py) — the upload is written to disk once, with no
spooled temporary copy in between. Parsing and writing run in a worker thread on batches of about
1 MiB, so the event loop only moves bytes. Whatever goes wrong — a malformed body, the body size
limit, a client that goes away, a full disk (507) — the partial upload and any upload of the same
request already stored are removed before the error propagates. `application/x-www-form-urlencoded` (text fields only) is read with Starlette's parser;
any other content type is an empty form (as FastAPI's form handling treats it). Parts with other
names are skipped unread. The OpenAPI description of these forms is in api/openapi.py.
"""

from __future__ import annotations

import codecs
import logging
from dataclasses import dataclass, field
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
from .upload_gate import UploadGate

logger = logging.getLogger(__name__)

#: Bytes handed to the parser thread at once.
BATCH = 1 << 20
#: Largest text field (`params` is a few hundred bytes; Starlette's limit for fields is the same).
MAX_FIELD = 1 << 20


@dataclass(frozen=True)
class FilePart:
    """One stored file part: the upload (a reference the form's owner holds) and the client's file name."""

    upload: StoredUpload
    filename: str


@dataclass
class JobForm:
    """The parsed form: its text fields and its stored file parts by name (references the caller
    owns); `upload` / `filename` are those of the first file field asked for (`video`, `file`)."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, FilePart] = field(default_factory=dict)
    primary: str = "video"

    @property
    def params(self) -> str:
        """The `params` JSON text of a job or analyze form ("{}" when absent)."""
        return self.fields.get("params", "{}")

    @property
    def upload(self) -> StoredUpload | None:
        part = self.files.get(self.primary)
        return None if part is None else part.upload

    @property
    def filename(self) -> str | None:
        part = self.files.get(self.primary)
        return None if part is None else part.filename

    def part(self, name: str) -> FilePart | None:
        return self.files.get(name)

    def release(self, uploads: UploadStore) -> None:
        """Drop the uploads' references (when no job took them over)."""
        for part in self.files.values():
            uploads.release(part.upload.path)
        self.files.clear()


class _Parts:
    """Callbacks of the multipart parser: each part's headers pick where its bytes go."""

    def __init__(
        self, uploads: UploadStore, charset: str, file_fields: tuple[str, ...], text_fields: tuple[str, ...]
    ) -> None:
        self.uploads = uploads
        self.charset = charset
        self.file_fields = file_fields
        self.text_fields = text_fields
        self.form = JobForm(primary=file_fields[0])
        self.writer: UploadWriter | None = None
        #: The name and file name of the part being written.
        self._writing: tuple[str, str] = ("", "")
        self._headers: dict[bytes, bytes] = {}
        self._name, self._value = b"", b""
        self._text: tuple[str, bytearray] | None = None

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self._headers, self._text = {}, None

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
        if name in self.file_fields:
            if filename is None:
                raise ConfigError(f"{name}: expected a file part (with a filename), got a text field")
            if self.writer is not None or name in self.form.files:
                raise InputRejected(
                    f"the request has more than one `{name}` part", f"Send one `{name}` file per request."
                )
            self.writer = self.uploads.writer(filename)
            self._writing = (name, filename)
        elif name in self.text_fields:
            if filename is not None:
                raise ConfigError(f"{name}: expected a text field, got a file part")
            self._text = (name, bytearray())
        # other parts are skipped unread

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.writer is not None:
            self.writer.write(data[start:end])
        elif self._text is not None:
            name, value = self._text
            if len(value) + end - start > MAX_FIELD:
                raise ApiError(400, f"the {name} field is larger than {MAX_FIELD // 1024} KiB")
            value += data[start:end]

    def on_part_end(self) -> None:
        if self.writer is not None:
            name, filename = self._writing
            self.form.files[name] = FilePart(self.writer.commit(), filename)
            self.writer = None
        elif self._text is not None:
            name, value = self._text
            try:
                self.form.fields[name] = value.decode(self.charset)
            except UnicodeDecodeError as exc:
                raise ConfigError(f"{name}: not {self.charset} text ({exc.reason})") from exc
            self._text = None

    def finish(self) -> JobForm:
        if self.writer is not None:
            raise ApiError(
                400,
                f"the request body ended inside the `{self._writing[0]}` part: the upload is incomplete",
                "Send the whole file; the connection may have been cut.",
            )
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


#: The file parts of a job or analyze form: the video, and the melody temp a job may follow.
JOB_FILES = ("video", "melody")


async def read_job_form(
    request: Request,
    uploads: UploadStore,
    *,
    file_fields: tuple[str, ...] = JOB_FILES,
    text_fields: tuple[str, ...] = ("params",),
) -> JobForm:
    """The request's form; each upload is stored with one reference the caller must release
    (`JobForm.release`). `file_fields[0]` is the form's main file (`JobForm.upload`)."""
    ctype, options = parse_options_header(request.headers.get("content-type"))
    if ctype == b"application/x-www-form-urlencoded":
        form = await request.form()
        fields = {name: value for name in text_fields if isinstance(value := form.get(name), str)}
        return JobForm(fields, primary=file_fields[0])
    if ctype != b"multipart/form-data":
        return JobForm(primary=file_fields[0])
    boundary = options.get(b"boundary")
    if not boundary:
        raise ApiError(400, "the multipart Content-Type has no boundary", "Send the request as multipart/form-data.")
    gate: UploadGate = request.app.state.upload_gate
    with gate.slot():
        return await _read_multipart(request, uploads, gate, boundary, options, file_fields, text_fields)


async def _read_multipart(
    request: Request,
    uploads: UploadStore,
    gate: UploadGate,
    boundary: bytes,
    options: dict[bytes, bytes],
    file_fields: tuple[str, ...],
    text_fields: tuple[str, ...],
) -> JobForm:
    parts = _Parts(uploads, _charset(options.get(b"charset", b"utf-8")), file_fields, text_fields)
    parser = MultipartParser(boundary, parts.callbacks())
    body = request.stream().__aiter__()
    try:
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                with anyio.fail_after(gate.read_timeout_s):
                    chunk = await body.__anext__()
            except StopAsyncIteration:
                break
            except TimeoutError as exc:
                raise gate.stalled() from exc
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
        raise ApiError(
            400, f"the multipart body is malformed: {exc}", "Send the request as multipart/form-data."
        ) from exc
    except ClientDisconnect as exc:
        parts.abort()
        raise ApiError(400, "the client closed the connection before the request body was complete") from exc
    except BaseException:
        parts.abort()
        raise
