"""Data shapes of the Expotion HTTP API v1 (docs/http-api.md) and their wire encodings.

Owns: the request/response records, their JSON (de)serialisation with field-naming errors, the
multipart/form-data encoder, the server-sent-events parser and the WAV header check.
Imports no `bpy` and does no I/O beyond reading a file it is handed: testable anywhere.
"""

from __future__ import annotations

import dataclasses
import json
import mimetypes
import os
import uuid
import wave
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

API_PREFIX = "/v1"
SAMPLE_RATE = 32000
MAX_TAKES = 4
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
JOB_STATUSES = frozenset({"queued", "running"}) | TERMINAL_STATUSES


class ExpotionError(Exception):
    """Base of every error the extension raises on purpose; `hint` says what to do about it."""

    hint: str = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def user_text(self) -> str:
        """Message and hint as one line for a Blender report."""
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ProtocolError(ExpotionError, ValueError):
    """A request is invalid before sending, or a response does not match the contract."""

    hint = "The extension and the service may be different versions; update both."


def expected_samples(duration_s: float) -> int:
    """Number of samples the service returns for `duration_s` seconds: round(d * 32000)."""
    return round(duration_s * SAMPLE_RATE)


@dataclass
class JobParams:
    """The `params` JSON of `POST /v1/jobs` and `POST /v1/analyze`. Times are source seconds."""

    prompt: str = ""
    auto_prompt: bool = False
    start: float = 0.0
    end: float | None = None
    duration: float | None = None
    seed: int = 0
    variants: int = 1
    top_k: int = 250
    temperature: float = 1.0
    guidance: float = 3.0
    #: Guidance on the visual condition (needs an adapter); 1 = off, and then it is not sent, so
    #: services from before the field still accept the request.
    visual_guidance: float = 1.0
    adapter: str | None = None
    path: str | None = None

    def validate(self) -> None:
        """Raise `ProtocolError` naming the first bad field."""
        if not 1 <= self.variants <= MAX_TAKES:
            raise ProtocolError(f"variants {self.variants} is outside 1..{MAX_TAKES}", "Choose 1 to 4 takes.")
        if self.start < 0:
            raise ProtocolError(f"start {self.start} s is negative", "The visible range must start inside the clip.")
        if self.duration is not None and self.duration <= 0:
            raise ProtocolError(f"duration {self.duration} s is not positive", "The strip must be at least one frame long.")
        if self.end is not None and self.end <= self.start:
            raise ProtocolError(f"end {self.end} s is not after start {self.start} s")
        if self.guidance < 0:
            raise ProtocolError(f"guidance {self.guidance} is negative", "Use a guidance of 0 or more (3 is typical).")
        if not 0 <= self.visual_guidance <= 50:
            raise ProtocolError(f"visual guidance {self.visual_guidance} is outside 0..50", "1 is off; 2-4 is typical.")
        if self.visual_guidance > 1 and not self.adapter:
            raise ProtocolError("visual guidance needs an adapter (the base model does not see the video)",
                                "Pick an adapter, or set Visual Guidance to 1.")
        if not 0 <= self.seed < 2**31:
            raise ProtocolError(f"seed {self.seed} is outside 0..2^31-1")
        if self.top_k < 1 or self.temperature <= 0:
            raise ProtocolError(f"top_k {self.top_k} / temperature {self.temperature} must be positive")

    def to_json(self) -> str:
        self.validate()
        data = dataclasses.asdict(self)
        if self.visual_guidance <= 1:
            del data["visual_guidance"]
        return json.dumps(data)


