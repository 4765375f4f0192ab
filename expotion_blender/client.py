"""HTTP client of the Expotion generator service (urllib, standard library only).

Owns: requests to the v1 API, the mapping of HTTP/transport failures to errors that carry a hint,
job waiting (polling) and server-sent events. Imports no `bpy`; blocking calls, so in Blender it is
used only from the one worker thread (or synchronously in background mode).
Loopback URLs bypass any HTTP proxy configured in the environment.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from expotion_protocol.errors import ExpotionError, ProtocolError
from expotion_protocol.hosts import is_loopback_url as is_loopback
from expotion_protocol.params import JobParams
from expotion_protocol.shapes import API_PREFIX, SAMPLE_RATE, ErrorBody, Health, JobResult, JobStatus, Models
from expotion_protocol.wire import job_form, parse_sse, read_wav_info

log = logging.getLogger(__name__)
SERVE_HINT = "Start it with `python -m generator_service serve` or fix the service URL in the add-on preferences."


class ServiceError(ExpotionError):
    """The service answered with an error, or could not be reached."""

    def __init__(self, message: str, hint: str | None = None, status: int = 0, error_id: str = "") -> None:
        super().__init__(message, hint)
        self.status = status
        self.error_id = error_id


class ServiceUnavailable(ServiceError, ConnectionError):
    hint = SERVE_HINT


class AuthError(ServiceError, PermissionError):
    hint = "Set the service token in Preferences > Add-ons > Expotion (the service prints it at start)."


class QueueFull(ServiceError):
    hint = "Wait for running jobs to finish or cancel some."


class JobFailed(ServiceError):
    """A job ended as failed (the service's error and hint) or cancelled."""


class JobTimeout(ServiceError, TimeoutError):
    hint = "Raise the job timeout in the add-on preferences, or use a shorter strip."


@dataclass(frozen=True)
class ClientSettings:
    """Everything needed to talk to the service; plain data, safe to hand to another thread."""

    base_url: str = "http://127.0.0.1:8765"
    token: str = ""
    timeout_s: float = 10.0
    job_timeout_s: float = 3600.0
    poll_interval_s: float = 0.5


class Client:
    """One service endpoint. Every method raises a `ServiceError` subclass on failure."""

    def __init__(self, settings: ClientSettings) -> None:
        parts = urllib.parse.urlsplit(settings.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ServiceError(f"service URL '{settings.base_url}' is not an http(s) URL", SERVE_HINT)
        self.settings = settings
        self.base = settings.base_url.rstrip("/") + API_PREFIX
        handlers: list[urllib.request.BaseHandler] = []
        if is_loopback(settings.base_url):
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    # -- transport ---------------------------------------------------------------------------
    def _request(
        self, method: str, path: str, body: bytes | None = None, ctype: str | None = None, timeout: float | None = None
    ) -> Any:
        req = urllib.request.Request(self.base + path, data=body, method=method)
        if ctype:
            req.add_header("Content-Type", ctype)
        if self.settings.token:
            req.add_header("Authorization", f"Bearer {self.settings.token}")
        try:
            return self._opener.open(req, timeout=timeout or self.settings.timeout_s)
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServiceUnavailable(
                f"cannot reach the Expotion service at {self.settings.base_url}: {reason}"
            ) from exc

    def _http_error(self, exc: urllib.error.HTTPError) -> ServiceError:
        body = ErrorBody.parse(exc.code, exc.read() or b"")
        kind: type[ServiceError] = ServiceError
        if exc.code in (401, 403):
            kind = AuthError
        elif exc.code == 429:
            kind = QueueFull
        elif exc.code >= 500:
            kind = ServiceError
        return kind(body.detail, body.hint or None, status=exc.code, error_id=body.error_id)

    def _json(
        self, method: str, path: str, body: bytes | None = None, ctype: str | None = None, timeout: float | None = None
    ) -> Any:
        with self._request(method, path, body, ctype, timeout) as resp:
            raw = resp.read()
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProtocolError(f"{method} {path}: response is not JSON") from exc

    # -- endpoints ---------------------------------------------------------------------------
    def health(self) -> Health:
        return Health.from_json(self._json("GET", "/health"))

    def models(self) -> Models:
        return Models.from_json(self._json("GET", "/models"))

    def submit(self, params: JobParams, video_path: str | None = None, melody_path: str | None = None) -> str:
        """`POST /v1/jobs`; returns the job id. `melody_path`: a temp track uploaded as the melody
        the music follows (or name it in `params.melody_path`, path mode)."""
        form = job_form(params, video_path, melody_path)
        data = self._json("POST", "/jobs", form.body(), form.content_type)
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise ProtocolError("POST /jobs: response has no job id")
        return data["id"]

    def analyze(self, params: JobParams, video_path: str | None = None) -> dict[str, Any]:
        """`POST /v1/analyze`; the analysis JSON (`suggested_prompt`, coverage, tempo...). The service
        reads the whole range before it answers (seconds per minute of video, more on a busy
        machine), so the wait is the job timeout, not the request timeout."""
        form = job_form(params, video_path)
        data = self._json("POST", "/analyze", form.body(), form.content_type, self.settings.job_timeout_s)
        if not isinstance(data, dict):
            raise ProtocolError("POST /analyze: response is not an object")
        return data

    def status(self, job_id: str) -> JobStatus:
        return JobStatus.from_json(self._json("GET", f"/jobs/{urllib.parse.quote(job_id)}"))

    def cancel(self, job_id: str) -> None:
        """Server-side cancel (`DELETE /v1/jobs/{id}`); a job already finished is not an error."""
        try:
            self._json("DELETE", f"/jobs/{urllib.parse.quote(job_id)}")
        except ServiceError as exc:
            if exc.status not in (404, 409):
                raise

    def events(self, job_id: str) -> Iterator[JobStatus]:
        """Server-sent events of a job until its `done` event (blocks between events)."""
        timeout = self.settings.job_timeout_s
        with self._request("GET", f"/jobs/{urllib.parse.quote(job_id)}/events", timeout=timeout) as resp:
            lines = (raw.decode("utf-8") for raw in resp)
            for event, data in parse_sse(lines):
                status = JobStatus.from_json(json.loads(data))
                yield status
                if event == "done" or status.finished:
                    return

    def download(self, job_id: str, take: int, dest_path: str) -> None:
        """Write take `take` of a finished job to `dest_path` (atomically) and check it is a WAV."""
        path = f"/jobs/{urllib.parse.quote(job_id)}/result?take={int(take)}"
        tmp = dest_path + ".part"
        os.makedirs(os.path.dirname(os.path.abspath(dest_path)), exist_ok=True)
        with self._request("GET", path) as resp, open(tmp, "wb") as out:
            shutil.copyfileobj(resp, out)
        info = read_wav_info(tmp)
        if info.sample_rate != SAMPLE_RATE:
            os.remove(tmp)
            raise ProtocolError(f"take {take} of {job_id} is {info.sample_rate} Hz, expected {SAMPLE_RATE}")
        os.replace(tmp, dest_path)

    # -- waiting -----------------------------------------------------------------------------
    def wait(
        self,
        job_id: str,
        on_status: Callable[[JobStatus], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> JobResult:
        """Poll until the job finishes; returns its result or raises `JobFailed`/`JobTimeout`.

        `should_cancel()` is checked between polls; when it turns true the job is cancelled on the
        server and `JobFailed` (status "cancelled") is raised.
        """
        deadline = time.monotonic() + self.settings.job_timeout_s
        while True:
            if should_cancel is not None and should_cancel():
                self.cancel(job_id)
                raise JobFailed(f"job {job_id} was cancelled", "")
            status = self.status(job_id)
            if on_status is not None:
                on_status(status)
            if status.finished:
                return finished_result(status)
            if time.monotonic() > deadline:
                self.cancel(job_id)
                raise JobTimeout(f"job {job_id} did not finish within {self.settings.job_timeout_s:.0f} s")
            time.sleep(self.settings.poll_interval_s)


def finished_result(status: JobStatus) -> JobResult:
    """The result of a finished job, or `JobFailed` carrying the service's error and hint."""
    if status.status == "succeeded":
        if status.outcome is None:
            raise ProtocolError(f"job {status.id} succeeded without a result")
        return status.outcome
    if status.status == "cancelled":
        raise JobFailed(f"job {status.id} was cancelled", "")
    raise JobFailed(f"job {status.id} failed: {status.error or 'no reason given'}", status.hint or None)