def _require(data: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(data, dict) or key not in data:
        raise ProtocolError(f"{where}: missing field '{key}'")
    value = data[key]
    if not isinstance(value, kind):
        raise ProtocolError(f"{where}: field '{key}' is {type(value).__name__}, expected {kind}")
    return value


@dataclass(frozen=True)
class Health:
    """`GET /v1/health`."""

    status: str
    version: str
    device: str = ""
    model: str = ""
    model_loaded: bool = False
    untrained: bool = False
    queue_depth: int = 0
    queue_limit: int = 0
    path_mode: bool = False
    #: A job can run now (services from before the field: True unless the worker is degraded).
    ready: bool = True
    #: The model's weights are on the service's machine (False: the first job downloads them).
    model_available: bool = True
    #: What to do while not ready, or what the first job will do; empty otherwise.
    hint: str = ""
    #: Numeric precision the service generates in (services that report it), e.g. "bf16".
    precision: str = ""

    @classmethod
    def from_json(cls, data: Any) -> Health:
        status = _require(data, "status", str, "health")
        return cls(
            status=status,
            version=_require(data, "version", str, "health"),
            device=str(data.get("device", "")),
            model=str(data.get("model", "")),
            model_loaded=bool(data.get("model_loaded", False)),
            untrained=bool(data.get("untrained", False)),
            queue_depth=int(data.get("queue_depth", 0)),
            queue_limit=int(data.get("queue_limit", 0)),
            path_mode=bool(data.get("path_mode", False)),
            ready=bool(data.get("ready", status == "ok")),
            model_available=bool(data.get("model_available", True)),
            hint=str(data.get("hint") or ""),
            precision=str(data.get("precision") or ""),
        )

    def refusal(self) -> str:
        """Why no job can succeed now (empty when one can)."""
        if self.ready:
            return ""
        return f"The Expotion service is not ready: {self.hint or self.status}"


@dataclass(frozen=True)
class Models:
    """`GET /v1/models`: the base model and the adapters the service can load."""

    base_model: str
    adapters: tuple[str, ...] = ()
    untrained: bool = False
    licence: str = ""

    @classmethod
    def from_json(cls, data: Any) -> Models:
        adapters = _require(data, "adapters", list, "models")
        names = tuple(str(_require(a, "name", str, "models.adapters[]")) for a in adapters)
        return cls(
            base_model=_require(data, "base_model", str, "models"),
            adapters=names,
            untrained=bool(data.get("untrained", False)),
            licence=str(data.get("licence", "")),
        )


@dataclass(frozen=True)
class JobResult:
    """The `result` object of a succeeded job (also `X-Expotion-Metadata`)."""

    takes: int
    sample_rate: int
    num_samples: int
    duration_s: float
    seeds: tuple[int, ...]
    prompt_used: str = ""
    model: str = ""
    adapter: str | None = None
    untrained: bool = False
    visual: str = "present"
    cached: bool = False
    version: str = ""
    #: Further scalar facts the service reports (e.g. `precision`, beat-lock fields, `note`).
    details: dict[str, str | int | float | bool] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> JobResult:
        seeds = _require(data, "seeds", list, "result")
        known = {f.name for f in dataclasses.fields(cls)} | {"model", "start", "end", "job_id"}
        details = {str(k): v for k, v in data.items()
                   if k not in known and isinstance(v, (str, int, float, bool)) and v != ""}
        return cls(
            takes=int(_require(data, "takes", int, "result")),
            sample_rate=int(_require(data, "sample_rate", int, "result")),
            num_samples=int(_require(data, "num_samples", int, "result")),
            duration_s=float(_require(data, "duration_s", (int, float), "result")),
            seeds=tuple(int(s) for s in seeds),
            prompt_used=str(data.get("prompt_used") or ""),
            model=str(data.get("model") or ""),
            adapter=data.get("adapter"),
            untrained=bool(data.get("untrained", False)),
            visual=str(data.get("visual") or "present"),
            cached=bool(data.get("cached", False)),
            version=str(data.get("version") or ""),
            details=details,
        )


@dataclass(frozen=True)
class JobStatus:
    """`GET /v1/jobs/{id}` and every `progress`/`done` server-sent event."""

    id: str
    status: str
    phase: str = ""
    progress: float = 0.0
    eta_s: float | None = None
    error: str | None = None
    hint: str | None = None
    result: JobResult | None = None
    #: Phase "download": bytes of the model's files fetched so far / to fetch.
    bytes_done: int | None = None
    bytes_total: int | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_json(cls, data: Any) -> JobStatus:
        status = _require(data, "status", str, "job")
        if status not in JOB_STATUSES:
            raise ProtocolError(f"job: unknown status '{status}'")
        raw_result = data.get("result")
        eta = data.get("eta_s")
        return cls(
            id=_require(data, "id", str, "job"),
            status=status,
            phase=str(data.get("phase") or ""),
            progress=min(1.0, max(0.0, float(data.get("progress") or 0.0))),
            eta_s=float(eta) if isinstance(eta, (int, float)) else None,
            error=data.get("error"),
            hint=data.get("hint"),
            result=JobResult.from_json(raw_result) if raw_result else None,
            bytes_done=_count(data.get("bytes_done")),
            bytes_total=_count(data.get("bytes_total")),
        )


def _count(value: Any) -> int | None:
    """A byte count from JSON (absent, null or not a whole number: None)."""
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


@dataclass(frozen=True)
class ErrorBody:
    """The JSON every 4xx/5xx carries: `{detail, hint, error_id}`."""

    detail: str
    hint: str = ""
    error_id: str = ""

    @classmethod
    def parse(cls, status: int, body: bytes) -> ErrorBody:
        """Best effort: a non-JSON body (a proxy's HTML page) still gives a readable detail."""
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            text = body[:200].decode("utf-8", "replace").strip()
            return cls(detail=f"HTTP {status}: {text or 'no body'}")
        if not isinstance(data, dict):
            return cls(detail=f"HTTP {status}: {data!r}")
        detail = data.get("detail")
        if not isinstance(detail, str):  # FastAPI validation errors carry a list
            detail = json.dumps(detail) if detail is not None else f"HTTP {status}"
        return cls(detail=detail, hint=str(data.get("hint") or ""), error_id=str(data.get("error_id") or ""))


@dataclass
class Multipart:
    """A multipart/form-data body built in memory (proxies are small by construction)."""

    boundary: str = field(default_factory=lambda: "expotion-" + uuid.uuid4().hex)
    parts: list[bytes] = field(default_factory=list)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def add_field(self, name: str, value: str) -> None:
        head = f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        self.parts.append(head.encode("utf-8") + value.encode("utf-8") + b"\r\n")

    def add_file(self, name: str, path: str) -> None:
        filename = os.path.basename(path).replace('"', "_")
        ctype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        head = (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {ctype}\r\n\r\n"
        )
        with open(path, "rb") as fh:
            self.parts.append(head.encode("utf-8") + fh.read() + b"\r\n")

    def body(self) -> bytes:
        return b"".join(self.parts) + f"--{self.boundary}--\r\n".encode("ascii")


def job_form(params: JobParams, video_path: str | None) -> Multipart:
    """The form of `POST /v1/jobs` / `/v1/analyze`: `params` JSON and the `video` part or `params.path`."""
    if (video_path is None) == (params.path is None):
        raise ProtocolError("exactly one of an uploaded video and params.path must be given")
    form = Multipart()
    form.add_field("params", params.to_json())
    if video_path is not None:
        form.add_file("video", video_path)
    return form


def parse_sse(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """Yield `(event, data)` per server-sent event from decoded lines (newlines stripped or not)."""
    event, data = "message", []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    if data:
        yield event, "\n".join(data)


@dataclass(frozen=True)
class WavInfo:
    sample_rate: int
    channels: int
    num_samples: int


def read_wav_info(path: str) -> WavInfo:
    """Header of a PCM WAV; `ProtocolError` if the file is not one."""
    try:
        with wave.open(path, "rb") as wav:
            return WavInfo(wav.getframerate(), wav.getnchannels(), wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ProtocolError(f"{path} is not a PCM WAV file: {exc}") from exc
